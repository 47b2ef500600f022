/**
 * The plan runner (effects): performs what the step machine (step-machine.ts) decides. For each
 * step it applies the step's list with verifiedApply (the one way anything is applied), holds,
 * asks the caller's evaluator for the gates' verdict, and on a failed step or an abort (Ctrl-C) puts
 * back the last good step with the same verifiedApply, so a run never ends in a half state. It
 * emits `step` and `rollback` events on the run's stream; the caller records evidence through the
 * hooks and decides nothing here.
 *
 * Applies and the rollback are not interruptible: Ctrl-C during an apply lets it finish (milliseconds;
 * at most the reload retry budget) and then rolls back, so the runtime is always a whole step's list.
 * Holds are interruptible: the scope's signal ends the wait at once.
 */
import { VerificationError } from "../core/errors.js";
import { delay } from "../core/scope.js";
import { RunControl, type HoldEnd } from "../control/run-control.js";
import type { DispatcherProfile } from "../dispatcher/profile.js";
import type { GateRow, RunEvents } from "../events/run-events.js";
import type { ApplyLock } from "../apply/apply-lock.js";
import { profileFromText, verifiedApply, type ApplyOutcome } from "../apply/apply.js";
import type { RetryPolicy } from "../kamailio/dispatcher-rpc.js";
import type { Target } from "../target/target.js";
import { reactionChain, type DecisionMarks, type ReactionChain } from "./reaction.js";
import { BEFORE_PLAN, initialState, next, type MachineStep, type Observation, type Outcome } from "./step-machine.js";

export interface RunnerStep {
  /** old, both, new or new=N% */
  label: string;
  weightNew: number;
  profile: DispatcherProfile;
  machine: MachineStep;
}

/** How often a hold asks `watch` for the window's calls and an early failing gate. */
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

export interface RunnerContext {
  target: Target;
  /** held by the caller for the whole run */
  lock: ApplyLock;
  retry: Partial<RetryPolicy>;
  /** the scope's signal: aborts a hold (Ctrl-C) */
  signal: AbortSignal;
  /** the operator's pause / resume / promote / abort (the control socket); default: none can arrive */
  control?: RunControl;
  events: RunEvents;
  /** the gates' verdict on step i's window (0-based) */
  evaluate(step: number): Promise<GateResult>;
  /**
   * live traffic: polled every WATCH_MS during step i's hold; the hold ends once its time has passed
   * AND the window routed the step's minCalls (times 1 + extensions), or at once when a gate fails.
   * Without it a hold is its time alone.
   */
  watch?(step: number): WindowWatch;
  /** live traffic: resolves as soon as step i's gates fail during its hold (evaluated on each call's answer) */
  whenFailed?(step: number): Promise<GateResult>;
  /**
   * the caller's own traffic is step i's hold (sim: one SIPp burst of the step's minCalls calls, judged
   * when it ends): the hold lasts until this settles (and the step's time has passed). A rejection while
   * the run is not aborted fails the step (`hold-failed`: back to the last good step) with that error.
   * Without it, a hold is its time (and the watch's calls).
   */
  burst?(step: number): Promise<void>;
  /**
   * step i's apply is about to start (its evidence can be written; sim: the phase gap, its window
   * opens); awaited. A rejection fails the step like a failed apply (nothing of it was applied).
   */
  beforeApply?(step: number): void | Promise<void>;
  onApplied?(step: number, out: ApplyOutcome): void;
  onApplyFailed?(step: number, err: unknown): void;
  onRolledBack?(to: number, out: ApplyOutcome): void;
  log(line: string): void;
}

export interface PlanOutcome {
  outcome: Outcome;
  reason: string | undefined;
  /** the last step that passed, 0-based; -1 = none (the list before the plan) */
  lastGood: number;
  rollback:
    | {
        from: number;
        to: number;
        toLabel: string;
        ok: boolean;
        durationMs: number;
        reason: string;
        /** a failed gate's rollback: first failing call's INVITE -> restored runtime read back, and the chain's links */
        reaction?: { firstFailingCallMs: number; restoredAtMs: number; reactionMs: number; chain?: ReactionChain };
        /** time the rollback's reload waited on Kamailio's reload guard ("Ongoing reload", reload_delta) */
        reloadWaitedMs?: number;
        reloadRefusals?: number;
      }
    | undefined;
  /** the error that failed the run (an apply's), or undefined when a gate or an abort ended it */
  error: unknown;
}

/** Run the steps; returns how it ended. Never throws for a step's failure: the outcome says. */
export async function runSteps(steps: readonly RunnerStep[], ctx: RunnerContext): Promise<PlanOutcome> {
  const of = steps.length;
  const emitStep = (i: number, state: "applied" | "passed" | "failed", detail: string): void =>
    ctx.events.emit({
      kind: "step",
      at: Date.now(),
      index: i + 1,
      of,
      label: steps[i]!.label,
      weightNew: steps[i]!.weightNew,
      state,
      detail,
    });
  /** the list that ran before the plan, as the first apply read it */
  let beforePlanText: string | undefined;
  let error: unknown;
  const failed = new Set<number>();
  /** steps the operator passed while the plan had paused them (inconclusive gates) */
  const promotedInconclusive = new Set<number>();
  let rollback: PlanOutcome["rollback"];
  /** the failed gate's first failing call (epoch ms), for the rollback's reaction time */
  let firstFailingCallMs: number | undefined;
  /** a live fail: how it was decided, and when the runner acted on it */
  let decided: DecisionMarks | undefined;
  let noticedMs: number | undefined;
  const control = ctx.control ?? new RunControl(ctx.events);
  const aborted = (): Observation | undefined =>
    ctx.signal.aborted
      ? { kind: "abort", reason: (ctx.signal.reason as Error | undefined)?.message ?? "aborted" }
      : control.abortRequested
        ? { kind: "abort", reason: `aborted by the operator (pbx-cutover abort) during step ${r.state.index + 1}` }
        : undefined;

  let r = next(initialState(steps.map((s) => s.machine)), { kind: "start" });
  for (;;) {
    const a = r.action;
    let obs: Observation;
    switch (a.kind) {
      case "apply": {
        const s = steps[a.step]!;
        // a pause holds the run on the step it is on: the next step is not applied until resume
        if (control.paused)
          ctx.log(
            `paused before step ${a.step + 1}/${of} ${s.label}; \`pbx-cutover resume\` goes on, abort goes back to the last good step`,
          );
        if (!(await control.waitWhilePaused(ctx.signal))) {
          obs = aborted() ?? { kind: "abort", reason: "aborted" };
          break;
        }
        try {
          await ctx.beforeApply?.(a.step);
        } catch (err) {
          const stop = aborted();
          if (stop) {
            obs = stop;
            break;
          }
          error = err;
          const reason = err instanceof Error ? err.message : String(err);
          failed.add(a.step);
          emitStep(a.step, "failed", reason);
          obs = { kind: "apply-failed", reason };
          break;
        }
        try {
          const out = await verifiedApply(ctx.target, s.profile, {
            lock: ctx.lock,
            retry: ctx.retry,
            events: ctx.events,
          });
          if (a.step === 0) beforePlanText = out.previousText;
          ctx.onApplied?.(a.step, out);
          emitStep(
            a.step,
            "applied",
            `runtime ${out.runtime.map((d) => `${d.uri}${d.attrs ? ` (${d.attrs})` : ""}`).join(", ")}`,
          );
          ctx.log(
            `step ${a.step + 1}/${of} ${s.label}: verified in ${out.timings.totalMs.toFixed(1)} ms; runtime ${out.runtime.map((d) => d.uri + (d.attrs ? ` ${d.attrs}` : "")).join(", ")}`,
          );
          obs = aborted() ?? { kind: "applied" };
        } catch (err) {
          error = err;
          ctx.onApplyFailed?.(a.step, err);
          const reason = err instanceof Error ? err.message : String(err);
          failed.add(a.step);
          emitStep(a.step, "failed", reason);
          obs = { kind: "apply-failed", reason };
        }
        break;
      }
      case "hold": {
        const s = steps[a.step]!;
        const calls = (s.machine.minCalls ?? 0) * (a.extension + 1);
        const what = [
          a.ms > 0 ? `${(a.ms / 1000).toFixed(1)} s` : "",
          calls > 0 && ctx.burst
            ? `its burst of ${calls} call${calls === 1 ? "" : "s"}`
            : calls > 0 && ctx.watch
              ? `${calls} calls routed`
              : "",
        ]
          .filter(Boolean)
          .join(" and ");
        ctx.log(
          `step ${a.step + 1}/${of} ${s.label}: holding ${what || "0 s"}${a.extension > 0 ? ` (extension ${a.extension})` : ""}; Ctrl-C goes back to the last good step`,
        );
        obs = await hold(a.step, a.ms, calls, a.extension);
        if (obs.kind === "evaluated" && obs.verdict === "fail") {
          ctx.log(`step ${a.step + 1}/${of} ${s.label}: gates fail during the hold: ${obs.reason ?? ""}`);
        }
        break;
      }
      case "evaluate": {
        const g = await ctx.evaluate(a.step);
        if (g.verdict === "fail") {
          firstFailingCallMs = g.firstFailingCallMs;
          decided = undefined;
          noticedMs = Date.now();
        }
        ctx.events.emit({
          kind: "gates",
          at: Date.now(),
          index: a.step + 1,
          verdict: g.verdict,
          detail: g.detail,
          ...(g.gates ? { gates: g.gates } : {}),
        });
        ctx.log(
          `step ${a.step + 1}/${of} ${steps[a.step]!.label}: gates ${g.verdict === "none" ? "not evaluated" : g.verdict}: ${g.detail}`,
        );
        obs = aborted() ?? { kind: "evaluated", verdict: g.verdict, reason: g.detail };
        break;
      }
      case "pause": {
        const s = steps[a.step]!;
        ctx.log(
          `step ${a.step + 1}/${of} ${s.label}: paused by the plan (onInconclusive: pause): its gates are inconclusive (${a.reason}); ` +
            "routing unchanged; `pbx-cutover resume` holds it again, `promote` passes it, `abort` goes back to the last good step",
        );
        const end = await control.pauseInconclusive(a.step + 1, a.reason, ctx.signal);
        if (end === "promoted") {
          promotedInconclusive.add(a.step);
          ctx.log(`step ${a.step + 1}/${of} ${s.label}: promoted by the operator with its gates inconclusive`);
        }
        if (end === "resumed") ctx.log(`step ${a.step + 1}/${of} ${s.label}: resumed by the operator: holding again`);
        obs =
          aborted() ??
          (end === "promoted"
            ? { kind: "promoted" }
            : end === "resumed"
              ? { kind: "resumed" }
              : { kind: "abort", reason: "interrupted while paused" });
        break;
      }
      case "advance":
        emitStep(
          a.step,
          "passed",
          promotedInconclusive.has(a.step)
            ? "promoted by the operator (pbx-cutover promote) with its gates inconclusive"
            : "",
        );
        obs = aborted() ?? { kind: "advanced" };
        break;
      case "rollback": {
        control.setStage("ending");
        if (!failed.has(a.from)) {
          failed.add(a.from);
          emitStep(a.from, "failed", a.reason);
        }
        const toLabel = a.to === BEFORE_PLAN ? "the list before the plan" : `step ${a.to + 1} (${steps[a.to]!.label})`;
        ctx.log(`${a.reason}: putting back ${toLabel}`);
        const t0 = performance.now();
        const applyStartMs = Date.now();
        try {
          const profile =
            a.to === BEFORE_PLAN
              ? beforePlanText === undefined
                ? undefined
                : profileFromText(
                    "before-plan",
                    beforePlanText,
                    `${ctx.target.dispatcherList.location} (before the plan)`,
                  )
              : steps[a.to]!.profile;
          if (profile === undefined) {
            // the first apply never read the list: verifiedApply left (or restored) it untouched
            rollback = { from: a.from, to: a.to, toLabel, ok: true, durationMs: 0, reason: a.reason };
            obs = { kind: "rolled-back" };
            break;
          }
          const out = await verifiedApply(ctx.target, profile, {
            lock: ctx.lock,
            retry: ctx.retry,
            events: ctx.events,
          });
          // verifiedApply returns once the runtime was read back equal to the profile: routing is restored
          const restoredAtMs = Date.now();
          const durationMs = performance.now() - t0;
          const reaction =
            firstFailingCallMs === undefined
              ? undefined
              : {
                  firstFailingCallMs,
                  restoredAtMs,
                  reactionMs: restoredAtMs - firstFailingCallMs,
                  chain: reactionChain(
                    firstFailingCallMs,
                    decided,
                    noticedMs ?? applyStartMs,
                    applyStartMs,
                    out,
                    restoredAtMs,
                  ),
                };
          const guard =
            out.reload === undefined
              ? {}
              : { reloadWaitedMs: out.reload.waitedMs, reloadRefusals: out.reload.ongoingRefusals };
          rollback = {
            from: a.from,
            to: a.to,
            toLabel,
            ok: true,
            durationMs,
            reason: a.reason,
            ...(reaction ? { reaction } : {}),
            ...guard,
          };
          ctx.onRolledBack?.(a.to, out);
          ctx.events.emit({
            kind: "rollback",
            at: Date.now(),
            from: a.from + 1,
            to: a.to + 1,
            toLabel,
            reason: a.reason,
            ok: true,
            durationMs,
            runtime: out.runtime.map((d) => d.uri),
            ...(reaction ? { reactionMs: reaction.reactionMs } : {}),
          });
          const waited =
            out.reload && out.reload.ongoingRefusals > 0
              ? `, of which ${out.reload.waitedMs.toFixed(0)} ms waiting out Kamailio's reload guard (${out.reload.ongoingRefusals} x "Ongoing reload")`
              : "";
          ctx.log(
            `rolled back to ${toLabel} in ${durationMs.toFixed(1)} ms${waited} (${out.changed ? "reloaded" : "already in place"}); runtime ${out.runtime.map((d) => d.uri + (d.attrs ? ` ${d.attrs}` : "")).join(", ")}` +
              (reaction
                ? `; reaction time ${reaction.reactionMs.toFixed(0)} ms from the first failing call's INVITE to the restored runtime`
                : ""),
          );
          obs = { kind: "rolled-back" };
        } catch (err) {
          const durationMs = performance.now() - t0;
          const reason = err instanceof Error ? err.message : String(err);
          rollback = { from: a.from, to: a.to, toLabel, ok: false, durationMs, reason: a.reason };
          ctx.events.emit({
            kind: "rollback",
            at: Date.now(),
            from: a.from + 1,
            to: a.to + 1,
            toLabel,
            reason: `${a.reason}; failed: ${reason}`,
            ok: false,
            durationMs,
            runtime: [],
          });
          error ??= err;
          obs = { kind: "rollback-failed", reason };
        }
        break;
      }
      case "done":
        control.setStage("ending");
        return { outcome: a.outcome, reason: a.reason, lastGood: r.state.lastGood, rollback, error };
    }
    r = next(r.state, obs);
  }

  /**
   * Hold step i: its clock runs through the run's control (pause stops it, promote ends the hold,
   * abort ends it as aborted); with a watch, the hold also lasts until `calls` calls were routed, and a
   * gate that fails meanwhile ends it at once (even while paused).
   */
  async function hold(i: number, ms: number, calls: number, extension: number): Promise<Observation> {
    const s = steps[i]!;
    const promoted = (): void =>
      ctx.log(`step ${i + 1}/${of} ${s.label}: promoted by the operator; the rest of the hold is skipped`);
    if (ctx.burst) return holdBurst(i, ms, extension, ctx.burst.bind(ctx));
    const watch = ctx.watch?.bind(ctx);
    if (!watch) {
      const end = await control.hold(i + 1, ms, extension, ctx.signal);
      if (end === "promoted") promoted();
      return aborted() ?? (end === "aborted" ? { kind: "abort", reason: "hold interrupted" } : { kind: "held" });
    }
    const stop = new AbortController();
    let clockEnd: HoldEnd | undefined;
    const clock = control
      .hold(i + 1, ms, extension, AbortSignal.any([ctx.signal, stop.signal]))
      .then((e) => (clockEnd = e));
    // a gate failing live wakes the hold at once; the tick is for the calls routed and timeouts
    let liveFail: GateResult | undefined;
    const failedLive = ctx.whenFailed?.(i).then((g) => (liveFail = g));
    try {
      for (;;) {
        const w = watch(i);
        const f = liveFail ?? w.failed;
        if (f) {
          noticedMs = Date.now();
          firstFailingCallMs = f.firstFailingCallMs;
          decided = f.decided;
          ctx.events.emit({
            kind: "gates",
            at: Date.now(),
            index: i + 1,
            verdict: "fail",
            detail: f.detail,
            early: true,
            ...(f.gates ? { gates: f.gates } : {}),
          });
          return aborted() ?? { kind: "evaluated", verdict: "fail", reason: f.detail };
        }
        if (clockEnd === "aborted") return aborted() ?? { kind: "abort", reason: "hold interrupted" };
        if (clockEnd === "promoted") {
          promoted();
          return aborted() ?? { kind: "held" };
        }
        if (clockEnd === "held" && w.routed >= calls) return aborted() ?? { kind: "held" };
        const tick = new AbortController();
        try {
          // the clock wakes it while it runs (promote, abort, the hold's time); then only the tick and a fail
          await Promise.race([
            delay(WATCH_MS, AbortSignal.any([ctx.signal, tick.signal])),
            ...(clockEnd === undefined ? [clock] : []),
            ...(failedLive ? [failedLive] : []),
          ]);
        } finally {
          tick.abort();
        }
        ctx.signal.throwIfAborted();
      }
    } catch {
      return aborted() ?? { kind: "abort", reason: "hold interrupted" };
    } finally {
      stop.abort();
      await clock;
    }
  }

  /**
   * Hold step i for the caller's burst (and `ms`, when the step has a time too): the hold ends once
   * both are over. The burst is the caller's to stop on the scope's signal; a promote or an operator's
   * abort ends the clock only, the burst runs to its end (its calls are the step's evidence).
   */
  async function holdBurst(
    i: number,
    ms: number,
    extension: number,
    burst: (step: number) => Promise<void>,
  ): Promise<Observation> {
    const clock = ms > 0 ? control.hold(i + 1, ms, extension, ctx.signal) : Promise.resolve<HoldEnd>("held");
    try {
      await burst(i);
    } catch (err) {
      await clock;
      const stop = aborted();
      if (stop) return stop;
      error ??= err;
      return { kind: "hold-failed", reason: err instanceof Error ? err.message : String(err) };
    }
    const end = await clock;
    if (end === "promoted")
      ctx.log(`step ${i + 1}/${of} ${steps[i]!.label}: promoted by the operator; the rest of the hold is skipped`);
    return aborted() ?? (end === "aborted" ? { kind: "abort", reason: "hold interrupted" } : { kind: "held" });
  }
}

/**
 * The error a finished run ends with (its exit code): an apply's own error (exit 3/4), the signal's
 * InterruptedError for an abort (130/143), a VerificationError (exit 1) for failed gates; undefined on pass.
 */
export function outcomeError(o: PlanOutcome, signal: AbortSignal): unknown {
  if (o.outcome === "pass") return undefined;
  if (o.outcome === "aborted") {
    return signal.aborted
      ? signal.reason
      : new VerificationError(
          `${o.reason ?? "aborted"}; ${o.rollback?.ok ? `${o.rollback.toLabel} is back in place` : "the rollback did not complete"}`,
        );
  }
  if (o.error !== undefined) return o.error;
  return new VerificationError(
    `${o.reason ?? "a step failed"}; ${o.rollback?.ok ? `${o.rollback.toLabel} is back in place` : "the rollback did not complete"}`,
  );
}
