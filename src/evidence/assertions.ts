/**
 * Verdicts (pure): from the evidence of a phase, each assertion as data
 * (`pass | fail | inconclusive`, with the numbers and the offending Call-IDs), never an exception.
 */
import type { SimPhase, Verdict } from "../events/run-events.js";
import { stampMs } from "../sip/message-log.js";
import type { EvidenceBook, LateMessage, UnexpectedRequest } from "./book.js";
import type { CallEvidence } from "./call.js";
import { backendsOf, byeTie, otherInstanceText, outcomeOf } from "./outcome.js";
import type { BackendRole } from "../core/backend-role.js";

export interface Assertion {
  phase: SimPhase;
  /** short stable name, e.g. "routing", "completed", "no-lost", "split", "seed-delta" */
  name: string;
  verdict: Verdict;
  /** one line with the numbers, e.g. "10/10 calls reached old, 0 reached new" */
  details: string;
  numbers: Record<string, number>;
  /** offending calls (Call-ID: why), at most MAX_LISTED */
  offenders: string[];
  /**
   * the evidence it rests on: "sipp" (stand-in logs), "hep" (mirrored by Kamailio), "sipp+hep", or on a
   * lab of real FreeSWITCH "event-socket" (the PBXs' own channel events) and "hep+event-socket"; media
   * verdicts "rtp-capture" (the caller's RTP captured on loopback, with the SDP of its message log)
   */
  source?: "sipp" | "hep" | "sipp+hep" | "event-socket" | "hep+event-socket" | "rtp-capture";
}

const MAX_LISTED = 10;

function listed(items: string[]): string[] {
  return items.length > MAX_LISTED
    ? [...items.slice(0, MAX_LISTED), `... and ${items.length - MAX_LISTED} more`]
    : items;
}

function verdictOf(ok: boolean, evidenceMissing = false): Verdict {
  if (evidenceMissing) return "inconclusive";
  return ok ? "pass" : "fail";
}

export interface PhaseEvidence {
  phase: SimPhase;
  /** the calls the UAC was asked to make */
  expectedCalls: number;
  calls: CallEvidence[];
  unexpected: UnexpectedRequest[];
  /** distinct INVITE transactions per backend in the phase's window (any Call-ID) */
  inviteDelta: Record<BackendRole, number>;
  /** raw INVITE lines per backend in the window (the seed's grep count, retransmissions included) */
  rawInviteDelta: Record<BackendRole, number>;
  /** false when a backend's message log is not available (a real PBX): routing cannot be judged */
  backendLogs: boolean;
}

/**
 * A phase's evidence as the book holds it now: its calls, the unexpected requests and INVITEs that
 * belong to it (this run's Call-IDs by their own phase, whenever they arrived; others by the window
 * they arrived in).
 */
export function phaseEvidenceFrom(
  book: EvidenceBook,
  phase: SimPhase,
  expectedCalls: number,
  calls: CallEvidence[],
  backendLogs: boolean,
): PhaseEvidence {
  const inv = book.invitesOf(phase);
  return {
    phase,
    expectedCalls,
    calls,
    unexpected: book.unexpectedOf(phase),
    inviteDelta: inv.transactions,
    rawInviteDelta: inv.raw,
    backendLogs,
  };
}

/** "late evidence for phase both: 7 messages of its calls arrived after it ended (at new: INVITE received x3, ...; read during new)" */
export function lateEvidenceLine(phase: SimPhase, late: LateMessage[]): string {
  if (late.length === 0) return `late evidence for phase ${phase}: none`;
  const counts = new Map<string, number>();
  for (const l of late) counts.set(`${l.backend}: ${l.what}`, (counts.get(`${l.backend}: ${l.what}`) ?? 0) + 1);
  const what = [...counts].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(", ");
  const during = [...new Set(late.map((l) => l.readDuring ?? "between phases"))].join(", ");
  return `late evidence for phase ${phase}: ${late.length} message${late.length === 1 ? "" : "s"} of its calls arrived after it ended (${what}; read during ${during}); counted for ${phase}`;
}

/** "both split: fail -> pass: split old 3 / new 3 ..." for each assertion whose verdict, details or offenders changed */
export function changedAssertions(before: Assertion[], after: Assertion[]): string[] {
  const out: string[] = [];
  for (const a of after) {
    const b = before.find((x) => x.name === a.name);
    if (b && b.verdict === a.verdict && b.details === a.details && b.offenders.join() === a.offenders.join()) continue;
    const change = !b
      ? `(new) ${a.verdict}`
      : b.verdict === a.verdict
        ? `still ${a.verdict}`
        : `${b.verdict} -> ${a.verdict}`;
    out.push(`${a.phase} ${a.name}: ${change}: ${a.details}`);
  }
  return out;
}

const where = (c: CallEvidence): string => backendsOf(c.invite).join("+") || "no backend (lost / unknown destination)";

/** Calls the UAC sent (the others were seen only at a backend and are judged as unexpected). */
function sent(calls: CallEvidence[]): CallEvidence[] {
  return calls.filter((c) => c.uac.inviteSentStamp !== undefined);
}

/** "; 3 lost / unknown destination (reached neither old nor new)" when there are any */
function lostText(lost: number): string {
  return lost > 0 ? `; ${lost} lost / unknown destination (reached neither old nor new)` : "";
}

/** Every call of the phase reached `to` (and only it). A call no backend saw is lost, not misrouted. */
export function routingAssertion(
  p: PhaseEvidence,
  to: BackendRole,
  name = "routing",
  calls = sent(p.calls),
): Assertion {
  const other: BackendRole = to === "old" ? "new" : "old";
  const at = (c: CallEvidence): string => backendsOf(c.invite).join("+");
  const reached = calls.filter((c) => at(c) === to);
  const misrouted = calls.filter((c) => at(c) === other);
  const onBoth = calls.filter((c) => backendsOf(c.invite).length > 1);
  const lost = calls.filter((c) => backendsOf(c.invite).length === 0);
  const ok = reached.length === calls.length && calls.length > 0;
  return {
    phase: p.phase,
    name,
    verdict: verdictOf(ok, !p.backendLogs),
    details:
      `${reached.length}/${calls.length} calls reached ${to} only, ${misrouted.length} reached ${other}` +
      (misrouted.length > 0 ? ` (misrouted)` : "") +
      (onBoth.length > 0 ? `, ${onBoth.length} reached both` : "") +
      lostText(lost.length),
    numbers: {
      calls: calls.length,
      [`reached_${to}`]: reached.length,
      [`reached_${other}`]: misrouted.length,
      onBoth: onBoth.length,
      lost: lost.length,
    },
    offenders: listed(calls.filter((c) => !reached.includes(c)).map((c) => `${c.callId}: INVITE reached ${where(c)}`)),
  };
}

/** Every call completed: 2xx to INVITE and 2xx to BYE, and the UAC made every call it was asked to. */
export function completedAssertion(
  p: PhaseEvidence,
  expected = p.expectedCalls,
  calls = sent(p.calls),
  name = "completed",
): Assertion {
  const failed = calls.filter((c) => outcomeOf(c).outcome !== "completed");
  const completed = calls.length - failed.length;
  const ok = calls.length === expected && failed.length === 0;
  return {
    phase: p.phase,
    name,
    verdict: verdictOf(ok),
    details: `${completed}/${expected} calls completed (2xx to INVITE and BYE); ${calls.length} sent, ${failed.length} failed`,
    numbers: { expected, sent: calls.length, completed, failed: failed.length },
    offenders: listed(failed.map((c) => `${c.callId}: ${outcomeOf(c).reason ?? "did not complete"}`)),
  };
}

/** Zero calls lost: each Call-ID the UAC sent reached exactly one backend. */
export function noLostAssertion(p: PhaseEvidence, calls = sent(p.calls)): Assertion {
  const lost = calls.filter((c) => backendsOf(c.invite).length === 0);
  const doubled = calls.filter((c) => backendsOf(c.invite).length > 1);
  return {
    phase: p.phase,
    name: "no-lost",
    verdict: verdictOf(lost.length === 0 && doubled.length === 0, !p.backendLogs),
    details: `${calls.length - lost.length - doubled.length}/${calls.length} calls seen on exactly one backend; ${lost.length} lost / unknown destination (reached no backend), ${doubled.length} on both`,
    numbers: { sent: calls.length, lost: lost.length, onBoth: doubled.length },
    offenders: listed([...lost, ...doubled].map((c) => `${c.callId}: INVITE reached ${where(c)}`)),
  };
}

export function noUnexpectedAssertion(p: PhaseEvidence): Assertion {
  return {
    phase: p.phase,
    name: "no-unexpected",
    verdict: verdictOf(p.unexpected.length === 0, !p.backendLogs),
    details: `${p.unexpected.length} unexpected requests at the backends`,
    numbers: { unexpected: p.unexpected.length },
    offenders: listed(p.unexpected.map((u) => `${u.callId || "(no Call-ID)"}: ${u.method} at ${u.backend} (${u.why})`)),
  };
}

/** both: each backend got at least one call, and round-robin splits within +-1 call of even. */
export function splitAssertion(p: PhaseEvidence): Assertion {
  const calls = sent(p.calls);
  const old = calls.filter((c) => backendsOf(c.invite).join() === "old").length;
  const nw = calls.filter((c) => backendsOf(c.invite).join() === "new").length;
  const lost = calls.filter((c) => backendsOf(c.invite).length === 0).length;
  const ok = old >= 1 && nw >= 1 && Math.abs(old - nw) <= 1;
  return {
    phase: p.phase,
    name: "split",
    verdict: verdictOf(ok, !p.backendLogs),
    details: `split old ${old} / new ${nw} of ${calls.length} (round-robin: each >= 1, within +-1 of even)${lostText(lost)}`,
    numbers: { old, new: nw, calls: calls.length, difference: Math.abs(old - nw), lost },
    offenders: [],
  };
}

/** The seed's delta assertions, with its numbers (distinct INVITEs per backend in the phase's window). */
export function seedDeltaAssertion(p: PhaseEvidence, mode: "old" | "both" | "new"): Assertion {
  const d = p.inviteDelta;
  const n = p.expectedCalls;
  const [rule, ok] =
    mode === "old"
      ? [`old delta (${d.old}) >= expected (${n}), new delta (${d.new}) == 0`, d.old >= n && d.new === 0]
      : mode === "new"
        ? [`old delta (${d.old}) == 0, new delta (${d.new}) >= expected (${n})`, d.old === 0 && d.new >= n]
        : [`old delta (${d.old}) >= 1 and new delta (${d.new}) >= 1`, d.old >= 1 && d.new >= 1];
  return {
    phase: p.phase,
    name: "seed-delta",
    verdict: verdictOf(ok, !p.backendLogs),
    details: `${rule}; raw INVITE lines incl. retransmissions: old ${p.rawInviteDelta.old}, new ${p.rawInviteDelta.new}`,
    numbers: {
      expected: n,
      oldDelta: d.old,
      newDelta: d.new,
      oldRawInvites: p.rawInviteDelta.old,
      newRawInvites: p.rawInviteDelta.new,
    },
    offenders: [],
  };
}

/** The assertions of one routing phase (old, both, new). */
export function phaseAssertions(p: PhaseEvidence, mode: "old" | "both" | "new"): Assertion[] {
  return [
    ...(mode === "both" ? [splitAssertion(p)] : [routingAssertion(p, mode)]),
    completedAssertion(p),
    noLostAssertion(p),
    noUnexpectedAssertion(p),
    seedDeltaAssertion(p, mode),
  ];
}

export interface InflightEvidence {
  phase: PhaseEvidence;
  precheck: CallEvidence[];
  long: CallEvidence[];
  post: CallEvidence[];
  postExpected: number;
  /** SIPp timestamps (ms since epoch) of the cutover apply: started, verified */
  cutoverAtMs: number | undefined;
}

export function inflightAssertions(e: InflightEvidence): Assertion[] {
  const p = e.phase;
  const long = sent(e.long);
  const lc = long[0];
  const out: Assertion[] = [
    routingAssertion(p, "old", "precheck-reached-old", sent(e.precheck)),
    completedAssertion(p, 1, sent(e.precheck), "precheck-completed"),
    routingAssertion(p, "old", "long-call-reached-old", long),
  ];
  // the cutover happened while the long call was up: answered before, BYE after
  const answeredMs = stampMs(lc?.uac.inviteStatusStamp);
  const byeMs = stampMs(lc?.uac.byeSentStamp);
  const upAtCutover =
    e.cutoverAtMs !== undefined &&
    answeredMs !== undefined &&
    answeredMs < e.cutoverAtMs &&
    (byeMs === undefined || byeMs > e.cutoverAtMs);
  out.push({
    phase: p.phase,
    name: "cutover-while-long-call-up",
    verdict: verdictOf(upAtCutover),
    details:
      e.cutoverAtMs === undefined || answeredMs === undefined
        ? `the long call was ${answeredMs === undefined ? "never answered" : "answered"}; cutover ${e.cutoverAtMs === undefined ? "not applied" : "applied"}`
        : `long call answered ${Math.round(e.cutoverAtMs - answeredMs)} ms before the cutover; BYE sent ${byeMs === undefined ? "never" : `${Math.round(byeMs - e.cutoverAtMs)} ms after it`}`,
    numbers: {
      answeredBeforeCutoverMs:
        answeredMs !== undefined && e.cutoverAtMs !== undefined ? Math.round(e.cutoverAtMs - answeredMs) : -1,
      byeAfterCutoverMs: byeMs !== undefined && e.cutoverAtMs !== undefined ? Math.round(byeMs - e.cutoverAtMs) : -1,
    },
    offenders: [],
  });
  const post = sent(e.post);
  out.push(routingAssertion(p, "new", "post-cutover-reached-new", post));
  out.push(completedAssertion(p, e.postExpected, post, "post-cutover-completed"));
  out.push(completedAssertion(p, 1, long, "long-call-completed"));
  // the dialog stayed where it was set up: its BYE reached OLD (and not new), the very instance
  // that answered the INVITE (a restarted old backend holds no dialog)
  const byeAt = lc ? backendsOf(lc.bye) : [];
  const tie = lc ? byeTie(lc) : undefined;
  // old's own answer to it: a 2xx in the dialog the INVITE's 2xx set up (its To-tag)
  const oldAnswer = lc?.bye.old?.answer;
  const inDialog =
    oldAnswer !== undefined &&
    oldAnswer.status >= 200 &&
    oldAnswer.status < 300 &&
    oldAnswer.toTag !== undefined &&
    oldAnswer.toTag === lc?.uac.dialogToTag;
  const sameDialog = tie?.kind === "same" && tie.home === "old";
  const byeOk = lc !== undefined && byeAt.join() === "old" && sameDialog && inDialog;
  const byeText = byeAt.join("+") || "no backend";
  const byeDetails = !lc
    ? "no long call was made"
    : tie?.kind === "other-instance" && byeAt.join() === "old"
      ? `the long call's BYE reached old, but ${otherInstanceText(tie.note)}`
      : tie?.kind === "not-held" && byeAt.join() === "old"
        ? "the long call's BYE reached old, but old answered it 481: it does not hold the dialog (restarted?)"
        : sameDialog && byeAt.join() === "old" && !inDialog
          ? `the long call's BYE reached old, but old's answer was ${oldAnswer ? `${oldAnswer.status} with To-tag ${oldAnswer.toTag ?? "(none)"}` : "not seen"}, not a 2xx in the dialog (To-tag ${lc.uac.dialogToTag ?? "(none)"})`
          : byeOk
            ? `the long call's BYE reached old, the instance that answered its INVITE, and old answered ${oldAnswer.status} in the dialog (To-tag ${oldAnswer.toTag}) (in-dialog requests follow the route set, not the dispatcher)`
            : `the long call's BYE reached ${byeText} (expected old: in-dialog requests follow the route set, not the dispatcher)`;
  out.push({
    phase: p.phase,
    name: "long-call-bye-reached-old",
    verdict: verdictOf(byeOk, !p.backendLogs),
    details: byeDetails,
    numbers: {
      byeAtOld: lc?.bye.old ? 1 : 0,
      byeAtNew: lc?.bye.new ? 1 : 0,
      sameInstance: tie?.kind === "same" ? 1 : 0,
    },
    offenders:
      lc && !byeOk
        ? [
            `${lc.callId}: BYE reached ${byeText}${tie?.kind === "other-instance" ? `, but ${otherInstanceText(tie.note)}` : tie?.kind === "not-held" ? ", which answered it 481" : ""}`,
          ]
        : [],
  });
  out.push(noLostAssertion(p));
  out.push(noUnexpectedAssertion(p));
  return out;
}

/** The text of <phase>.assertions.txt: one block per assertion, numbers included. */
export function renderAssertions(phase: SimPhase, list: Assertion[], notes: string[] = []): string {
  const lines = [`# ${phase} assertions`, ...notes.map((n) => `# ${n}`)];
  for (const a of list) {
    lines.push(`${a.verdict.toUpperCase().padEnd(12)} ${a.name}: ${a.details}`);
    for (const o of a.offenders) lines.push(`    ${o}`);
  }
  const failed = list.filter((a) => a.verdict !== "pass").length;
  lines.push(
    failed === 0
      ? `RESULT: PASS (${list.length} assertions)`
      : `RESULT: FAIL (${failed} of ${list.length} assertions did not pass)`,
  );
  return lines.join("\n") + "\n";
}
