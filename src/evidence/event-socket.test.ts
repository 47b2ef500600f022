import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { EslFrameParser } from "../freeswitch/event-socket.js";
import {
  channelEventFrom,
  parseChannelsCount,
  parseEventPlain,
  type ChannelEvent,
} from "../freeswitch/channel-events.js";
import { FreeswitchCallBook } from "./event-socket.js";

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test", "fixtures");
const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));

/** The recorded stream (auth, replies, events) through the real frame parser, in chunks of `chunk` bytes. */
function eventsOf(name: string, chunk = 1000): ChannelEvent[] {
  const raw = fixture(name);
  const parser = new EslFrameParser();
  const out: ChannelEvent[] = [];
  for (let i = 0; i < raw.length; i += chunk) {
    for (const f of parser.push(raw.subarray(i, i + chunk))) {
      const e = channelEventFrom(f);
      if (e) out.push(e);
    }
  }
  return out;
}

for (const [version, tag] of [
  ["1.10.3", "rec-old-"],
  ["1.10.12", "rec-new-"],
] as const) {
  test(`FreeSWITCH ${version}: two calls through Kamailio, every channel event by Call-ID`, () => {
    const events = eventsOf(`freeswitch-${version}-event-socket-channel-events.txt`, 777);
    assert.equal(events.length, 8, "2 calls x CREATE, ANSWER, HANGUP, HANGUP_COMPLETE");
    assert.deepEqual(
      events.filter((e) => e.callId === events[0]!.callId).map((e) => e.name),
      ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"],
    );
    assert.ok(
      events.every((e) => e.callId.startsWith(tag) && e.callId.includes("@127.0.0.1")),
      "Call-IDs are URL-decoded",
    );
    assert.ok(events.every((e) => e.direction === "inbound"));
    assert.ok(events.every((e) => e.switchname === `pbx-cutover-${version === "1.10.3" ? "old" : "new"}`));
    assert.ok(
      events.every((e) => Number.isFinite(e.atMs) && e.atMs > 1.7e12),
      "µs timestamps become ms",
    );

    const book = new FreeswitchCallBook();
    for (const e of events) book.add(e);
    const calls = book.withPrefix(tag);
    assert.equal(calls.length, 2);
    for (const c of calls) {
      assert.equal(c.channels.length, 1, "one channel per call");
      assert.ok(
        c.createdAtMs! <= c.answeredAtMs! && c.answeredAtMs! <= c.hungUpAtMs!,
        "created, answered, hung up in order",
      );
      assert.equal(c.hangupCause, "NORMAL_CLEARING");
      assert.equal(c.hangupDisposition, "recv_bye");
      assert.ok(c.byeReceived, "the caller's BYE reached this FreeSWITCH");
      assert.ok(c.complete);
      // recorded with the answer-and-park dialplan, no audio: 0 packets each way, and still a MOS
      assert.deepEqual(c.rtp, { inPackets: 0, outPackets: 0, inMos: 4.5 });
    }
    assert.ok(
      events.filter((e) => e.name !== "CHANNEL_HANGUP_COMPLETE").every((e) => e.rtp === undefined),
      "RTP counters only from the hangup's end",
    );
    assert.equal(book.activeCount(), 0);
  });
}

test("a call still up is active; a hangup FreeSWITCH sent itself is not a received BYE", () => {
  const [create, answer, , complete] = eventsOf("freeswitch-1.10.12-event-socket-channel-events.txt")
    .slice(0, 8)
    .filter((e, _i, all) => e.callId === all[0]!.callId);
  const book = new FreeswitchCallBook();
  book.add(create!);
  book.add(answer!);
  assert.equal(book.activeCount(), 1);
  assert.equal(book.get(create!.callId)!.byeReceived, false);
  book.add({ ...complete!, hangupDisposition: "send_bye" });
  assert.equal(book.activeCount(), 0);
  assert.equal(book.get(create!.callId)!.byeReceived, false);
});

test("a bounded book (migrate's long runs) holds the calls up now and those not released yet, whatever the run's length", () => {
  // one recorded call's four events (FreeSWITCH 1.10.12) as the template of every call
  const all = eventsOf("freeswitch-1.10.12-event-socket-channel-events.txt");
  const template = all.filter((e) => e.callId === all[0]!.callId);
  assert.deepEqual(
    template.map((e) => e.name),
    ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"],
  );
  // 40 calls/s held 1 s for 20 minutes: 48,000 calls, each event at its time (create, answer +10 ms,
  // hangup +1000 ms, complete +1005 ms), in time order
  const RATE = 40;
  const CALLS = 48_000;
  const offsets = [0, 10, 1000, 1005];
  const timeline: { at: number; call: number; i: number }[] = [];
  for (let k = 0; k < CALLS; k++)
    for (let i = 0; i < 4; i++) timeline.push({ at: (k * 1000) / RATE + offsets[i]!, call: k, i });
  timeline.sort((a, b) => a.at - b.at || a.i - b.i);
  const event = (t: { at: number; call: number; i: number }): ChannelEvent => ({
    ...template[t.i]!,
    callId: `pbxc-run-traffic-${t.call}-1@127.0.0.1`,
    uniqueId: `uuid-${t.call}`,
    atMs: 1.7e12 + t.at,
  });
  const keepFinishedMs = 60_000;
  const bounded = new FreeswitchCallBook({ keepFinishedMs });
  const unbounded = new FreeswitchCallBook();
  let most = 0;
  for (const t of timeline) {
    const e = event(t);
    bounded.add(e);
    unbounded.add(e);
    // the run writes a call's row after its BYE: every 10th call while its channel is still up (its
    // hangup event not here yet), most once it finished; every 100th never (its row never written)
    if (t.call % 100 !== 99 && ((t.i === 2 && t.call % 10 === 0) || (t.i === 3 && t.call % 10 !== 0)))
      bounded.release(e.callId);
    most = Math.max(most, bounded.size);
  }
  // up at once: 40 calls/s x ~1 s = ~41; finished and never released: 1 in 100 for 60 s = 24
  assert.ok(most <= 41 + 1 + 24 + 1, `the bounded book held up to ${most} calls`);
  assert.equal(bounded.seen, CALLS);
  assert.equal(unbounded.size, CALLS, "an unbounded book (sim) keeps every call");
  // what is left: only never-released calls of the last minute
  assert.ok(bounded.size <= 25, `left: ${bounded.size}`);
  const left = [...Array(CALLS).keys()]
    .map((k) => bounded.get(`pbxc-run-traffic-${k}-1@127.0.0.1`))
    .filter((c) => c !== undefined);
  assert.ok(left.every((c) => /-(\d*99)-1@/.test(c.callId) && c.complete));
  // a call released while up keeps its state until its hangup event, which the run waits for
  const up = new FreeswitchCallBook({ keepFinishedMs });
  const id = (i: number): ChannelEvent => event({ at: i * 10, call: 7, i });
  up.add(id(0));
  up.add(id(1));
  up.release(id(0).callId);
  assert.equal(up.get(id(0).callId)?.answeredAtMs, id(1).atMs);
  up.add(id(2));
  up.add(id(3));
  assert.equal(up.size, 0, "let go at its CHANNEL_HANGUP_COMPLETE");
});

test("frames that are not channel events are ignored", () => {
  const parser = new EslFrameParser();
  const frames = parser.push(
    Buffer.from("Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n"),
  );
  assert.equal(frames.length, 2);
  assert.ok(frames.every((f) => channelEventFrom(f) === undefined));
  const body = "Event-Name: HEARTBEAT\nCore-UUID: x\n";
  assert.equal(channelEventFrom({ headers: new Map([["content-type", "text/event-plain"]]), body }), undefined);
  const noCallId = "Event-Name: CHANNEL_CREATE\nUnique-ID: u\n";
  assert.equal(
    channelEventFrom({ headers: new Map([["content-type", "text/event-plain"]]), body: noCallId }),
    undefined,
  );
});

test("event-plain values are URL-decoded; the first of a repeated header wins", () => {
  const h = parseEventPlain(
    "A: x%40y%3A5060\nHangup-Cause: NORMAL_CLEARING\nHangup-Cause: OTHER\nBad: %E0%A4%A\n\nbody: ignored\n",
  );
  assert.equal(h.get("A"), "x@y:5060");
  assert.equal(h.get("Hangup-Cause"), "NORMAL_CLEARING");
  assert.equal(h.get("Bad"), "%E0%A4%A");
  assert.equal(h.has("body"), false);
});

test("show channels count, recorded from 1.10.12 with two calls up and from 1.10.3 idle", () => {
  const count = (name: string): number | undefined => {
    const frames = new EslFrameParser().push(fixture(name));
    const api = frames.find((f) => f.headers.get("content-type") === "api/response");
    assert.ok(api, name);
    return parseChannelsCount(api.body);
  };
  assert.equal(count("freeswitch-1.10.12-event-socket-show-channels-count-2.txt"), 2);
  assert.equal(count("freeswitch-1.10.3-event-socket-show-channels-count-0.txt"), 0);
  assert.equal(parseChannelsCount("-ERR no reply\n"), undefined);
});
