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
import { callRecordsOf } from "../evidence/call-record.js";
import { backendsOf } from "../evidence/outcome.js";
import { firstFailingCall } from "../gates/failing-calls.js";
import { evaluateGates, gateRows } from "../gates/gate.js";
import { backendMetrics } from "../gates/metrics.js";
import { EDGE_SELECTIONS, splitCheck } from "../gates/split-check.js";
import type { GateResult } from "../plan/runner.js";
import { isSeedPhase, stepVerdictDetail, type SimStep } from "./sim-plan.js";

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
): GateResult {
  if (step.gates.length === 0) return { verdict: "none", detail: stepVerdictDetail(step.phase, assertions) };
  const { records, unrouted } = callRecordsOf(sent(calls));
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
  const first = firstFailingCall(gates.results, records);
  return {
    verdict,
    detail: parts.join("; "),
    gates: gateRows(gates.results),
    ...(first !== undefined ? { firstFailingCallMs: first.inviteSentMs } : {}),
  };
}
