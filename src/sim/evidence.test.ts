import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { parseMessageLogBuffer, type LoggedMessage } from "../sip/message-log.js";
import { phaseAssertions, type PhaseEvidence } from "./assertions.js";
import { callRow, EvidenceBook, outcomeOf, parseCallId, type EvidenceFact } from "./evidence.js";

const FIXTURES = path.resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures");
const log = (name: string): LoggedMessage[] => parseMessageLogBuffer(readFileSync(path.join(FIXTURES, name))).records;

/** the recorded "both" burst: 4 calls through Kamailio 5.6.3, round-robin over two SIPp 3.6.1 backends */
function bothBurst(): { book: EvidenceBook; facts: EvidenceFact[] } {
  const book = new EvidenceBook("5f3a9c");
  const facts: EvidenceFact[] = [];
  for (const r of log("sipp-3.6.1-uas-old.messages.log")) facts.push(...book.addBackend("old", r));
  for (const r of log("sipp-3.6.1-uas-new.messages.log")) facts.push(...book.addBackend("new", r));
  for (const r of log("sipp-3.6.1-uac-call.messages.log")) facts.push(...book.addUac("both", r));
  facts.push(...book.settle("both"));
  facts.push(...book.finishBurst("both"));
  return { book, facts };
}

function phaseOf(book: EvidenceBook, expected: number): PhaseEvidence {
  return {
    phase: "both",
    expectedCalls: expected,
    calls: book.callsOf("both"),
    unexpected: book.unexpected,
    inviteDelta: book.inviteTransactions,
    rawInviteDelta: book.rawInvites,
    backendLogs: true,
  };
}

test("Call-IDs carry run and burst", () => {
  assert.deepEqual(parseCallId("pbxc-5f3a9c-both-3-26050@127.0.0.1"), { runId: "5f3a9c", burst: "both" });
  assert.equal(parseCallId("pbxc-5f3a9c-sideways-3-26050@127.0.0.1"), undefined);
  assert.equal(parseCallId("1-26050@127.0.0.1"), undefined);
});

test("recorded both burst: each call routed once, completed, INVITE and BYE on the same backend", () => {
  const { book, facts } = bothBurst();
  const calls = book.callsOf("both");
  assert.equal(calls.length, 4);
  for (const c of calls) {
    assert.equal(outcomeOf(c).outcome, "completed", c.callId);
    const row = callRow(c);
    assert.ok(row.inviteBackend === "old" || row.inviteBackend === "new");
    assert.equal(row.byeBackend, row.inviteBackend);
    assert.equal(row.inviteStatus, 200);
    assert.equal(row.byeStatus, 200);
  }
  assert.equal(facts.filter((f) => f.kind === "routed").length, 4);
  assert.equal(facts.filter((f) => f.kind === "finished" && f.completed).length, 4);
  const verdicts = phaseAssertions(phaseOf(book, 4), "both");
  assert.deepEqual(
    verdicts.map((v) => [v.name, v.verdict]),
    [
      ["split", "pass"],
      ["completed", "pass"],
      ["no-lost", "pass"],
      ["no-unexpected", "pass"],
      ["seed-delta", "pass"],
    ],
  );
  assert.equal(verdicts[0]!.details, "split old 2 / new 2 of 4 (round-robin: each >= 1, within +-1 of even)");
});

test("the same evidence judged as an `old` phase names the misrouted calls", () => {
  const { book } = bothBurst();
  const v = phaseAssertions({ ...phaseOf(book, 4), phase: "old" }, "old");
  const routing = v.find((a) => a.name === "routing")!;
  assert.equal(routing.verdict, "fail");
  assert.equal(routing.details, "2/4 calls reached old only, 2 reached new (misrouted)");
  assert.equal(routing.offenders.length, 2);
  assert.match(routing.offenders[0]!, /^pbxc-5f3a9c-both-\d-\d+@127\.0\.0\.1: INVITE reached new$/);
  const delta = v.find((a) => a.name === "seed-delta")!;
  assert.equal(delta.verdict, "fail");
  assert.match(delta.details, /^old delta \(2\) >= expected \(4\), new delta \(2\) == 0/);
});

test("retransmitted INVITE and BYE (recorded at a SIPp 3.6.1 backend) count once", () => {
  const book = new EvidenceBook("5f3a9c");
  const routed = log("sipp-3.6.1-uas-retransmissions.messages.log").flatMap((r) => book.addBackend("new", r));
  assert.equal(routed.length, 1);
  const c = book.calls.get("pbxc-5f3a9c-new-1-4242@127.0.0.1")!;
  assert.deepEqual(c.invite.new, {
    transactions: 1,
    retransmissions: 1,
    firstStamp: c.invite.new!.firstStamp,
    answer: { status: 200, toTag: "25740SIPpTag012", stamp: "2026-11-23 22:56:30.461696" },
  });
  assert.equal(c.bye.new!.transactions, 1);
  assert.equal(c.bye.new!.retransmissions, 1);
  assert.equal(book.rawInvites.new, 2, "the seed's grep would count 2");
  assert.equal(book.inviteTransactions.new, 1);
  // seen at a backend but never sent by this run's UAC: not a completed call
  assert.equal(outcomeOf(c).outcome, "failed");
});

test("a call refused by the proxy (503, recorded) fails with the status, and was lost", () => {
  const book = new EvidenceBook("5f3a9c");
  const fed = log("sipp-3.6.1-uac-call-503.messages.log").flatMap((r) => book.addUac("new", r));
  assert.equal(fed.length, 0, "calls are concluded by settle(), after the backends' logs were read");
  const facts = book.settle("new");
  assert.deepEqual(
    facts.map((f) => (f.kind === "finished" ? [f.completed, f.reason] : f.kind)),
    [[false, "INVITE answered 503"]],
  );
  const c = [...book.calls.values()][0]!;
  assert.equal(c.uac.unexpected, "Unexpected UDP message received: SIP/2.0 503 No destination");
  const v = phaseAssertions({ ...phaseOf(book, 1), phase: "new", calls: book.callsOf("new") }, "new");
  assert.deepEqual(
    v.filter((a) => a.verdict === "fail").map((a) => [a.name, a.details]),
    [
      ["routing", "0/1 calls reached new only, 0 reached old; 1 lost / unknown destination (reached neither old nor new)"],
      ["completed", "0/1 calls completed (2xx to INVITE and BYE); 1 sent, 1 failed"],
      ["no-lost", "0/1 calls seen on exactly one backend; 1 lost / unknown destination (reached no backend), 0 on both"],
      ["seed-delta", "old delta (0) == 0, new delta (0) >= expected (1); raw INVITE lines incl. retransmissions: old 0, new 0"],
    ],
  );
});

test("OPTIONS and foreign Call-IDs: OPTIONS ignored, foreign INVITE is an unexpected request", () => {
  const book = new EvidenceBook("aaaaaa");
  const recs = log("sipp-3.6.1-uas-old.messages.log");
  for (const r of recs) book.addBackend("old", r);
  assert.equal(book.calls.size, 0);
  assert.ok(book.unexpected.length >= 2);
  assert.match(book.unexpected[0]!.why, /another run \(5f3a9c\)/);
  const options = `OPTIONS sip:127.0.0.1:23002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nCall-ID: probe-1@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  const before = book.unexpected.length;
  book.addBackend("old", { offset: 0, stamp: "", direction: "received", transport: "UDP", text: options });
  assert.equal(book.unexpected.length, before);
});

test("a call with no final answer when its burst ends fails; before that it is pending", () => {
  const book = new EvidenceBook("5f3a9c");
  const invite = log("sipp-3.6.1-uac-call.messages.log")[0]!;
  assert.deepEqual(book.addUac("both", invite), []);
  const c = [...book.calls.values()][0]!;
  assert.equal(outcomeOf(c).outcome, "pending");
  const facts = book.finishBurst("both");
  const f = facts[0];
  assert.equal(facts.length, 1);
  assert.deepEqual(f?.kind === "finished" ? [f.completed, f.reason] : [], [false, "no final response to INVITE"]);
});
