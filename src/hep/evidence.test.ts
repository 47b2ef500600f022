import assert from "node:assert/strict";
import { test } from "node:test";
import { recordedBothCalls, sipDatagram } from "../../test/support/hep-fixtures.js";
import { decodeHep, type HepPacket } from "./decode.js";
import { byeAnsweredBy, endpointKey, forwardedTo, HepEvidence, type HepCall } from "./evidence.js";

const PROXY = "127.0.0.1:25060";
const OLD = "127.0.0.1:25062";
const NEW = "127.0.0.1:25063";
const CALLER = "127.0.0.1:25065";

function packets(datagrams: Buffer[]): HepPacket[] {
  return datagrams.map((d) => {
    const r = decodeHep(d);
    if (!r.ok) throw new Error(r.malformation.detail);
    return r.packet;
  });
}

function book(ps: HepPacket[]): HepEvidence {
  const e = new HepEvidence([PROXY]);
  for (const p of ps) e.add(p);
  return e;
}

function call(e: HepEvidence, n: number): HepCall {
  const c = [...e.calls.values()].find((x) => x.callId.startsWith(`hep-fixture-${n}-`));
  assert.ok(c, `call ${n}`);
  return c;
}

test("4 recorded calls through Kamailio 5.6.3 (profile both): where every request went, who answered", () => {
  const e = book(packets(recordedBothCalls()));
  assert.equal(e.calls.size, 4);
  assert.deepEqual(e.counts, { packets: 56, notSip: 0, notThroughProxy: 0, noCallId: 0 });
  const backends = [1, 2, 3, 4].map((n) => forwardedTo(call(e, n), "INVITE"));
  assert.deepEqual(backends, [[NEW], [OLD], [NEW], [OLD]], "round robin");
  for (const n of [1, 2, 3, 4]) {
    const c = call(e, n);
    const backend = forwardedTo(c, "INVITE")[0]!;
    assert.equal(c.caller, CALLER);
    assert.deepEqual(forwardedTo(c, "ACK"), [backend], "ACK followed the route set");
    assert.deepEqual(forwardedTo(c, "BYE"), [backend], "BYE followed the route set");
    assert.equal(c.forwarded.INVITE![0]!.retransmissions, 0);
    assert.equal(c.answerToInvite?.status, 200);
    assert.equal(c.answerToInvite?.origin, "relayed");
    assert.equal(c.answeredBy, backend);
    assert.equal(c.answerToBye?.status, 200);
    assert.equal(byeAnsweredBy(c), backend);
    assert.match(c.dialogToTag ?? "", /SIPpTag/);
    assert.equal(c.answerToBye?.toTag, c.dialogToTag, "BYE answered inside the dialog the 200 set up");
    // who sent what: Kamailio's own 100, the backend's 100/180/200 (INVITE) and 200 (BYE), relayed 180/200/200
    assert.deepEqual(
      c.responses.map(
        (r) =>
          `${r.status} ${r.method} ${r.origin} ${r.from === PROXY ? "proxy" : r.from === backend ? "backend" : r.from}`,
      ),
      [
        "100 INVITE proxy proxy",
        "100 INVITE backend backend",
        "180 INVITE backend backend",
        "180 INVITE relayed proxy",
        "200 INVITE backend backend",
        "200 INVITE relayed proxy",
        "200 BYE backend backend",
        "200 BYE relayed proxy",
      ],
    );
  }
});

test("a fleet on one collector: each call is the node's whose socket mirrored it, with the same facts", () => {
  const KAM2 = { address: "127.0.1.2", port: 25060 };
  const moved = (p: HepPacket): HepPacket =>
    /hep-fixture-[12]-/.test(Buffer.from(p.payload).toString("latin1"))
      ? {
          ...p,
          src: endpointKey(p.src) === PROXY ? KAM2 : p.src,
          dst: endpointKey(p.dst) === PROXY ? KAM2 : p.dst,
        }
      : p;
  const e = new HepEvidence([PROXY, endpointKey(KAM2)]);
  for (const p of packets(recordedBothCalls())) e.add(moved(p));
  assert.equal(e.counts.notThroughProxy, 0);
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => call(e, n).proxy),
    ["127.0.1.2:25060", "127.0.1.2:25060", PROXY, PROXY],
  );
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => [forwardedTo(call(e, n), "INVITE")[0], call(e, n).answerToInvite?.status]),
    [
      [NEW, 200],
      [OLD, 200],
      [NEW, 200],
      [OLD, 200],
    ],
  );
});

test("copies of the same messages are retransmissions, not new transactions or calls", () => {
  const ps = packets(recordedBothCalls());
  const e = book([...ps, ...ps]);
  assert.equal(e.calls.size, 4);
  const c = call(e, 1);
  assert.deepEqual(c.forwarded.INVITE, [{ ...c.forwarded.INVITE![0]!, transactions: 1, retransmissions: 1 }]);
  assert.equal(c.forwarded.BYE![0]!.transactions, 1);
  assert.equal(c.responses.length, 8);
  assert.ok(c.responses.every((r) => r.copies === 2));
});

/** A SIP message Kamailio sent or received, as siptrace would mirror it. */
function mirrored(src: string, dst: string, lines: string[], usec = 0): HepPacket {
  const ep = (k: string): [string, number] => {
    const [a, p] = k.split(":");
    return [a!, Number(p)];
  };
  const r = decodeHep(
    sipDatagram({ src: ep(src), dst: ep(dst), tsUsec: usec, payload: `${lines.join("\r\n")}\r\n\r\n` }),
  );
  if (!r.ok) throw new Error(r.malformation.detail);
  return r.packet;
}

const cid = "Call-ID: pbxc-x-old-1-1@127.0.0.1";
const invite = [
  "INVITE sip:100@127.0.0.1:25060 SIP/2.0",
  "Via: SIP/2.0/UDP 127.0.0.1:25065;branch=z9hG4bK-1",
  cid,
  "CSeq: 1 INVITE",
  "To: <sip:100@x>",
];
const bye = (branch: string): string[] => [
  `BYE sip:127.0.0.1:25062 SIP/2.0`,
  `Via: SIP/2.0/UDP 127.0.0.1:25060;branch=${branch}`,
  cid,
  "CSeq: 2 BYE",
  "To: <sip:100@x>;tag=abc",
];
const resp = (status: string, cseq: string, tag?: string): string[] => [
  `SIP/2.0 ${status}`,
  "Via: SIP/2.0/UDP 127.0.0.1:25065;branch=z9hG4bK-1",
  cid,
  `CSeq: ${cseq}`,
  `To: <sip:100@x>${tag ? `;tag=${tag}` : ""}`,
];

test("failures HEP alone shows: BYE to the wrong backend, a BYE Kamailio answered itself, another dialog's To-tag", () => {
  const e = new HepEvidence([PROXY]);
  e.add(mirrored(CALLER, PROXY, invite));
  e.add(mirrored(PROXY, OLD, invite));
  e.add(mirrored(OLD, PROXY, resp("200 OK", "1 INVITE", "abc")));
  e.add(mirrored(PROXY, CALLER, resp("200 OK", "1 INVITE", "abc")));
  e.add(mirrored(PROXY, NEW, bye("z9hG4bKk1")));
  e.add(mirrored(NEW, PROXY, resp("481 Call/Transaction Does Not Exist", "2 BYE", "zzz")));
  e.add(mirrored(PROXY, CALLER, resp("481 Call/Transaction Does Not Exist", "2 BYE", "zzz")));
  const c = e.calls.get("pbxc-x-old-1-1@127.0.0.1")!;
  assert.deepEqual(forwardedTo(c, "INVITE"), [OLD]);
  assert.deepEqual(forwardedTo(c, "BYE"), [NEW]);
  assert.equal(c.dialogToTag, "abc");
  assert.equal(c.answerToBye?.status, 481);
  assert.equal(c.answerToBye?.toTag, "zzz");
  assert.equal(byeAnsweredBy(c), NEW);

  const k = new HepEvidence([PROXY]);
  k.add(mirrored(CALLER, PROXY, invite));
  k.add(mirrored(PROXY, CALLER, resp("404 Not here", "2 BYE", "kam")));
  const kc = k.calls.get("pbxc-x-old-1-1@127.0.0.1")!;
  assert.equal(kc.answerToBye?.origin, "proxy");
  assert.equal(byeAnsweredBy(kc), PROXY, "Kamailio answered it: no backend saw the BYE");
  assert.deepEqual(forwardedTo(kc, "BYE"), []);
});

test("Kamailio's retransmission of a forwarded INVITE (same branch) and a second transaction (new branch)", () => {
  const e = new HepEvidence([PROXY]);
  const out = [
    "INVITE sip:100@127.0.0.1:25062 SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:25060;branch=z9hG4bKa.0",
    cid,
    "CSeq: 1 INVITE",
  ];
  e.add(mirrored(PROXY, OLD, out, 1));
  e.add(mirrored(PROXY, OLD, out, 500_001));
  e.add(
    mirrored(
      PROXY,
      NEW,
      out.map((l) => l.replace("a.0", "a.1")),
      900_000,
    ),
  );
  const c = e.calls.get("pbxc-x-old-1-1@127.0.0.1")!;
  assert.deepEqual(c.forwarded.INVITE, [
    { to: OLD, transactions: 1, retransmissions: 1, firstUs: 1_796_150_630_000_001 },
    { to: NEW, transactions: 1, retransmissions: 0, firstUs: 1_796_150_630_900_000 },
  ]);
  assert.deepEqual(forwardedTo(c, "INVITE"), [OLD, NEW], "both backends got it: the verdict sees two");
});

test("what is not a call's SIP through this proxy is counted and left out", () => {
  const e = new HepEvidence([PROXY]);
  const base = mirrored(CALLER, PROXY, invite);
  e.add({ ...base, src: { address: "127.0.0.9", port: 1 }, dst: { address: "127.0.0.9", port: 2 } });
  e.add({ ...base, payload: Buffer.from("GET /RPC HTTP/1.1\r\n\r\n") });
  e.add({ ...base, protocolType: 5 });
  e.add({ ...base, payload: Buffer.from("OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n") });
  assert.deepEqual(e.counts, { packets: 4, notSip: 2, notThroughProxy: 1, noCallId: 1 });
  assert.equal(e.calls.size, 0);
});

test("a forgotten call's evidence is gone and its later messages are ignored for 32 s; calls nobody forgot expire by age", () => {
  const ps = packets(recordedBothCalls());
  const e = book(ps);
  const one = call(e, 1);
  const t = (p: HepPacket): number => p.tsSec * 1_000_000 + p.tsUsec;
  const last = Math.max(...ps.map(t));
  e.forget(one.callId, last);
  assert.equal(e.calls.size, 3);
  const mine = ps.filter((p) => p.payload.includes(one.callId));
  for (const p of mine) assert.equal(e.add(p), undefined, "ignored");
  assert.equal(e.lifecycle.ofForgottenCalls, mine.length);
  // 32 s later another forget lets the first one's memory go: its messages make a call again
  e.forget(call(e, 2).callId, last + 32_000_001);
  assert.notEqual(e.add(mine[0]!), undefined);
  assert.equal(e.lifecycle.calls, 5);
  // every call first seen before the last packet's time expires, the one just seen again too (its first sight is old)
  const expired = e.expireCreatedBefore(last + 1);
  assert.equal(expired.length, 3);
  assert.equal(e.calls.size, 0);
  assert.equal(e.lifecycle.expired, 3);
});
