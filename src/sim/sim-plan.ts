/**
 * sim's phases as plan steps (pure). Every step of a plan is a phase of sim, run by the one plan
 * runner (src/plan/runner.ts): the default plan is the seed's old -> both -> new (weights 0, 50, 100;
 * 50 is round-robin's `both`); a `--steps` or `--plan` plan's step is `old` (0), `new` (100), `both`
 * (50 on a round-robin lab) or `new<W>` (new10: new at 10 %, on a weight-based lab). Each step's hold is
 * its burst of calls: the step's `hold.minCalls`, else CALLS_PER_PHASE, and a step with gates at least
 * what they need to decide on both backends (stepMinCalls: new=10% 200). A burst of N calls is a hold of
 * N calls; a step held again (inconclusive gates, onInconclusive: extend) places one more burst. The phase names the step's files: `<phase>.assertions.txt`,
 * `<phase>.uac.log`, `<phase>.uas-*.messages.log`, the junit suite, the `phase` events.
 *
 * A step sim cannot split is refused here (exit 2, before anything starts): weights other than 0, 50 and
 * 100 on a round-robin lab (the check `plan --dry-run` and migrate make).
 */
import type { RoutingPhase, Verdict } from "../events/run-events.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import { stepMinCalls, type GateSpec } from "../gates/gate.js";
import { checkPlanForAlgorithm } from "../plan/dry-run.js";
import type { MachineStep } from "../plan/step-machine.js";
import type { Plan, PlanStep } from "../plan/plan.js";

/** The phase a step is: old (0), new (100), both (50 on round-robin), new<W> otherwise. */
export function phaseOfStep(s: Pick<PlanStep, "weightNew">, algorithm: DispatcherAlgorithm): RoutingPhase {
  if (s.weightNew === 0) return "old";
  if (s.weightNew === 100) return "new";
  if (s.weightNew === 50 && algorithm === 4) return "both";
  return `new${s.weightNew}`;
}

/** The seed's phases (their own assertions: routing, or round-robin's split for both). */
export function isSeedPhase(p: RoutingPhase): p is "old" | "both" | "new" {
  return p === "old" || p === "both" || p === "new";
}

/** One step of sim's plan: its phase and what the runner's step machine needs of it. */
export interface SimStep {
  phase: RoutingPhase;
  weightNew: number;
  /** the step's burst: hold.minCalls, else CALLS_PER_PHASE */
  calls: number;
  /** the step's metric gates, judged on its calls (none in the default plan) */
  gates: GateSpec[];
  machine: MachineStep;
}

/** A plan as sim runs it: where it came from, the target's dispatcher algorithm and its steps. */
export interface SimPlan {
  source: string;
  algorithm: DispatcherAlgorithm;
  steps: SimStep[];
}

/**
 * A plan's steps as sim runs them. The hold is the step's burst (minCalls = the burst's calls; a
 * durationS holds at least that long too); `hasGates` so the runner asks sim for the step's verdict
 * (its gates, or without gates the seed's assertions, reported as no metric gates). UsageError (exit 2)
 * for weights the lab's algorithm cannot split.
 */
export function simPlan(plan: Plan, callsPerPhase: number, algorithm: DispatcherAlgorithm): SimPlan {
  checkPlanForAlgorithm(plan, algorithm);
  const steps = plan.steps.map((s) => {
    // a gated step places at least what its gates need to decide
    const calls =
      s.hold.minCalls ?? (s.gates.length > 0 ? Math.max(callsPerPhase, stepMinCalls(s.weightNew)) : callsPerPhase);
    return {
      phase: phaseOfStep(s, algorithm),
      weightNew: s.weightNew,
      calls,
      gates: [...s.gates],
      machine: {
        holdMs: (s.hold.durationS ?? 0) * 1000,
        minCalls: calls,
        hasGates: true,
        onInconclusive: s.onInconclusive,
        maxExtensions: s.maxExtensions,
      },
    };
  });
  return { source: plan.source, algorithm, steps };
}

/**
 * What the runner's `gates` event says of a sim step without metric gates: the seed's assertions of
 * its phase, counted. A failing assertion fails the run (exit 1) but does not roll the step back: a
 * rehearsal runs every phase and reports all of them, as the seed does.
 */
export function stepVerdictDetail(phase: RoutingPhase, verdicts: readonly { verdict: Verdict }[]): string {
  const n = (v: Verdict): number => verdicts.filter((a) => a.verdict === v).length;
  const judged =
    verdicts.length === 0
      ? `no assertions of phase ${phase} were judged`
      : `${n("pass")} of ${verdicts.length} assertions of phase ${phase} passed` +
        (n("fail") > 0 ? `, ${n("fail")} failed` : "") +
        (n("inconclusive") > 0 ? `, ${n("inconclusive")} inconclusive` : "") +
        ` (${phase}.assertions.txt)`;
  return `no metric gates in sim's plan; ${judged}; the assertions decide the exit code, not the routing`;
}
