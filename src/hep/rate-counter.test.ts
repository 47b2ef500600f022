import assert from "node:assert/strict";
import { test } from "node:test";
import { recordedBothCalls, sipDatagram } from "../../test/support/hep-fixtures.js";
import { decodeHep, type HepPacket } from "./decode.js";
import { hepView } from "./evidence-source.js";
import { addCounts, answerClass, emptyCounts, perSecond, RateCounter } from "./rate-counter.js";

const PROXY: [string, number] = ["127.0.0.1", 25060];
const OLD: [string, number] = ["127.0.0.1", 25062];
const NEW: [string, number] = ["127.0.0.1", 25063];
const CALLER: [string, number] = ["127.0.0.1", 25065];
const view = hepView(["127.0.0.1:25060"], { old: "127.0.0.1:25062", new: "127.0.0.1:25063" });

const decoded = (d: Buffer): HepPacket => {
  const r = decodeHep(d);
  if (!r.ok) throw new Error(r.malformation.detail);
  return r.packet;
};

/** one mirrored message: a request (start line "INVITE sip:...") or a response ("SIP/2.0 486 Busy Here") */
function msg(
  src: [string, number],
  dst: [string, number],
  startLine: string,
  o: { callId: string; cseq?: string; to?: string; branch?: string },
): HepPacket {
  const lines = [
    startLine,
    `Via: SIP/2.0/UDP 127.0.0.1:25060;branch=${o.branch ?? "z9hG4bKk1"}`,
    `From: <sip:caller@127.0.0.1>;tag=c1`,
    `To: ${o.to ?? "<sip:100@127.0.0.1>"}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? "1 INVITE"}`,
    "Content-Length: 0",
  ];
  return decoded(sipDatagram({ src, dst, payload: `${lines.join("\r\n")}\r\n\r\n` }));
}

test("4 recorded calls through Kamailio 5.6.3 (profile both): 2 routed to each backend, 100/180/200 from each", () => {
  const c = new RateCounter(view, 1000);
  for (const d of recordedBothCalls()) c.add(decoded(d));
  const w = c.take(3000);
  assert.equal(w.windowMs, 2000);
  assert.equal(w.at, 3000);
  for (const b of ["old", "new"] as const) {
    // the caller's INVITEs, Kamailio's own 100, relayed answers, ACK and BYE and their 200: none of them counts
    assert.deepEqual(w.backends[b], { routed: 2, answers: { "1xx": 4, "2xx": 2, "3xx-6xx": 0 } }, b);
  }
  assert.equal(c.counted, 16);
  // the next window starts empty
  assert.deepEqual(c.take(4000).backends, { old: emptyCounts(), new: emptyCounts() });
});

test("retransmissions are not counted again, in the same window or the next; a re-INVITE is no new call", () => {
  const c = new RateCounter(view, 0);
  const invite = (): HepPacket => msg(PROXY, OLD, "INVITE sip:100@127.0.0.1:25062 SIP/2.0", { callId: "a" });
  c.add(invite());
  c.add(invite());
  c.add(msg(OLD, PROXY, "SIP/2.0 200 OK", { callId: "a", to: "<sip:100@127.0.0.1>;tag=b1" }));
  let w = c.take(1000);
  assert.deepEqual(w.backends.old, { routed: 1, answers: { "1xx": 0, "2xx": 1, "3xx-6xx": 0 } });
  // Kamailio retransmits the INVITE, the backend its 200, in the next window: still one call, one answer
  c.add(invite());
  c.add(msg(OLD, PROXY, "SIP/2.0 200 OK", { callId: "a", to: "<sip:100@127.0.0.1>;tag=b1" }));
  // a re-INVITE (To-tag set, new CSeq) in the dialog, and its 200: the answer counts, the call does not
  c.add(
    msg(PROXY, OLD, "INVITE sip:100@127.0.0.1:25062 SIP/2.0", {
      callId: "a",
      cseq: "2 INVITE",
      to: "<sip:100@127.0.0.1>;tag=b1",
      branch: "z9hG4bKk2",
    }),
  );
  c.add(
    msg(OLD, PROXY, "SIP/2.0 200 OK", {
      callId: "a",
      cseq: "2 INVITE",
      to: "<sip:100@127.0.0.1>;tag=b1",
      branch: "z9hG4bKk2",
    }),
  );
  w = c.take(2000);
  assert.deepEqual(w.backends.old, { routed: 0, answers: { "1xx": 0, "2xx": 1, "3xx-6xx": 0 } });
});

test("failures by class; requests other than INVITE, answers to them, and the caller's side are not counted", () => {
  const c = new RateCounter(view, 0);
  c.add(msg(PROXY, NEW, "INVITE sip:100@127.0.0.1:25063 SIP/2.0", { callId: "b" }));
  c.add(msg(NEW, PROXY, "SIP/2.0 486 Busy Here", { callId: "b", to: "<sip:100@127.0.0.1>;tag=n1" }));
  c.add(msg(PROXY, NEW, "INVITE sip:100@127.0.0.1:25063 SIP/2.0", { callId: "c" }));
  c.add(msg(NEW, PROXY, "SIP/2.0 503 Service Unavailable", { callId: "c", to: "<sip:100@127.0.0.1>;tag=n2" }));
  c.add(msg(NEW, PROXY, "SIP/2.0 302 Moved", { callId: "d", to: "<sip:100@127.0.0.1>;tag=n3" }));
  c.add(
    msg(PROXY, NEW, "BYE sip:100@127.0.0.1:25063 SIP/2.0", {
      callId: "e",
      cseq: "2 BYE",
      to: "<sip:100@127.0.0.1>;tag=n4",
    }),
  );
  c.add(msg(NEW, PROXY, "SIP/2.0 200 OK", { callId: "e", cseq: "2 BYE", to: "<sip:100@127.0.0.1>;tag=n4" }));
  c.add(msg(NEW, PROXY, "SIP/2.0 200 OK", { callId: "f", cseq: "1 OPTIONS" }));
  // what Kamailio relays to the caller and what the caller sends
  c.add(msg(PROXY, CALLER, "SIP/2.0 500 Server Error", { callId: "c", to: "<sip:100@127.0.0.1>;tag=n2" }));
  c.add(msg(CALLER, PROXY, "INVITE sip:100@127.0.0.1:25060 SIP/2.0", { callId: "g" }));
  // not through the proxy at all
  c.add(msg(OLD, NEW, "INVITE sip:100@127.0.0.1:25063 SIP/2.0", { callId: "h" }));
  const w = c.take(500);
  assert.deepEqual(w.backends.new, { routed: 2, answers: { "1xx": 0, "2xx": 0, "3xx-6xx": 3 } });
  assert.deepEqual(w.backends.old, emptyCounts());
});

test("classes, per second, totals", () => {
  assert.deepEqual([99, 100, 183, 199, 200, 299, 300, 486, 599, 699, 700].map(answerClass), [
    undefined,
    "1xx",
    "1xx",
    "1xx",
    "2xx",
    "2xx",
    "3xx-6xx",
    "3xx-6xx",
    "3xx-6xx",
    "3xx-6xx",
    undefined,
  ]);
  assert.equal(perSecond(25, 500), 50);
  assert.equal(perSecond(3, 0), 0);
  assert.deepEqual(
    addCounts(
      { routed: 1, answers: { "1xx": 2, "2xx": 1, "3xx-6xx": 0 } },
      { routed: 2, answers: { "1xx": 0, "2xx": 1, "3xx-6xx": 1 } },
    ),
    {
      routed: 3,
      answers: { "1xx": 2, "2xx": 2, "3xx-6xx": 1 },
    },
  );
});
