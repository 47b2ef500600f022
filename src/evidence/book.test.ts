import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { parseMessageLogBuffer, type LoggedMessage } from "../sip/message-log.js";
import {
  changedAssertions,
  inflightAssertions,
  lateEvidenceLine,
  phaseAssertions,
  phaseEvidenceFrom,
  type Assertion,
  type PhaseEvidence,
} from "./assertions.js";
import { byeTie, outcomeOf } from "./outcome.js";
import { callRow, EvidenceBook, type EvidenceFact } from "./book.js";
import { parseCallId } from "./call-id.js";
import type { CallEvidence } from "./call.js";
import { backendLogRecord, uacLogRecord } from "./sipp-log.js";
import { readSipHead, type SipHead } from "../sip/message.js";

const FIXTURES = path.resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures");
const log = (name: string): LoggedMessage[] => parseMessageLogBuffer(readFileSync(path.join(FIXTURES, name))).records;

/** the recorded "both" burst: 4 calls through Kamailio 5.6.3, round-robin over two SIPp 3.6.1 backends */
function bothBurst(): { book: EvidenceBook; facts: EvidenceFact[] } {
  const book = new EvidenceBook("5f3a9c");
  const facts: EvidenceFact[] = [];
  for (const r of log("sipp-3.6.1-uas-old.messages.log")) facts.push(...backendLogRecord(book, "old", r));
  for (const r of log("sipp-3.6.1-uas-new.messages.log")) facts.push(...backendLogRecord(book, "new", r));
  for (const r of log("sipp-3.6.1-uac-call.messages.log")) facts.push(...uacLogRecord(book, "both", r));
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
  const routed = log("sipp-3.6.1-uas-retransmissions.messages.log").flatMap((r) => backendLogRecord(book, "new", r));
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
  // seen at a backend but never sent by this run's UAC: not a completed call (pending while its
  // burst runs: the UAC's log may not show it yet; failed once the burst ended)
  assert.equal(outcomeOf(c).outcome, "pending");
  book.finishBurst("new");
  assert.equal(outcomeOf(c).outcome, "failed");
});

test("a call refused by the proxy (503, recorded) fails with the status, and was lost", () => {
  const book = new EvidenceBook("5f3a9c");
  const fed = log("sipp-3.6.1-uac-call-503.messages.log").flatMap((r) => uacLogRecord(book, "new", r));
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
      [
        "routing",
        "0/1 calls reached new only, 0 reached old; 1 lost / unknown destination (reached neither old nor new)",
      ],
      ["completed", "0/1 calls completed (2xx to INVITE and BYE); 1 sent, 1 failed"],
      [
        "no-lost",
        "0/1 calls seen on exactly one backend; 1 lost / unknown destination (reached no backend), 0 on both",
      ],
      [
        "seed-delta",
        "old delta (0) == 0, new delta (0) >= expected (1); raw INVITE lines incl. retransmissions: old 0, new 0",
      ],
    ],
  );
});

test("OPTIONS and foreign Call-IDs: OPTIONS ignored, foreign INVITE is an unexpected request", () => {
  const book = new EvidenceBook("aaaaaa");
  const recs = log("sipp-3.6.1-uas-old.messages.log");
  for (const r of recs) backendLogRecord(book, "old", r);
  assert.equal(book.calls.size, 0);
  assert.ok(book.unexpected.length >= 2);
  assert.match(book.unexpected[0]!.why, /another run \(5f3a9c\)/);
  const options = `OPTIONS sip:127.0.0.1:23002 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nCall-ID: probe-1@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  const before = book.unexpected.length;
  backendLogRecord(book, "old", { offset: 0, stamp: "", direction: "received", transport: "UDP", text: options });
  assert.equal(book.unexpected.length, before);
});

test("a call with no final answer when its burst ends fails; before that it is pending", () => {
  const book = new EvidenceBook("5f3a9c");
  const invite = log("sipp-3.6.1-uac-call.messages.log")[0]!;
  assert.deepEqual(uacLogRecord(book, "both", invite), []);
  const c = [...book.calls.values()][0]!;
  assert.equal(outcomeOf(c).outcome, "pending");
  const facts = book.finishBurst("both");
  const f = facts[0];
  assert.equal(facts.length, 1);
  assert.deepEqual(f?.kind === "finished" ? [f.completed, f.reason] : [], [false, "no final response to INVITE"]);
});

/** A rendered phase artifact split where each new instance's log starts (the marker lines). */
function generations(name: string): LoggedMessage[][] {
  const text = readFileSync(path.join(FIXTURES, name), "latin1");
  return text
    .split(/^# pbx-cutover: .* instance \d+ starts here\n/m)
    .map((part) => parseMessageLogBuffer(Buffer.from(part, "latin1")).records);
}

/** the recorded restart (SIPp 3.6.1 + Kamailio 5.6.3): the long call set up on old, then old restarted */
function restartedLongCall(uacEdit: (text: string) => string = (t) => t): { book: EvidenceBook; call: CallEvidence } {
  const book = new EvidenceBook("2d1632");
  const [before, after] = generations("sipp-3.6.1-uas-old-restarted.inflight-artifact.log");
  assert.ok(before && after && before.length > 0 && after.length > 0, "two instances in the artifact");
  for (const r of before) backendLogRecord(book, "old", r, 1);
  book.noteInstance("old", 2, "its message log was recreated at 18:56:44.124; truncated: 50421 -> 0 bytes");
  for (const r of after) backendLogRecord(book, "old", r, 2);
  for (const r of log("sipp-3.6.1-uac-long-bye-481.messages.log"))
    uacLogRecord(book, "long", { ...r, text: uacEdit(r.text) });
  book.settle("long");
  book.finishBurst("long");
  return { book, call: book.callsOf("long")[0]! };
}

function inflightOf(book: EvidenceBook, long: CallEvidence[]): Assertion[] {
  return inflightAssertions({
    phase: phaseEvidenceFrom(book, "inflight", 1, long, true),
    precheck: [],
    long,
    post: [],
    postExpected: 0,
    cutoverAtMs: undefined,
  });
}

test("recorded restart: the long call's BYE answered 481 by the restarted old backend is a dead dialog, and both long-call assertions say so", () => {
  const { book, call } = restartedLongCall();
  assert.deepEqual(outcomeOf(call), {
    outcome: "failed",
    reason: "BYE answered 481 by a backend that does not hold the dialog (restarted?)",
  });
  const row = callRow(call);
  assert.deepEqual(
    [
      row.inviteBackend,
      row.inviteBackendInstance,
      row.byeBackend,
      row.byeBackendInstance,
      row.byeStatus,
      row.byeBackendAnswer,
    ],
    ["old", 1, "old", 2, 481, 481],
  );
  assert.equal(row.dialogToTag, "11001SIPpTag0113");
  assert.equal(call.invite.old?.answer?.toTag, "11001SIPpTag0113", "the backend's own 2xx carried the dialog's To-tag");
  assert.deepEqual(byeTie(call), {
    kind: "other-instance",
    home: "old",
    note: "its message log was recreated at 18:56:44.124; truncated: 50421 -> 0 bytes",
  });
  const v = inflightOf(book, [call]);
  const bye = v.find((a) => a.name === "long-call-bye-reached-old")!;
  assert.equal(bye.verdict, "fail");
  assert.equal(
    bye.details,
    "the long call's BYE reached old, but a different instance than the one that answered the INVITE (its message log was recreated at 18:56:44.124; truncated: 50421 -> 0 bytes)",
  );
  const completed = v.find((a) => a.name === "long-call-completed")!;
  assert.equal(completed.verdict, "fail");
  assert.deepEqual(completed.offenders, [
    `${call.callId}: BYE answered 481 by a backend that does not hold the dialog (restarted?)`,
  ]);
});

test("recorded restart, as the old stand-in answered it (200 echoing the BYE's To-tag): still not completed, the instance differs", () => {
  // SIPp's automatic answer to an unexpected BYE is a 200 that copies the BYE's To header, tag included
  const { call } = restartedLongCall((t) => t.replace("SIP/2.0 481 Call/Transaction Does Not Exist", "SIP/2.0 200 OK"));
  assert.equal(call.uac.byeStatus, 200);
  assert.equal(call.uac.byeToTag, call.uac.dialogToTag, "the To-tag alone cannot tell");
  assert.deepEqual(outcomeOf(call), {
    outcome: "failed",
    reason:
      "BYE answered 200 by old, but by a different instance than the one that answered the INVITE (its message log was recreated at 18:56:44.124; truncated: 50421 -> 0 bytes)",
  });
});

test("a 2xx to BYE without the dialog's To-tag is not a completed call", () => {
  const book = new EvidenceBook("5f3a9c");
  for (const r of log("sipp-3.6.1-uas-old.messages.log")) backendLogRecord(book, "old", r);
  for (const r of log("sipp-3.6.1-uas-new.messages.log")) backendLogRecord(book, "new", r);
  for (const r of log("sipp-3.6.1-uac-call.messages.log")) {
    const isByeOk =
      r.direction === "received" &&
      /^SIP\/2\.0 200 /.test(r.text) &&
      /^CSeq: 2 BYE/m.test(r.text) &&
      r.text.includes("both-2-");
    uacLogRecord(book, "both", isByeOk ? { ...r, text: r.text.replace(/^(To: .*;tag=)\S+/m, "$1someone-else") } : r);
  }
  book.settle("both");
  const c = [...book.calls.values()].find((x) => x.callId.includes("-both-2-"))!;
  assert.match(
    outcomeOf(c).reason ?? "",
    /^BYE answered 200 outside the dialog: To-tag someone-else, the dialog's is \S+SIPpTag\d+$/,
  );
  assert.equal(book.callsOf("both").filter((x) => outcomeOf(x).outcome === "completed").length, 3);
});

test("recorded frozen backend: its late answers belong to their own phase, never to the next one; re-judged, verdicts and rows agree", () => {
  const book = new EvidenceBook("d18f70");
  book.openWindow("both");
  for (const r of log("sipp-3.6.1-uas-old-frozen.both-window.log")) backendLogRecord(book, "old", r, 1);
  for (const r of log("sipp-3.6.1-uas-new-frozen.both-window.log")) backendLogRecord(book, "new", r, 1);
  for (const r of log("sipp-3.6.1-uac-both-new-frozen.messages.log")) uacLogRecord(book, "both", r);
  book.settle("both");
  book.finishBurst("both");
  const judge = (): Assertion[] =>
    phaseAssertions(phaseEvidenceFrom(book, "both", 6, book.callsOf("both"), true), "both");
  const live = judge();
  assert.equal(
    live.find((a) => a.name === "no-lost")!.numbers.lost,
    2,
    "while new was frozen its calls reached no backend",
  );
  // the new phase's window: the thawed backend's late records of both's calls, then new's own calls
  book.openWindow("new");
  for (const r of log("sipp-3.6.1-uas-new-thawed.new-window.log")) backendLogRecord(book, "new", r, 1);
  assert.deepEqual(book.unexpectedOf("new"), [], "the late CANCELs of both's calls are not unexpected in new");
  assert.deepEqual(book.invitesOf("new").transactions, { old: 0, new: 6 }, "new's INVITEs are new's six calls");
  assert.equal(book.invitesOf("both").transactions.new, 3, "both's late INVITEs count for both");
  const late = book.lateOf("both");
  assert.ok(
    late.some((l) => l.readDuring === "new") && late.every((l) => l.callId.includes("-both-") && l.backend === "new"),
  );
  assert.match(
    lateEvidenceLine("both", late),
    /^late evidence for phase both: \d+ messages of its calls arrived after it ended \(new: .*INVITE received x\d+, .*CANCEL received.*; read during .*new\); counted for both$/,
  );
  const now = judge();
  assert.deepEqual(
    changedAssertions(live, now).map((c) => c.split(": ").slice(0, 2).join(": ")),
    ["both split: fail -> pass", "both no-lost: fail -> pass", "both seed-delta: still pass"],
  );
  // the rows say what the re-judged verdicts say
  const rows = book.callsOf("both").map(callRow);
  const split = now.find((a) => a.name === "split")!;
  assert.deepEqual(
    [split.numbers.old, split.numbers.new],
    [rows.filter((r) => r.inviteBackend === "old").length, rows.filter((r) => r.inviteBackend === "new").length],
  );
  const completed = now.find((a) => a.name === "completed")!;
  assert.equal(completed.numbers.completed, rows.filter((r) => r.outcome === "completed").length);
  assert.equal(completed.verdict, "fail");
});

test("Call-IDs of another run or none are the open window's unexpected requests; between windows they belong to no phase", () => {
  const book = new EvidenceBook("aaaaaa");
  const invite = log("sipp-3.6.1-uas-old.messages.log")[0]!;
  book.openWindow("old");
  backendLogRecord(book, "old", invite);
  book.openWindow(undefined);
  backendLogRecord(book, "old", { ...invite, text: invite.text.replace(/branch=\S+/, "branch=z9hG4bKother") });
  assert.deepEqual(
    book.unexpected.map((u) => u.phase),
    ["old", undefined],
  );
  assert.equal(book.unexpectedOf("old").length, 1);
  assert.deepEqual(book.invitesOf("old").transactions, { old: 1, new: 0 });
});

test("a call whose INVITE a backend's log shows before the UAC's log does is pending, not 'never sent', until its burst ends", async () => {
  const { readSipHead } = await import("../sip/message.js");
  const id = "pbxc-abc123-post-3-7753@127.0.0.1";
  const invite = readSipHead(
    `INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bKk1\r\nCall-ID: ${id}\r\nCSeq: 1 INVITE\r\nTo: <sip:100@127.0.0.1>\r\n\r\n`,
  )!;
  const book = new EvidenceBook("abc123");
  book.backendMessage("new", invite, { stamp: "2026-12-01 20:56:41.000001", direction: "received" });
  assert.deepEqual(book.settle("post"), [], "concluded before the UAC's log was read");
  book.uacMessage("post", invite, { stamp: "2026-12-01 20:56:41.000000", direction: "sent" });
  assert.deepEqual(book.settle("post"), []);
  // the burst ended and the UAC never showed it: then it is a call the UAC did not send
  const other = readSipHead(
    invite.startLine +
      "\r\nVia: SIP/2.0/UDP 127.0.0.1:15060;branch=z9hG4bKk2\r\nCall-ID: pbxc-abc123-post-4-7753@127.0.0.1\r\nCSeq: 1 INVITE\r\n\r\n",
  )!;
  book.backendMessage("new", other, { stamp: "2026-12-01 20:56:41.000002", direction: "received" });
  const facts = book.finishBurst("post");
  const f = facts.find((x) => x.call.callId.startsWith("pbxc-abc123-post-4-"));
  assert.ok(
    f &&
      f.kind === "finished" &&
      !f.completed &&
      f.reason === "the UAC never sent this INVITE (seen only at a backend)",
  );
});

test("a backend's log that lags the UAC's: the call waits for the BYE's evidence instead of failing live", () => {
  const book = new EvidenceBook("5f3a9c");
  const isBye = (r: LoggedMessage): boolean => /^CSeq: 2 BYE/m.test(r.text);
  const backend = [
    ...log("sipp-3.6.1-uas-old.messages.log").map((r) => ["old", r] as const),
    ...log("sipp-3.6.1-uas-new.messages.log").map((r) => ["new", r] as const),
  ];
  for (const [b, r] of backend) if (!isBye(r)) backendLogRecord(book, b, r);
  for (const r of log("sipp-3.6.1-uac-call.messages.log")) uacLogRecord(book, "both", r);
  assert.deepEqual(book.settle("both"), [], "INVITEs seen, BYEs not yet: nothing concluded");
  for (const [b, r] of backend) if (isBye(r)) backendLogRecord(book, b, r);
  const facts = book.settle("both");
  assert.deepEqual(
    facts.map((f) => (f.kind === "finished" ? f.completed : f.kind)),
    [true, true, true, true],
  );
  // had the BYEs never shown up, the burst's end would have failed the calls, saying why
  const lone = new EvidenceBook("5f3a9c");
  for (const [b, r] of backend) if (!isBye(r)) backendLogRecord(lone, b, r);
  for (const r of log("sipp-3.6.1-uac-call.messages.log")) uacLogRecord(lone, "both", r);
  const ends = lone.finishBurst("both");
  assert.ok(
    ends.every(
      (f) => f.kind === "finished" && !f.completed && f.reason === "BYE answered 200, but no backend received it",
    ),
  );
});

test("a call a backend saw before the UAC's log shows its INVITE is not concluded by settle (the UAC's log lags)", () => {
  const book = new EvidenceBook("5f3a9c");
  for (const r of log("sipp-3.6.1-uas-old.messages.log")) backendLogRecord(book, "old", r);
  assert.deepEqual(book.settle("both"), []);
  for (const r of log("sipp-3.6.1-uac-call.messages.log")) uacLogRecord(book, "both", r);
  for (const r of log("sipp-3.6.1-uas-new.messages.log")) backendLogRecord(book, "new", r);
  assert.deepEqual(
    book.settle("both").map((f) => (f.kind === "finished" ? f.completed : f.kind)),
    [true, true, true, true],
  );
});

test("an answer to SIPp's abort BYE (new branch, no route set) is not the answer to the call's BYE", () => {
  // seen for real (HEP, Kamailio 5.6.3 + SIPp 3.6.1): the long call's BYE to a stopped backend timed
  // out at the caller, SIPp aborted the call with a second BYE on a new branch straight to the proxy,
  // and Kamailio answered that one 404; the caller's BYE itself never had an answer
  const cid = "Call-ID: pbxc-a49508-long-1-31618@127.0.0.1";
  const msg = (lines: string[]): SipHead => readSipHead(lines.join("\r\n") + "\r\n\r\n")!;
  const at = (stamp: string, direction: "sent" | "received") => ({ stamp: `2026-12-01 21:52:${stamp}`, direction });
  const byeOn = (branch: string): SipHead =>
    msg([
      "BYE sip:127.0.0.1:27882;transport=UDP SIP/2.0",
      `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}`,
      cid,
      "CSeq: 2 BYE",
      "To: <sip:cutover@127.0.0.1:27880>;tag=t1",
    ]);
  const answer = (status: string, branch: string, cseq: string): SipHead =>
    msg([
      `SIP/2.0 ${status}`,
      `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=${branch}`,
      cid,
      `CSeq: ${cseq}`,
      "To: <sip:cutover@127.0.0.1:27880>;tag=t1",
    ]);
  const run = (byeAnswerBranch: string): CallEvidence => {
    const book = new EvidenceBook("a49508");
    book.uacMessage(
      "long",
      msg([
        "INVITE sip:cutover@127.0.0.1:27880 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1-0",
        cid,
        "CSeq: 1 INVITE",
      ]),
      at("57.488890", "sent"),
    );
    book.uacMessage("long", answer("200 OK", "z9hG4bK-1-0", "1 INVITE"), at("57.496760", "received"));
    for (const s of ["00.000740", "00.504392", "01.507679"])
      book.uacMessage("long", byeOn("z9hG4bK-1-7"), at(s, "sent"));
    book.uacMessage("long", byeOn("z9hG4bK-1--1"), at("03.004132", "sent"));
    book.uacMessage("long", answer("404 Not here", byeAnswerBranch, "2 BYE"), at("03.005759", "received"));
    book.finishBurst("long");
    return book.callsOf("long")[0]!;
  };
  const aborted = run("z9hG4bK-1--1");
  assert.equal(aborted.uac.byeStatus, undefined);
  assert.equal(callRow(aborted).byeStatus, null);
  // the same answer on the BYE's own transaction is its answer
  assert.equal(run("z9hG4bK-1-7").uac.byeStatus, 404);
});
