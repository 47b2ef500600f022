/**
 * A sim step's verdicts (pure), both views of the same calls of the book: its assertions (the seed's
 * for old, both and new; for a weighted step the split within the bound the dispatcher algorithm
 * guarantees, as migrate checks it, plus completed, no-lost, no-unexpected) and, when the plan gives it
 * metric gates, the gates on the step's records (RFC 6076, src/gates/): the runner's verdict on the
 * step, which rolls the plan back when it fails. A gate below its minimum sample stays inconclusive.
 */
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import {
  completedAssertion,
  noLostAssertion,
  noUnexpectedAssertion,
  phaseAssertions,
  type Assertion,
  type PhaseEvidence,
} from "../evidence/assertions.js";
import type { CallEvidence } from "../evidence/call.js";
import { callRecordsOf, type CallAudio, type CallRecord } from "../evidence/call-record.js";
import { backendsOf } from "../evidence/outcome.js";
import { firstFailingCall } from "../gates/failing-calls.js";
import { evaluateGates, gateRows, type GateResult as GateEval } from "../gates/gate.js";
import { backendMetrics } from "../gates/metrics.js";
import { EDGE_SELECTIONS, splitCheck } from "../gates/split-check.js";
import type { GateResult } from "../plan/runner.js";
import { isSeedPhase, stepVerdictDetail, type SimStep } from "./sim-plan.js";

/** A call's audio as the gates count it, and why it is one-way (undefined: both ways). */
export interface CallAudioVerdict {
  audio: CallAudio;
  why: string | undefined;
}

/** how many one-way calls a failed media gate names in the step's verdict (media-both-ways names them all) */
const ONE_WAY_NAMED = 3;

/**
 * A failed one_way_calls gate's calls, each with its direction and counts: `one-way calls of new:
 * <Call-ID>: PBX->caller 0 packets from ... (expected >= 45 of 49); ...`.
 */
function oneWayCallsText(
  results: readonly GateEval[],
  records: readonly CallRecord[],
  audio: (callId: string) => CallAudioVerdict | undefined,
): string | undefined {
  const failed = results.filter((r) => r.verdict === "fail" && r.gate.metric === "one_way_calls");
  const backends = [...new Set(failed.flatMap((r) => (r.gate.kind === "threshold" ? [r.gate.backend] : [])))];
  const texts = backends.flatMap((b) => {
    const named = records
      .filter((r) => r.backend === b && r.media?.oneWay === true)
      .map((r) => `${r.callId}: ${audio(r.callId)?.why ?? "one-way"}`);
    if (named.length === 0) return [];
    const more = named.length > ONE_WAY_NAMED ? `; and ${named.length - ONE_WAY_NAMED} more` : "";
    return [`one-way calls of ${b}: ${named.slice(0, ONE_WAY_NAMED).join("; ")}${more}`];
  });
  return texts.length > 0 ? texts.join("; ") : undefined;
}

/** The calls the UAC placed (the others were seen only at a backend: unexpected). */
function sent(calls: readonly CallEvidence[]): CallEvidence[] {
  return calls.filter((c) => c.uac.inviteSentStamp !== undefined);
}

/** A weighted step's split: the calls that reached one backend, new's share within the algorithm's bound. */
export function weightedSplitAssertion(p: PhaseEvidence, weightNew: number, algorithm: DispatcherAlgorithm): Assertion {
  const calls = sent(p.calls);
  const at = calls.map((c) => backendsOf(c.invite));
  const toOld = at.filter((b) => b.join() === "old").length;
  const toNew = at.filter((b) => b.join() === "new").length;
  const s = splitCheck({ algorithm, weightNew, toOld, toNew, otherSelections: EDGE_SELECTIONS });
  return {
    phase: p.phase,
    name: "split",
    verdict: p.backendLogs ? s.verdict : "inconclusive",
    details: s.detail,
    numbers: { calls: s.calls, toNew: s.toNew, boundMin: s.bound.min, boundMax: s.bound.max },
    offenders: [],
  };
}

/** The assertions of a plan step's phase. */
export function stepAssertions(p: PhaseEvidence, step: SimStep, algorithm: DispatcherAlgorithm): Assertion[] {
  if (isSeedPhase(step.phase)) return phaseAssertions(p, step.phase);
  return [
    weightedSplitAssertion(p, step.weightNew, algorithm),
    completedAssertion(p),
    noLostAssertion(p),
    noUnexpectedAssertion(p),
  ];
}

/**
 * The runner's verdict on a step: without gates none (the assertions decide the exit code, as the
 * seed's rehearsal does); with gates, the gates on the step's records, failed too by a split outside
 * its bound or a call no backend received (as migrate judges a step window).
 */
export function simStepVerdict(
  step: SimStep,
  calls: readonly CallEvidence[],
  assertions: readonly Assertion[],
  audio: (callId: string) => CallAudioVerdict | undefined = () => undefined,
): GateResult {
  if (step.gates.length === 0) return { verdict: "none", detail: stepVerdictDetail(step.phase, assertions) };
  const { records: signalled, unrouted } = callRecordsOf(sent(calls));
  const records = signalled.map((r) => {
    const a = audio(r.callId);
    return a ? { ...r, media: a.audio } : r;
  });
  const metrics = { old: backendMetrics(records, "old"), new: backendMetrics(records, "new") };
  const gates = evaluateGates(step.gates, metrics, step.weightNew);
  let verdict: GateResult["verdict"] = gates.verdict;
  const parts = [gates.summary];
  const split = assertions.find((a) => a.name === "split" || a.name === "routing");
  if (split !== undefined) {
    parts.push(`${split.name} ${split.verdict}: ${split.details}`);
    if (split.verdict === "fail") verdict = "fail";
  }
  if (unrouted.length > 0) {
    parts.push(`${unrouted.length} call(s) reached no backend`);
    verdict = "fail";
  }
  // the one-way calls last: the step's verdict line ends naming them, their direction and counts
  const oneWay = oneWayCallsText(gates.results, records, audio);
  if (oneWay !== undefined) parts.push(oneWay);
  const first = firstFailingCall(gates.results, records);
  return {
    verdict,
    detail: parts.join("; "),
    gates: gateRows(gates.results),
    ...(first !== undefined ? { firstFailingCallMs: first.inviteSentMs } : {}),
  };
}
