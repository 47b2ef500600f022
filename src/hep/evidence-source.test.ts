import assert from "node:assert/strict";
import { test } from "node:test";
import { stampMs } from "../sip/message-log.js";
import { recordedBothCalls } from "../../test/support/hep-fixtures.js";
import { decodeHep, type HepPacket } from "./decode.js";
import { hepStamp, hepView, sightingOf } from "./evidence-source.js";

const view = hepView(["127.0.0.1:25060"], { old: "127.0.0.1:25062", new: "127.0.0.1:25063" });

function packets(): HepPacket[] {
  return recordedBothCalls().map((d) => {
    const r = decodeHep(d);
    if (!r.ok) throw new Error(r.malformation.detail);
    return r.packet;
  });
}

test("each mirrored message of 4 recorded calls is a backend's or the caller's, from their point of view", () => {
  const seen = new Map<string, number>();
  for (const p of packets()) {
    const s = sightingOf(p, view);
    assert.ok(s);
    const first = p.payload
      .toString("latin1")
      .split("\r\n")[0]!
      .replace(/ sip:\S+| --.*/g, "");
    const k = `${s.party === "backend" ? s.backend : "caller"} ${s.direction} ${first}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  const per = (who: string): Record<string, number> =>
    Object.fromEntries(
      [...seen].filter(([k]) => k.startsWith(`${who} `)).map(([k, n]) => [k.slice(who.length + 1), n]),
    );
  assert.deepEqual(per("caller"), {
    "sent INVITE SIP/2.0": 4,
    "received SIP/2.0 100 trying": 4,
    "received SIP/2.0 180 Ringing": 4,
    "received SIP/2.0 200 OK": 8,
    "sent ACK SIP/2.0": 4,
    "sent BYE SIP/2.0": 4,
  });
  for (const b of ["old", "new"]) {
    assert.deepEqual(per(b), {
      "received INVITE SIP/2.0": 2,
      "sent SIP/2.0 100 Trying": 2,
      "sent SIP/2.0 180 Ringing": 2,
      "sent SIP/2.0 200 OK": 4,
      "received ACK SIP/2.0": 2,
      "received BYE SIP/2.0": 2,
    });
  }
});

test("a packet that does not involve the proxy is nobody's", () => {
  const p = packets()[0]!;
  assert.equal(
    sightingOf({ ...p, src: { address: "127.0.0.9", port: 1 }, dst: { address: "127.0.0.9", port: 2 } }, view),
    undefined,
  );
});

test("capture time in the SIPp logs' format, microseconds kept, parsed back by the verdicts", () => {
  const p = packets()[2]!;
  const s = hepStamp(p);
  assert.match(s, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.558654$/);
  assert.equal(stampMs(s), p.tsSec * 1000 + 558.654);
  assert.match(hepStamp({ tsSec: p.tsSec, tsUsec: 7 }), /\.000007$/);
});

test("stamps of packets from other seconds, in any order, each get their own second", () => {
  const p = packets()[2]!;
  for (const sec of [p.tsSec, p.tsSec + 1, p.tsSec, p.tsSec + 86_399, p.tsSec - 1]) {
    assert.equal(stampMs(hepStamp({ tsSec: sec, tsUsec: 250_000 })), sec * 1000 + 250, `second ${sec}`);
  }
});
