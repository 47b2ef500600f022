import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { FIXTURES } from "../../test/support/fixtures.js";
import type { HepCall } from "../hep/evidence.js";
import { parseMessageLogBuffer, type LoggedMessage } from "../sip/message-log.js";
import { evaluateGates } from "../gates/gate.js";
import { windowMetrics } from "../gates/metrics.js";
import { EvidenceBook } from "./book.js";
import { stampMs } from "../sip/message-log.js";
import { backendsOf } from "./outcome.js";
import { callRecordOf, callRecordsOf } from "./call-record.js";
import { backendsFromHep } from "./hep-records.js";
import { backendLogRecord, uacLogRecord } from "./sipp-log.js";

const log = (name: string): LoggedMessage[] => parseMessageLogBuffer(readFileSync(path.join(FIXTURES, name))).records;
const id = (n: number): string => `pbxc-5f3a9c-both-${n}-26178@127.0.0.1`;

/** the recorded both burst in a book: the backends' logs, then `uac` (the caller's log, or part of it) */
function book(uac: readonly LoggedMessage[], finished: boolean): EvidenceBook {
  const b = new EvidenceBook("5f3a9c");
  for (const r of log("sipp-3.6.1-uas-old.messages.log")) backendLogRecord(b, "old", r);
  for (const r of log("sipp-3.6.1-uas-new.messages.log")) backendLogRecord(b, "new", r);
  for (const r of uac) uacLogRecord(b, "both", r);
  b.settle("both");
  if (finished) b.finishBurst("both");
  return b;
}

describe("the gates' records from the book, fed recorded SIPp 3.6.1 logs (4 calls through Kamailio 5.6.3, round-robin)", () => {
  const uac = log("sipp-3.6.1-uac-call.messages.log");

  it("each call's backend from the backends' logs (round-robin's first call went to the list's last line, new)", () => {
    const b = book(uac, true);
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backendsOf(b.calls.get(id(n))!.invite).join()),
      ["new", "old", "new", "old"],
    );
    const records = callRecordsOf(b.callsOf("both")).records;
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => records.find((r) => r.callId === id(n))?.backend),
      ["new", "old", "new", "old"],
    );
  });

  it("timings from the UAC's own log, by hand from its stamps", () => {
    const r = callRecordsOf(book(uac, true).callsOf("both"));
    assert.deepEqual([r.pending, r.unrouted], [[], []]);
    r.records.sort((a, b) => a.inviteSentMs - b.inviteSentMs);
    const one = r.records.find((c) => c.callId === id(1))!;
    // INVITE 22:56:42.304378, 100 at .322490 (not counted), 180 at .328843
    assert.equal((one.firstProvisionalOrFinalMs! - one.inviteSentMs).toFixed(3), "24.465");
    assert.equal(one.finalStatus, 200);
    assert.equal(one.timedOut, false);
    const srd = r.records.map((c) => (c.firstProvisionalOrFinalMs! - c.inviteSentMs).toFixed(3));
    assert.deepEqual(srd, ["24.465", "8.105", "2.634", "2.625"]);
    const sdd = r.records.map((c) => (c.byeFinalMs! - c.byeSentMs!).toFixed(3));
    assert.deepEqual(sdd, ["1.874", "7.121", "1.075", "0.436"]);
    const m = windowMetrics(r.records, { fromMs: 0, toMs: undefined });
    assert.deepEqual(
      [m.old.invites, m.old.ser.percent, m.old.isa.percent, m.new.invites, m.new.ser.percent],
      [2, 100, 0, 2, 100],
    );
    assert.equal(m.new.srd.p95Ms!.toFixed(3), "24.465");
    // 2 calls per backend: too few for the default gates
    assert.equal(evaluateGates([{ kind: "relative", metric: "ser", maxWorseBy: 2 }], m, 50).verdict, "inconclusive");
  });

  it("while the burst runs, a call without a final answer is pending; once it is over it timed out", () => {
    const cut = uac.findIndex(
      (r) => r.direction === "received" && r.text.startsWith("SIP/2.0 200") && r.text.includes(id(1)),
    );
    const early = uac.slice(0, cut);
    assert.deepEqual(callRecordOf(book(early, false).calls.get(id(1))!).kind, "pending");
    const done = callRecordOf(book(early, true).calls.get(id(1))!);
    assert.equal(done.kind, "record");
    const rec = done.kind === "record" ? done.record : undefined;
    assert.deepEqual([rec?.timedOut, rec?.finalStatus], [true, undefined]);
    assert.equal(
      (rec!.firstProvisionalOrFinalMs! - rec!.inviteSentMs).toFixed(3),
      "24.465",
      "its 180 still counts for SRD",
    );
  });

  it("a call Kamailio answered itself (503 No destination) belongs to no backend", () => {
    const b = new EvidenceBook("5f3a9c");
    for (const r of log("sipp-3.6.1-uac-call-503.messages.log")) uacLogRecord(b, "new", r);
    b.finishBurst("new");
    assert.deepEqual(callRecordsOf(b.callsOf("new")), {
      records: [],
      pending: [],
      unrouted: ["pbxc-5f3a9c-new-1-26184@127.0.0.1"],
    });
  });

  it("a call forwarded to a backend that never answered (HEP's forward, no backend evidence) is that backend's timeout", () => {
    const b = new EvidenceBook("5f3a9c");
    const invite = uac.find((r) => r.direction === "sent" && r.text.startsWith("INVITE") && r.text.includes(id(1)))!;
    uacLogRecord(b, "both", invite);
    b.forwarded("new", id(1));
    const inviteSentMs = stampMs(invite.stamp)!;
    assert.deepEqual(callRecordOf(b.calls.get(id(1))!), { kind: "pending", backend: "new", inviteSentMs });
    b.finishBurst("both");
    const done = callRecordOf(b.calls.get(id(1))!);
    assert.deepEqual(done.kind === "record" ? [done.record.backend, done.record.timedOut] : done, ["new", true]);
    assert.equal(backendsOf(b.calls.get(id(1))!.invite).length, 0, "no backend's own evidence of it");
  });
});

describe("backends from HEP (where Kamailio forwarded the INVITE)", () => {
  it("names the backend by its dispatcher endpoint; other destinations and calls without an INVITE leg are left out", () => {
    const call = (callId: string, to: string | undefined): HepCall =>
      ({
        callId,
        forwarded: to === undefined ? {} : { INVITE: [{ to, transactions: 1, retransmissions: 0, firstUs: 0 }] },
      }) as unknown as HepCall;
    const m = backendsFromHep(
      [call("a", "127.0.0.1:15070"), call("b", "127.0.0.1:15080"), call("c", "127.0.0.1:9999"), call("d", undefined)],
      {
        old: "127.0.0.1:15070",
        new: "127.0.0.1:15080",
      },
    );
    assert.deepEqual(
      [...m],
      [
        ["a", "old"],
        ["b", "new"],
      ],
    );
  });
});
