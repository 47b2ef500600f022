/**
 * How a plan step holds (the runner's strategy for its `hold` action): by time alone, by time and
 * the calls a live watch sees routed (a gate failing live ends it at once), or by the caller's own
 * burst of calls (sim). A strategy only waits and says how the wait ended; the runner logs, records
 * and turns that into the step machine's observation.
 */
import { delay } from "../core/scope.js";
import type { HoldEnd, RunControl } from "../control/run-control.js";
import type { GateRow } from "../events/run-events.js";
import type { DecisionMarks } from "./reaction.js";

/** How often a watched hold asks for the window's calls and an early failing gate. */
export const WATCH_MS = 100;

export interface GateResult {
  verdict: "pass" | "fail" | "inconclusive" | "none";
  /** the numbers, or why nothing was evaluated */
  detail: string;
  /** a failed gate: when the first call that counts against it sent its INVITE (epoch ms) */
  firstFailingCallMs?: number;
  /** each gate's row with its numbers (live traffic); absent when nothing was evaluated */
  gates?: GateRow[];
  /** a gate that failed live (during the hold): when the evidence decided it */
  decided?: DecisionMarks;
}

/** What a hold sees of the step's window while it waits (live traffic). */
export interface WindowWatch {
  /** calls routed in the step's window so far */
  routed: number;
  /** set when a gate already fails on the calls concluded so far: the step fails without waiting */
  failed?: GateResult;
}

/** One hold of step `step` (0-based): its time, the calls it waits for, which extension it is. */
export interface HoldRequest {
  step: number;
  ms: number;
  calls: number;
  extension: number;
  /** the run's control: the hold's clock runs through it (pause stops it, promote ends it, abort) */
  control: RunControl;
  /** the scope's signal (Ctrl-C) */
  signal: AbortSignal;
}

/** How a hold ended. */
export type HoldResult =
  /** its time (and calls) are over */
  | { end: "held" }
  /** the operator skipped the rest of it */
  | { end: "promoted" }
  /** the clock or the signal ended it before its time */
  | { end: "interrupted" }
  /** a gate failed during it; noticedMs = when the hold saw the verdict */
  | { end: "gates-failed"; gate: GateResult; noticedMs: number }
  /** the caller's traffic for the hold could not run */
  | { end: "failed"; error: unknown };

export interface HoldStrategy {
  /** what the hold waits for besides its time, for the log ("" = time alone) */
  describe(calls: number): string;
  hold(h: HoldRequest): Promise<HoldResult>;
}

const fromClock = (end: HoldEnd): HoldResult =>
  end === "promoted" ? { end: "promoted" } : end === "aborted" ? { end: "interrupted" } : { end: "held" };

/** The step holds for its time alone. */
export const timeHold: HoldStrategy = {
  describe: () => "",
  hold: async (h) => fromClock(await h.control.hold(h.step + 1, h.ms, h.extension, h.signal)),
};

/**
 * Live traffic: the hold lasts until its time has passed AND `watch` saw the window route the calls
 * it waits for; a gate that fails meanwhile (from `watch`, or `whenFailed` resolving) ends it at once,
 * even while paused.
 */
export function watchedHold(
  watch: (step: number) => WindowWatch,
  whenFailed?: (step: number) => Promise<GateResult>,
): HoldStrategy {
  return {
    describe: (calls) => (calls > 0 ? `${calls} calls routed` : ""),
    async hold(h) {
      const stop = new AbortController();
      let clockEnd: HoldEnd | undefined;
      const clock = h.control
        .hold(h.step + 1, h.ms, h.extension, AbortSignal.any([h.signal, stop.signal]))
        .then((e) => (clockEnd = e));
      // a gate failing live wakes the hold at once; the tick is for the calls routed and timeouts
      let liveFail: GateResult | undefined;
      const failedLive = whenFailed?.(h.step).then((g) => (liveFail = g));
      try {
        for (;;) {
          const w = watch(h.step);
          const f = liveFail ?? w.failed;
          if (f) return { end: "gates-failed", gate: f, noticedMs: Date.now() };
          if (clockEnd === "aborted") return { end: "interrupted" };
          if (clockEnd === "promoted") return { end: "promoted" };
          if (clockEnd === "held" && w.routed >= h.calls) return { end: "held" };
          const tick = new AbortController();
          try {
            // the clock wakes it while it runs (promote, abort, the hold's time); then only the tick and a fail
            await Promise.race([
              delay(WATCH_MS, AbortSignal.any([h.signal, tick.signal])),
              ...(clockEnd === undefined ? [clock] : []),
              ...(failedLive ? [failedLive] : []),
            ]);
          } finally {
            tick.abort();
          }
          h.signal.throwIfAborted();
        }
      } catch {
        return { end: "interrupted" };
      } finally {
        stop.abort();
        await clock;
      }
    },
  };
}

/**
 * The caller's own traffic is the hold (sim: one SIPp burst of the step's calls, judged when it
 * ends), and the step's time when it has one: the hold ends once both are over. The burst is the
 * caller's to stop on the scope's signal; a promote or an operator's abort ends the clock only, the
 * burst runs to its end (its calls are the step's evidence).
 */
export function burstHold(burst: (step: number) => Promise<void>): HoldStrategy {
  return {
    describe: (calls) => (calls > 0 ? `its burst of ${calls} call${calls === 1 ? "" : "s"}` : ""),
    async hold(h) {
      const clock =
        h.ms > 0 ? h.control.hold(h.step + 1, h.ms, h.extension, h.signal) : Promise.resolve<HoldEnd>("held");
      try {
        await burst(h.step);
      } catch (error) {
        await clock;
        return { end: "failed", error };
      }
      return fromClock(await clock);
    },
  };
}
