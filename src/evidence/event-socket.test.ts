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
