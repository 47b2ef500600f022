/**
 * A gate's rollback, link by link (pure): when each step of the chain from the first failing call to
 * restored routing happened, and the time between consecutive links. The live gates give the first
 * links (the decision), the runner its own (noticing, taking new out, starting the rollback) and the
 * rollback's verified apply the rest (from its timings):
 *
 *   first failing call's INVITE -> its final answer -> the answer that decided the gate -> the capture
 *   handing it to the gates -> the verdict -> the runner acting on it -> [the take-out's set_state sent
 *   -> new read back out of selection: traffic stopped] -> the rollback's apply starting -> list file
 *   written -> the accepted dispatcher.reload sent -> its reply -> runtime read back equal to the last
 *   good step (restored)
 *
 * Times are epoch ms; Kamailio's HEP times and this process's clock are the same host's wall clock.
 */
import type { ApplyOutcome } from "../apply/apply.js";

/** How a live gate's fail came about (epoch ms): the first links of the chain. */
export interface DecisionMarks {
  /** the first failing call's final answer, as Kamailio sent it to the caller (HEP time) */
  firstFailingAnswerMs?: number;
  /** the answer (or timeout) that decided the gate (HEP time) */
  decidingAnswerMs: number;
  /** the capture handed that message to the gates */
  decidingSeenMs: number;
  /** the gates' verdict on it */
  verdictMs: number;
}

/** The take-out's two links (epoch ms): its first set_state sent, new read back out of selection. */
export interface TakeOutMarks {
  takeOutSentMs: number;
  stoppedMs: number;
}

export interface ReactionChain extends Partial<DecisionMarks>, Partial<TakeOutMarks> {
  firstFailingInviteMs: number;
  noticedMs: number;
  applyStartMs: number;
  writtenMs: number;
  reloadSentMs: number;
  reloadAnsweredMs: number;
  restoredMs: number;
}

/** The links from the decision, the runner and the rollback's verified apply (its timings). */
export function reactionChain(
  firstFailingInviteMs: number,
  decided: DecisionMarks | undefined,
  noticedMs: number,
  applyStartMs: number,
  out: Pick<ApplyOutcome, "timings" | "reload">,
  restoredMs: number,
  takeOut?: TakeOutMarks,
): ReactionChain {
  const t = out.timings;
  const writtenMs = applyStartMs + t.lockMs + t.backupMs + t.writeMs;
  const reloadAnsweredMs = writtenMs + t.reloadMs;
  const reloadSentMs = reloadAnsweredMs - (out.reload?.lastAttemptMs ?? t.reloadMs);
  // the apply's links from its own durations, so they are in order whatever the clocks' resolution
  return {
    firstFailingInviteMs,
    ...(decided ?? {}),
    noticedMs,
    ...(takeOut ?? {}),
    applyStartMs,
    writtenMs,
    reloadSentMs,
    reloadAnsweredMs,
    restoredMs: Math.max(restoredMs, reloadAnsweredMs + t.verifyMs),
  };
}

/** The segments, in chain order: each named after where it ends. */
export const REACTION_SEGMENTS = [
  { key: "firstFailingAnswerMs", name: "answer", label: "first failing call: INVITE -> its final answer" },
  { key: "decidingAnswerMs", name: "evidence", label: "evidence: until the answer that decided the gate" },
  { key: "decidingSeenMs", name: "mirror", label: "HEP: Kamailio's mirror -> handed to the gates" },
  { key: "verdictMs", name: "verdict", label: "the gates evaluated on it" },
  { key: "noticedMs", name: "notice", label: "the runner acting on the verdict" },
  { key: "takeOutSentMs", name: "stop-start", label: "to the take-out's dispatcher.set_state" },
  { key: "stoppedMs", name: "stop", label: "set_state d + read back: traffic to new stopped" },
  { key: "applyStartMs", name: "start", label: "to the rollback's verified apply" },
  { key: "writtenMs", name: "write", label: "lock, backup (file + dispatcher.list), list file written" },
  { key: "reloadSentMs", name: "guard", label: "reload guard: refused reloads waited out (reload_delta)" },
  { key: "reloadAnsweredMs", name: "reload", label: "dispatcher.reload answered" },
  { key: "restoredMs", name: "verify", label: "read back (file + dispatcher.list): routing restored" },
] as const;

export type ReactionSegmentName = (typeof REACTION_SEGMENTS)[number]["name"];

/**
 * Time between consecutive links present (ms). A link that is missing (a gate that failed at the hold's
 * end has no live decision) merges its time into the next segment present.
 */
export function reactionSegments(c: ReactionChain): Partial<Record<ReactionSegmentName, number>> {
  const out: Partial<Record<ReactionSegmentName, number>> = {};
  let prev = c.firstFailingInviteMs;
  for (const s of REACTION_SEGMENTS) {
    const at = c[s.key];
    if (at === undefined) continue;
    out[s.name] = at - prev;
    prev = at;
  }
  return out;
}

/** One line: "answer 3 ms, evidence 180 ms, ..." */
export function reactionText(segments: Partial<Record<ReactionSegmentName, number>>): string {
  return REACTION_SEGMENTS.filter((s) => segments[s.name] !== undefined)
    .map((s) => `${s.name} ${segments[s.name]!.toFixed(0)} ms`)
    .join(", ");
}
