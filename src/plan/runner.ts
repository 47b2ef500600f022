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
import { RunControl } from "../control/run-control.js";
import type { DispatcherProfile } from "../dispatcher/profile.js";
import type { RunEvents, StepState } from "../events/run-events.js";
import type { ApplyLock } from "../apply/apply-lock.js";
import { profileFromText, type ApplyOutcome } from "../apply/apply.js";
import type { TakeOutResult } from "../apply/take-out.js";
import { BEFORE_PLAN_LABEL, targetRouting, type Routing } from "../apply/routing.js";
import { defaultRetryPolicy, readRuntime, type RetryPolicy } from "../kamailio/dispatcher-rpc.js";
import { restartFinding, restartText, type RestartFinding, type RestartWatching } from "../observe/restart-watch.js";
import type { Target } from "../target/target.js";
import { reactionChain, type DecisionMarks, type ReactionChain } from "./reaction.js";
import { timeHold, type GateResult, type HoldStrategy } from "./hold.js";
import {
  BEFORE_PLAN,
  initialState,
  next,
  type Action,
  type MachineStep,
  type Observation,
  type Outcome,
} from "./step-machine.js";

export interface RunnerStep {
  /** old, both, new or new=N% */
  label: string;
  weightNew: number;
  profile: DispatcherProfile;
  machine: MachineStep;
}

export type { GateResult, WindowWatch } from "./hold.js";

export interface RunnerContext {
  target: Target;
  /** how steps are applied and rolled back: default the target's own verified apply; a fleet's all or nothing */
  routing?: Routing;
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
   * how a step holds (hold.ts): `timeHold` (the default: its time, through the run's control),
   * `watchedHold` (live traffic: its time and the calls routed; a gate failing live ends it at once),
   * `burstHold` (the caller's own burst of the step's calls is the hold; sim)
   */
  hold?: HoldStrategy;
  /**
   * step i's apply is about to start (its evidence can be written; sim: the phase gap, its window
   * opens); awaited. A rejection fails the step like a failed apply (nothing of it was applied).
   */
  beforeApply?(step: number): void | Promise<void>;
  onApplied?(step: number, out: ApplyOutcome): void;
  onApplyFailed?(step: number, err: unknown): void;
  onRolledBack?(to: number, out: ApplyOutcome): void;
  /**
   * the target's Kamailio (a fleet: every node's), watched since the run began for a restart (its
   * runtime back to its durable list, its set_state and dialogs forgotten): seen during a hold, before
   * a step passes or before the next is applied, the step fails and the last good step is put back
   * (on every node). Absent: not watched.
   */
  restarts?: RestartWatching;
  log(line: string): void;
}

/**
 * The runner's rollback: it put back the last good step (or the list before the plan). Steps are
 * numbered from 1 as everywhere a user sees them (events, results.json, logs); `to` 0 = the list
 * that ran before the plan.
 */
export interface RollbackRecord {
  /** the step that failed or was aborted, from 1 */
  from: number;
  /** the step put back, from 1; 0 = the list before the plan */
  to: number;
  toLabel: string;
  /** the runtime was read back equal to it */
  ok: boolean;
  durationMs: number;
  reason: string;
  /**
   * a failed gate's rollback: first failing call's INVITE -> restored runtime read back, and the chain's
   * links; with a take-out that worked, also -> new out of selection (stoppedAtMs, stopMs)
   */
  reaction?: {
    firstFailingCallMs: number;
    restoredAtMs: number;
    reactionMs: number;
    stoppedAtMs?: number;
    stopMs?: number;
    chain?: ReactionChain;
  };
  /** a failed gate's first move: new taken out of selection before the reload guard allowed the rollback */
  takeOut?: { ok: true; destinations: string[]; durationMs: number } | { ok: false; reason: string };
  /** time the rollback's reload waited on Kamailio's reload guard ("Ongoing reload", reload_delta) */
  reloadWaitedMs?: number;
  reloadRefusals?: number;
}

export interface PlanOutcome {
  outcome: Outcome;
  reason: string | undefined;
  /** the last step that passed, 0-based; -1 = none (the list before the plan) */
  lastGood: number;
  rollback: RollbackRecord | undefined;
  /** the error that failed the run (an apply's), or undefined when a gate or an abort ended it */
  error: unknown;
  /** the target's Kamailio restarted during the run: what was seen, and what it routed by then */
  restart?: RestartFinding | undefined;
}

/** Run the steps; returns how it ended. Never throws for a step's failure: the outcome says. */
export function runSteps(steps: readonly RunnerStep[], ctx: RunnerContext): Promise<PlanOutcome> {
  return new PlanRunner(steps, ctx).run();
}

/**
 * One run of a plan's steps: the step machine decides, one method per action performs it. The
 * run's state (the list before the plan, the failed steps, the rollback, the reaction's marks) is
 * kept in fields; the hold is a strategy (hold.ts): time, watched traffic, or the caller's burst.
 */
export class PlanRunner {
  private readonly of: number;
  private readonly control: RunControl;
  private readonly holds: HoldStrategy;
  private readonly routing: Routing;
  /** the list that ran before the plan, as the first apply read it */
  private beforePlanText: string | undefined;
  private error: unknown;
  private readonly failed = new Set<number>();
  /** steps the operator passed while the plan had paused them (inconclusive gates) */
  private readonly promotedInconclusive = new Set<number>();
  private rollback: PlanOutcome["rollback"];
  /** the failed gate's first failing call (epoch ms), for the rollback's reaction time */
  private firstFailingCallMs: number | undefined;
  /** a live fail: how it was decided, and when the runner acted on it */
  private decided: DecisionMarks | undefined;
  private noticedMs: number | undefined;
  /** the step the machine is on */
  private current = 0;
  /** a gate failed the step (not an abort or a failed apply): the rollback takes new out first */
  private gateFailed = false;
  /** the last step whose list was applied (BEFORE_PLAN: none yet), the one a restart is compared with */
  private applied = BEFORE_PLAN;
  private restart: RestartFinding | undefined;

  constructor(
    private readonly steps: readonly RunnerStep[],
    private readonly ctx: RunnerContext,
  ) {
    this.of = steps.length;
    this.control = ctx.control ?? new RunControl(ctx.events);
    this.holds = ctx.hold ?? timeHold;
    this.routing = ctx.routing ?? targetRouting(ctx.target);
  }

  async run(): Promise<PlanOutcome> {
    let r = next(initialState(this.steps.map((s) => s.machine)), { kind: "start" });
    for (;;) {
      const a = r.action;
      this.current = r.state.index;
      if (a.kind === "done") {
        this.control.setStage("ending");
        return {
          outcome: a.outcome,
          reason: a.reason,
          lastGood: r.state.lastGood,
          rollback: this.rollback,
          error: this.error,
          restart: this.restart,
        };
      }
      r = next(r.state, await this.perform(a));
    }
  }

  private perform(a: Exclude<Action, { kind: "done" }>): Promise<Observation> {
    switch (a.kind) {
      case "apply":
        return this.apply(a.step);
      case "hold":
        return this.hold(a.step, a.ms, a.extension);
      case "evaluate":
        return this.evaluate(a.step);
      case "pause":
        return this.pause(a.step, a.reason);
      case "advance":
        return this.advance(a.step);
      case "rollback":
        return this.rollBack(a.from, a.to, a.reason);
    }
  }

  /** the run is being aborted (Ctrl-C or the operator): the observation that says so */
  private aborted(): Observation | undefined {
    if (this.ctx.signal.aborted)
      return { kind: "abort", reason: (this.ctx.signal.reason as Error | undefined)?.message ?? "aborted" };
    if (this.control.abortRequested)
      return {
        kind: "abort",
        reason: `aborted by the operator (pbx-cutover abort) during step ${this.current + 1}`,
      };
    return undefined;
  }

  private emitStep(i: number, state: StepState, detail: string): void {
    this.ctx.events.emit({
      kind: "step",
      at: Date.now(),
      index: i + 1,
      of: this.of,
      label: this.steps[i]!.label,
      weightNew: this.steps[i]!.weightNew,
      state,
      detail,
    });
  }

  private name(i: number): string {
    return `step ${i + 1}/${this.of} ${this.steps[i]!.label}`;
  }

  private stepFailed(i: number, err: unknown): Observation {
    this.error = err;
    const reason = err instanceof Error ? err.message : String(err);
    this.failed.add(i);
    this.emitStep(i, "failed", reason);
    return { kind: "apply-failed", reason };
  }

  private async apply(i: number): Promise<Observation> {
    const { ctx, control } = this;
    // a pause holds the run on the step it is on: the next step is not applied until resume
    if (control.paused)
      ctx.log(
        `paused before step ${i + 1}/${this.of} ${this.steps[i]!.label}; \`pbx-cutover resume\` goes on, abort goes back to the last good step`,
      );
    if (!(await control.waitWhilePaused(ctx.signal))) return this.aborted() ?? { kind: "abort", reason: "aborted" };
    if (i > 0 && (await ctx.restarts?.check()))
      return this.restarted(`before ${this.name(i)} was applied (after ${this.name(i - 1)} passed)`);
    try {
      await ctx.beforeApply?.(i);
    } catch (err) {
      return this.aborted() ?? this.stepFailed(i, err);
    }
    let out: ApplyOutcome;
    try {
      out = await this.routing.apply(this.steps[i]!.profile, {
        lock: ctx.lock,
        retry: ctx.retry,
        events: ctx.events,
      });
    } catch (err) {
      ctx.onApplyFailed?.(i, err);
      return this.stepFailed(i, err);
    }
    if (i === 0) this.beforePlanText = out.previousText;
    this.applied = i;
    ctx.onApplied?.(i, out);
    this.emitStep(
      i,
      "applied",
      `runtime ${out.runtime.map((d) => `${d.uri}${d.attrs ? ` (${d.attrs})` : ""}`).join(", ")}`,
    );
    ctx.log(`${this.name(i)}: verified in ${out.timings.totalMs.toFixed(1)} ms; runtime ${runtimeText(out)}`);
    return this.aborted() ?? { kind: "applied" };
  }

  private async hold(i: number, ms: number, extension: number): Promise<Observation> {
    const calls = (this.steps[i]!.machine.minCalls ?? 0) * (extension + 1);
    const what = [ms > 0 ? `${(ms / 1000).toFixed(1)} s` : "", this.holds.describe(calls)]
      .filter(Boolean)
      .join(" and ");
    this.ctx.log(
      `${this.name(i)}: holding ${what || "0 s"}${extension > 0 ? ` (extension ${extension})` : ""}; Ctrl-C goes back to the last good step`,
    );
    // a restart seen by the watch's poll ends the hold at once
    const restarted = new AbortController();
    void this.ctx.restarts?.restarted.then(() => restarted.abort());
    const h = await this.holds.hold({
      step: i,
      ms,
      calls,
      extension,
      control: this.control,
      signal: AbortSignal.any([this.ctx.signal, restarted.signal]),
    });
    restarted.abort();
    if (!this.ctx.signal.aborted && this.ctx.restarts?.restart) return this.restarted(`during ${this.name(i)}'s hold`);
    switch (h.end) {
      case "held":
        return this.aborted() ?? { kind: "held" };
      case "promoted":
        this.ctx.log(`${this.name(i)}: promoted by the operator; the rest of the hold is skipped`);
        return this.aborted() ?? { kind: "held" };
      case "interrupted":
        return this.aborted() ?? { kind: "abort", reason: "hold interrupted" };
      case "failed": {
        const stop = this.aborted();
        if (stop) return stop;
        this.error ??= h.error;
        return { kind: "hold-failed", reason: h.error instanceof Error ? h.error.message : String(h.error) };
      }
      case "gates-failed": {
        const f = h.gate;
        this.noticedMs = h.noticedMs;
        this.firstFailingCallMs = f.firstFailingCallMs;
        this.decided = f.decided;
        this.gateFailed = true;
        this.ctx.events.emit({
          kind: "gates",
          at: Date.now(),
          index: i + 1,
          verdict: "fail",
          detail: f.detail,
          early: true,
          ...(f.gates ? { gates: f.gates } : {}),
        });
        const stop = this.aborted();
        if (stop) return stop;
        this.ctx.log(`${this.name(i)}: gates fail during the hold: ${f.detail}`);
        return { kind: "evaluated", verdict: "fail", reason: f.detail };
      }
    }
  }

  private async evaluate(i: number): Promise<Observation> {
    const g = await this.ctx.evaluate(i);
    if (g.verdict === "fail") {
      this.firstFailingCallMs = g.firstFailingCallMs;
      this.decided = undefined;
      this.noticedMs = Date.now();
      this.gateFailed = true;
    }
    this.ctx.events.emit({
      kind: "gates",
      at: Date.now(),
      index: i + 1,
      verdict: g.verdict,
      detail: g.detail,
      ...(g.gates ? { gates: g.gates } : {}),
    });
    this.ctx.log(`${this.name(i)}: gates ${g.verdict === "none" ? "not evaluated" : g.verdict}: ${g.detail}`);
    return this.aborted() ?? { kind: "evaluated", verdict: g.verdict, reason: g.detail };
  }

  private async pause(i: number, reason: string): Promise<Observation> {
    const { ctx } = this;
    ctx.log(
      `${this.name(i)}: paused by the plan (onInconclusive: pause): its gates are inconclusive (${reason}); ` +
        "routing unchanged; `pbx-cutover resume` holds it again, `promote` passes it, `abort` goes back to the last good step",
    );
    const end = await this.control.pauseInconclusive(i + 1, reason, ctx.signal);
    if (end === "promoted") {
      this.promotedInconclusive.add(i);
      ctx.log(`${this.name(i)}: promoted by the operator with its gates inconclusive`);
    }
    if (end === "resumed") ctx.log(`${this.name(i)}: resumed by the operator: holding again`);
    return (
      this.aborted() ??
      (end === "promoted"
        ? { kind: "promoted" }
        : end === "resumed"
          ? { kind: "resumed" }
          : { kind: "abort", reason: "interrupted while paused" })
    );
  }

  private async advance(i: number): Promise<Observation> {
    if (await this.ctx.restarts?.check()) return this.restarted(`after ${this.name(i)}'s hold, before it passed`);
    this.emitStep(
      i,
      "passed",
      this.promotedInconclusive.has(i)
        ? "promoted by the operator (pbx-cutover promote) with its gates inconclusive"
        : "",
    );
    return this.aborted() ?? { kind: "advanced" };
  }

  /** the profile a rollback to `to` applies; undefined = the first apply never read the list */
  private rollbackProfile(to: number): DispatcherProfile | undefined {
    if (to !== BEFORE_PLAN) return this.steps[to]!.profile;
    if (this.beforePlanText === undefined) return undefined;
    return profileFromText(BEFORE_PLAN_LABEL, this.beforePlanText, `${this.routing.location} (before the plan)`);
  }

  private async rollBack(from: number, to: number, reason: string): Promise<Observation> {
    const { ctx } = this;
    this.control.setStage("ending");
    if (!this.failed.has(from)) {
      this.failed.add(from);
      this.emitStep(from, "failed", reason);
    }
    const toLabel = to === BEFORE_PLAN ? "the list before the plan" : `step ${to + 1} (${this.steps[to]!.label})`;
    ctx.log(`${reason}: putting back ${toLabel}`);
    const t0 = performance.now();
    try {
      const profile = this.rollbackProfile(to);
      if (profile === undefined) {
        // the first apply never read the list: verifiedApply left (or restored) it untouched
        this.rollback = { from: from + 1, to: to + 1, toLabel, ok: true, durationMs: 0, reason };
        return { kind: "rolled-back" };
      }
      const takeOut = this.gateFailed && !this.aborted() ? await this.takeOut(from) : undefined;
      const applyAtMs = Date.now();
      const out = await this.routing.apply(profile, {
        lock: ctx.lock,
        retry: ctx.retry,
        events: ctx.events,
        ...(takeOut?.ok ? { takenOut: takeOut.taken } : {}),
      });
      this.rolledBack(from, to, toLabel, reason, out, performance.now() - t0, applyAtMs, takeOut);
      return { kind: "rolled-back" };
    } catch (err) {
      const durationMs = performance.now() - t0;
      const why = err instanceof Error ? err.message : String(err);
      this.recordRollback({ from: from + 1, to: to + 1, toLabel, ok: false, durationMs, reason }, [], why);
      ctx.log(`putting back ${toLabel} failed after ${durationMs.toFixed(1)} ms: ${why}`);
      this.error ??= err;
      return { kind: "rollback-failed", reason: why };
    }
  }

  /**
   * The watch saw the target's Kamailio restarted: what it routes by now against the step the run
   * applied last, logged, kept for the outcome, and the observation that fails the step.
   */
  private async restarted(seen: string): Promise<Observation> {
    const { ctx } = this;
    const restart = ctx.restarts!.restart!;
    const runtime = await readRuntime(restart.rpc, { ...defaultRetryPolicy, ...ctx.retry }).catch((err: unknown) =>
      err instanceof Error ? err.message : String(err),
    );
    const on = this.applied;
    this.restart = restartFinding({
      node: restart.rpc.endpoint,
      restart,
      seen,
      onStep: on + 1,
      onStepLabel: on === BEFORE_PLAN ? "before the plan" : this.steps[on]!.label,
      // the list before the plan was read on the first node only: another node's is not known here
      list: on === BEFORE_PLAN && restart.rpc !== ctx.target.rpc ? undefined : this.rollbackProfile(on)?.list,
      runtime,
    });
    const reason = restartText(this.restart);
    ctx.log(reason);
    return this.aborted() ?? { kind: "restarted", reason };
  }

  /**
   * A failed gate's first move: new out of selection at once (dispatcher.set_state, not subject to
   * the reload guard), so the failing PBX gets no new calls while the rollback's reload waits for the
   * guard. Its outcome is data: a take-out that could not be done leaves the rollback as it was.
   */
  private async takeOut(from: number): Promise<TakeOutResult> {
    const { ctx } = this;
    const t0 = performance.now();
    let r: TakeOutResult;
    try {
      r = await this.routing.takeOut({ ...defaultRetryPolicy, ...ctx.retry });
    } catch (err) {
      r = { ok: false, reason: err instanceof Error ? err.message : String(err), durationMs: performance.now() - t0 };
    }
    const first = this.firstFailingCallMs;
    const stoppedMs = r.ok && first !== undefined ? r.stoppedAtMs - first : undefined;
    ctx.events.emit({
      kind: "take-out",
      at: Date.now(),
      step: from + 1,
      ok: r.ok,
      destinations: r.ok ? r.taken.map((d) => d.uri) : [],
      durationMs: r.durationMs,
      ...(r.ok ? {} : { reason: r.reason }),
      ...(stoppedMs !== undefined ? { stoppedMs } : {}),
    });
    ctx.log(
      r.ok
        ? `new out of selection in ${r.durationMs.toFixed(1)} ms (dispatcher.set_state d ${r.taken.map((d) => d.uri).join(", ")})` +
            (stoppedMs !== undefined
              ? `: traffic to new stopped ${stoppedMs.toFixed(0)} ms after the first failing call's INVITE`
              : "")
        : `new not taken out of selection (${r.reason}); the rollback's reload puts the last good step back`,
    );
    return r;
  }

  /** the run's rollback record, and the rollback event that says it (a failed one with why) */
  private recordRollback(r: RollbackRecord, runtime: string[], failedWhy?: string): void {
    this.rollback = r;
    this.ctx.events.emit({
      kind: "rollback",
      at: Date.now(),
      from: r.from,
      to: r.to,
      toLabel: r.toLabel,
      reason: failedWhy === undefined ? r.reason : `${r.reason}; failed: ${failedWhy}`,
      ok: r.ok,
      durationMs: r.durationMs,
      runtime,
      ...(r.reaction ? { reactionMs: r.reaction.reactionMs } : {}),
      ...(r.reaction?.stopMs !== undefined ? { stoppedMs: r.reaction.stopMs } : {}),
    });
  }

  /** the rollback's apply was verified at runtime: routing is restored; record, emit and log it */
  private rolledBack(
    from: number,
    to: number,
    toLabel: string,
    reason: string,
    out: ApplyOutcome,
    durationMs: number,
    applyStartMs: number,
    takeOut: TakeOutResult | undefined,
  ): void {
    const { ctx } = this;
    const restoredAtMs = Date.now();
    const first = this.firstFailingCallMs;
    const stopped = takeOut?.ok ? takeOut : undefined;
    const reaction =
      first === undefined
        ? undefined
        : {
            firstFailingCallMs: first,
            restoredAtMs,
            reactionMs: restoredAtMs - first,
            ...(stopped ? { stoppedAtMs: stopped.stoppedAtMs, stopMs: stopped.stoppedAtMs - first } : {}),
            chain: reactionChain(
              first,
              this.decided,
              this.noticedMs ?? applyStartMs,
              applyStartMs,
              out,
              restoredAtMs,
              stopped ? { takeOutSentMs: stopped.sentAtMs, stoppedMs: stopped.stoppedAtMs } : undefined,
            ),
          };
    const guard =
      out.reload === undefined
        ? {}
        : { reloadWaitedMs: out.reload.waitedMs, reloadRefusals: out.reload.ongoingRefusals };
    const record = {
      from: from + 1,
      to: to + 1,
      toLabel,
      ok: true,
      durationMs,
      reason,
      ...(takeOut === undefined
        ? {}
        : {
            takeOut: takeOut.ok
              ? { ok: true as const, destinations: takeOut.taken.map((d) => d.uri), durationMs: takeOut.durationMs }
              : { ok: false as const, reason: takeOut.reason },
          }),
    };
    this.applied = to;
    ctx.onRolledBack?.(to, out);
    this.recordRollback(
      { ...record, ...(reaction ? { reaction } : {}), ...guard },
      out.runtime.map((d) => d.uri),
    );
    const waited =
      out.reload && out.reload.ongoingRefusals > 0
        ? `, of which ${out.reload.waitedMs.toFixed(0)} ms waiting out Kamailio's reload guard (${out.reload.ongoingRefusals} x "Ongoing reload")`
        : "";
    ctx.log(
      `rolled back to ${toLabel} in ${durationMs.toFixed(1)} ms${waited} (${out.changed ? "reloaded" : "already in place"}); runtime ${runtimeText(out)}` +
        (reaction
          ? `; reaction time ${reaction.reactionMs.toFixed(0)} ms from the first failing call's INVITE to the restored runtime`
          : ""),
    );
  }
}

const runtimeText = (out: ApplyOutcome): string =>
  out.runtime.map((d) => d.uri + (d.attrs ? ` ${d.attrs}` : "")).join(", ");

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
