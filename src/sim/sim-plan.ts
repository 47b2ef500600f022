/**
 * sim's phases as plan steps (pure). The seed's routing phases are the steps of a plan run by the one
 * plan runner (src/plan/runner.ts), the default plan being the seed's old -> both -> new (weights 0,
 * 50, 100; 50 is round-robin's `both`). Each step's hold is its burst of CALLS_PER_PHASE calls, and
 * its phase names what the seed names after it: `<phase>.assertions.txt`, `<phase>.uac.log`,
 * `<phase>.uas-*.messages.log`, the junit suite, the `phase` events. Phase <-> step, both ways.
 *
 * A step sim cannot judge is refused here (exit 2, before anything starts): a weight that is no phase
 * (the seed's assertions exist for 0, 50 and 100 only; `both`'s split assertion is round-robin's),
 * and metric gates (sim judges a step by the seed's assertions; gates on sim's bursts are not built).
 */
import { UsageError } from "../core/errors.js";
import type { SimPhase, Verdict } from "../events/run-events.js";
import type { MachineStep } from "../plan/step-machine.js";
import type { Plan, PlanStep } from "../plan/plan.js";

/** the phases a plan step can be (the in-flight cutover runs after the plan; it is not a step) */
export type RoutingPhase = Extract<SimPhase, "old" | "both" | "new">;

/** the new backend's weight in each routing phase */
export const PHASE_WEIGHT: Readonly<Record<RoutingPhase, number>> = { old: 0, both: 50, new: 100 };

/** The phase a step is, by its weight (0 old, 50 both, 100 new); undefined for any other weight. */
export function phaseOfStep(s: Pick<PlanStep, "weightNew">): RoutingPhase | undefined {
  return (Object.keys(PHASE_WEIGHT) as RoutingPhase[]).find((p) => PHASE_WEIGHT[p] === s.weightNew);
}

/** The new backend's weight of a phase's step. */
export function weightOfPhase(p: RoutingPhase): number {
  return PHASE_WEIGHT[p];
}

/** One step of sim's plan: its phase and what the runner's step machine needs of it. */
export interface SimStep {
  phase: RoutingPhase;
  weightNew: number;
  /** the step's burst: CALLS_PER_PHASE calls */
  calls: number;
  machine: MachineStep;
}

/** A plan as sim runs it: where it came from and its steps. */
export interface SimPlan {
  source: string;
  steps: SimStep[];
}

/**
 * A plan's steps as sim runs them. The hold is the step's burst (minCalls = the burst's calls; a
 * durationS holds at least that long too); `hasGates` so the runner asks sim for the step's verdict
 * (the seed's assertions, reported on the gates event as no metric gates). UsageError (exit 2) for a
 * step sim cannot judge, naming every one.
 */
export function simPlan(plan: Plan, callsPerPhase: number): SimPlan {
  const problems = plan.steps.flatMap((s, i) => [
    ...(phaseOfStep(s) === undefined
      ? [`step ${i + 1} (weight ${s.weightNew}) is no sim phase: sim's steps are 0 (old), 50 (both) and 100 (new)`]
      : []),
    ...(s.gates.length > 0
      ? [
          `step ${i + 1} has metric gates: sim judges its steps by the seed's assertions; gates on sim's bursts are not built`,
        ]
      : []),
  ]);
  if (problems.length > 0) {
    throw new UsageError(`${plan.source}: not a plan sim can run; nothing was started`, problems);
  }
  const steps = plan.steps.map((s) => ({
    phase: phaseOfStep(s)!,
    weightNew: s.weightNew,
    calls: callsPerPhase,
    machine: {
      holdMs: (s.hold.durationS ?? 0) * 1000,
      minCalls: callsPerPhase,
      hasGates: true,
      onInconclusive: s.onInconclusive,
      maxExtensions: s.maxExtensions,
    },
  }));
  return { source: plan.source, steps };
}

/**
 * What the runner's `gates` event says of a sim step: no metric gates; the seed's assertions of its
 * phase, counted. A failing assertion fails the run (exit 1) but does not roll the step back: a
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
