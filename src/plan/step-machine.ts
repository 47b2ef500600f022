/**
 * The plan runner's decisions (pure): `next(state, observation) -> { state, action }`. No I/O, no
 * clock: the effectful loop (runner.ts) performs each action and feeds back what it observed.
 *
 *   start                      -> apply(0)
 *   applied(i)                 -> hold(i) when the step holds, else evaluate(i) / advance(i)
 *   held(i)                    -> evaluate(i) when the step has gates, else advance(i)
 *   hold-failed(i)             -> rollback(to the last good step)   (the caller's traffic for the hold
 *                                 could not run, e.g. SIPp could not start: nothing to judge the step on)
 *   evaluated fail during hold -> rollback (a gate watched live failed before the hold ended)
 *   evaluated pass | none      -> advance(i)            (none: nothing could be evaluated, e.g. no traffic)
 *   evaluated inconclusive     -> hold(i) again while extensions remain (onInconclusive=extend), else fail;
 *                                 pause(i) (onInconclusive=pause): the operator decides, routing unchanged
 *   resumed (after a pause)    -> hold(i) again, one more extension (the operator's: no maxExtensions)
 *   promoted (after a pause)   -> advance(i): the step passes on the operator's word
 *   evaluated fail             -> rollback(to the last good step)
 *   advanced(i)                -> apply(i+1), or done(pass) after the last step
 *   apply-failed(i)            -> rollback(to the last good step)   (verifiedApply restored already; this
 *                                 makes sure the runtime is the last good step, with the same apply)
 *   restarted(i)               -> rollback(to the last good step)   (the node's Kamailio restarted since the
 *                                 run began: its runtime went back to its durable list, and the step's
 *                                 window spans the restart, so it cannot pass)
 *   abort (Ctrl-C, operator)   -> rollback(to the last good step), never a half state
 *   rolled-back                -> done(fail | aborted)
 *   rollback-failed            -> done(fail) with both reasons
 *
 * A step is good once it has passed (held and gated); the step being held is not good yet. Before the
 * first step has passed, "the last good step" is the list that ran before the plan (index -1).
 */

export interface MachineStep {
  /** how long the step holds after its verified apply (0 = no hold) */
  holdMs: number;
  /** calls the step's window must route before the hold ends (0 or undefined = none; the runner counts) */
  minCalls?: number;
  hasGates: boolean;
  onInconclusive: "extend" | "pause" | "fail";
  maxExtensions: number;
}

/** the list that ran before the plan */
export const BEFORE_PLAN = -1;

export type Outcome = "pass" | "fail" | "aborted";

export interface MachineState {
  steps: readonly MachineStep[];
  /** the step being applied, held or evaluated */
  index: number;
  /** the last step that passed; BEFORE_PLAN when none has */
  lastGood: number;
  /** extensions used on the current step */
  extensions: number;
  /** why the run is failing or aborting (set with the rollback) */
  failure: { outcome: Exclude<Outcome, "pass">; reason: string } | undefined;
  /** the step is paused by the plan (inconclusive gates), waiting for the operator */
  pausedOn: number | undefined;
  finished: boolean;
}

export type Observation =
  | { kind: "start" }
  | { kind: "applied" }
  | { kind: "apply-failed"; reason: string }
  | { kind: "held" }
  | { kind: "hold-failed"; reason: string }
  | { kind: "evaluated"; verdict: "pass" | "fail" | "inconclusive" | "none"; reason?: string }
  | { kind: "advanced" }
  | { kind: "abort"; reason: string }
  | { kind: "rolled-back" }
  | { kind: "rollback-failed"; reason: string }
  /** the target's Kamailio is not the process the run started on (src/observe/restart-watch.ts) */
  | { kind: "restarted"; reason: string }
  /** the operator resumed a step the plan paused (inconclusive gates): hold it again */
  | { kind: "resumed" }
  /** the operator promoted a step the plan paused: it passes as it is */
  | { kind: "promoted" };

export type Action =
  | { kind: "apply"; step: number }
  | { kind: "hold"; step: number; ms: number; extension: number }
  | { kind: "evaluate"; step: number }
  /** the step's gates are inconclusive and its plan says pause: wait for resume / promote / abort */
  | { kind: "pause"; step: number; reason: string }
  | { kind: "advance"; step: number }
  | { kind: "rollback"; from: number; to: number; reason: string }
  | { kind: "done"; outcome: Outcome; reason: string | undefined };

export function initialState(steps: readonly MachineStep[]): MachineState {
  return {
    steps,
    index: 0,
    lastGood: BEFORE_PLAN,
    extensions: 0,
    failure: undefined,
    pausedOn: undefined,
    finished: false,
  };
}

type Step = { state: MachineState; action: Action };

function afterHold(s: MachineState): Step {
  const step = s.steps[s.index]!;
  return { state: s, action: step.hasGates ? { kind: "evaluate", step: s.index } : { kind: "advance", step: s.index } };
}

function rollback(s: MachineState, outcome: Exclude<Outcome, "pass">, reason: string): Step {
  const state = { ...s, failure: { outcome, reason } };
  return { state, action: { kind: "rollback", from: s.index, to: s.lastGood, reason } };
}

function done(s: MachineState, outcome: Outcome, reason: string | undefined): Step {
  return { state: { ...s, finished: true }, action: { kind: "done", outcome, reason } };
}

export function next(s: MachineState, o: Observation): Step {
  if (s.finished) throw new Error(`step machine: observation ${o.kind} after done`);
  if (s.steps.length === 0) return done(s, "pass", undefined);
  // an abort wins over anything but a rollback already under way
  if (o.kind === "abort") {
    if (s.failure !== undefined)
      return { state: s, action: { kind: "rollback", from: s.index, to: s.lastGood, reason: s.failure.reason } };
    return rollback(s, "aborted", o.reason);
  }
  const step = s.steps[s.index]!;
  switch (o.kind) {
    case "start":
      return { state: s, action: { kind: "apply", step: 0 } };
    case "applied":
      if (step.holdMs > 0 || (step.minCalls ?? 0) > 0)
        return { state: s, action: { kind: "hold", step: s.index, ms: step.holdMs, extension: 0 } };
      return afterHold(s);
    case "apply-failed":
      return rollback(s, "fail", `step ${s.index + 1}: apply failed: ${o.reason}`);
    case "held":
      return afterHold(s);
    case "hold-failed":
    case "restarted":
      return rollback(s, "fail", `step ${s.index + 1}: ${o.reason}`);
    case "evaluated":
      if (o.verdict === "pass" || o.verdict === "none") return { state: s, action: { kind: "advance", step: s.index } };
      if (o.verdict === "fail")
        return rollback(s, "fail", `step ${s.index + 1}: gates failed${o.reason ? `: ${o.reason}` : ""}`);
      if (step.onInconclusive === "pause") {
        return {
          state: { ...s, pausedOn: s.index },
          action: { kind: "pause", step: s.index, reason: o.reason ?? "gates inconclusive" },
        };
      }
      if (step.onInconclusive === "extend" && s.extensions < step.maxExtensions) {
        const extensions = s.extensions + 1;
        // an extension holds the step's hold again (at least 1 ms, so a hold action always waits)
        return {
          state: { ...s, extensions },
          action: { kind: "hold", step: s.index, ms: Math.max(1, step.holdMs), extension: extensions },
        };
      }
      return rollback(
        s,
        "fail",
        `step ${s.index + 1}: gates inconclusive${o.reason ? ` (${o.reason})` : ""}` +
          (step.onInconclusive === "extend" ? ` after ${s.extensions} extension(s)` : ""),
      );
    case "advanced": {
      const state = { ...s, lastGood: s.index, extensions: 0 };
      if (s.index + 1 >= s.steps.length) return done(state, "pass", undefined);
      return { state: { ...state, index: s.index + 1 }, action: { kind: "apply", step: s.index + 1 } };
    }
    case "resumed": {
      if (s.pausedOn !== s.index) throw new Error("step machine: resumed without a pause");
      const extensions = s.extensions + 1;
      return {
        state: { ...s, pausedOn: undefined, extensions },
        action: { kind: "hold", step: s.index, ms: Math.max(1, step.holdMs), extension: extensions },
      };
    }
    case "promoted":
      if (s.pausedOn !== s.index) throw new Error("step machine: promoted without a pause");
      return { state: { ...s, pausedOn: undefined }, action: { kind: "advance", step: s.index } };
    case "rolled-back":
      if (s.failure === undefined) throw new Error("step machine: rolled-back without a rollback");
      return done(s, s.failure.outcome, s.failure.reason);
    case "rollback-failed":
      return done(
        s,
        "fail",
        `${s.failure?.reason ?? "rollback"}; putting back the last good step failed too: ${o.reason}`,
      );
    default:
      return assertNeverObservation(o);
  }
}

function assertNeverObservation(x: never): never {
  throw new Error(`step machine: unhandled observation ${JSON.stringify(x)}`);
}
