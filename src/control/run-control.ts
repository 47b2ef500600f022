/**
 * A running plan's operator control: what `pause | resume | promote | abort` do to the runner.
 * The rules are pure (`decideControl`); RunControl keeps the state, wakes the runner's waits and
 * emits every accepted or refused request as a `control` event on the run's stream.
 *
 *   pause    the run stays on its current step: a hold's clock stops (what is left is kept), and no
 *            further step is applied until resume. Kamailio keeps routing the current step's weights.
 *   resume   the clock restarts with what was left (a fresh `hold` event, resumed), the run goes on.
 *   promote  skips the rest of the current step's hold (its gates are still judged). Only while a
 *            step holds and the run is not paused.
 *   abort    back to the last good step with verifiedApply (the runner's rollback), exit 1. During the
 *            drain (the plan has passed) it stops waiting: the routing stays as the last step left it.
 *
 * The plan pauses a step itself when its gates are inconclusive and its `onInconclusive` is `pause`
 * (`pauseInconclusive`): routing stays as the step left it, and the operator decides: resume holds
 * the step again and judges it again, promote passes it as it is, abort goes back to the last good step.
 *
 * Pausing or resuming twice is not an error (nothing changes, nothing is emitted); a request the run
 * cannot honour now (promote with no hold, anything once the run is ending) is refused with the reason.
 */
import type { ControlAction, RunEvents } from "../events/run-events.js";

export type ControlStage = "running" | "draining" | "ending";

export interface ControlState {
  stage: ControlStage;
  paused: boolean;
  /** the step holding now (from 1), undefined when none is */
  holding: number | undefined;
  aborted: boolean;
  /** the step (from 1) the plan paused because its gates are inconclusive; undefined otherwise */
  inconclusive?: number | undefined;
}

export type ControlDecision = { accept: true; change: boolean; detail: string } | { accept: false; detail: string };

/** What a request does in this state (pure). change=false: accepted, but nothing to do (already so). */
export function decideControl(s: ControlState, a: ControlAction): ControlDecision {
  if (s.stage === "ending" || s.aborted)
    return { accept: false, detail: "the run is ending (rolling back or finishing); nothing changed" };
  if (s.stage === "draining") {
    if (a === "abort")
      return {
        accept: true,
        change: true,
        detail: "stops waiting for the drain; the routing stays as the last step left it",
      };
    return {
      accept: false,
      detail: `the plan has finished and the run is waiting for the old backend's calls to end (drain); ${a} does not apply, abort stops the wait`,
    };
  }
  if (s.inconclusive !== undefined && s.paused) {
    const n = s.inconclusive;
    switch (a) {
      case "pause":
        return {
          accept: true,
          change: false,
          detail: `already paused (step ${n}'s gates are inconclusive); nothing changed`,
        };
      case "resume":
        return { accept: true, change: true, detail: `step ${n} holds again and its gates are judged again` };
      case "promote":
        return {
          accept: true,
          change: true,
          detail: `step ${n} passes on the operator's word with its gates inconclusive; the plan goes on`,
        };
      case "abort":
        return { accept: true, change: true, detail: "going back to the last good step" };
    }
  }
  switch (a) {
    case "pause":
      return s.paused
        ? { accept: true, change: false, detail: "already paused; nothing changed" }
        : {
            accept: true,
            change: true,
            detail:
              s.holding !== undefined
                ? `step ${s.holding}'s hold clock stopped; no further step until resume`
                : "no further step until resume",
          };
    case "resume":
      return s.paused
        ? {
            accept: true,
            change: true,
            detail:
              s.holding !== undefined ? `step ${s.holding}'s hold goes on with what was left` : "the plan goes on",
          }
        : { accept: true, change: false, detail: "not paused; nothing changed" };
    case "promote":
      if (s.paused)
        return {
          accept: false,
          detail: "the run is paused; resume it first (promote skips the rest of a running hold)",
        };
      if (s.holding === undefined)
        return { accept: false, detail: "no step is holding right now; promote skips the rest of a step's hold" };
      return { accept: true, change: true, detail: `step ${s.holding}'s hold ends now; its gates are still judged` };
    case "abort":
      return { accept: true, change: true, detail: "going back to the last good step" };
  }
}

export type HoldEnd = "held" | "promoted" | "aborted";

export class RunControl {
  private readonly state: ControlState = { stage: "running", paused: false, holding: undefined, aborted: false };
  private waiters = new Set<() => void>();
  private promoted = false;
  private readonly abortController = new AbortController();

  constructor(
    private readonly events: RunEvents,
    private readonly now: () => number = Date.now,
  ) {}

  /** aborted when the operator asks for abort */
  get abortSignal(): AbortSignal {
    return this.abortController.signal;
  }
  get paused(): boolean {
    return this.state.paused;
  }
  get abortRequested(): boolean {
    return this.state.aborted;
  }
  snapshot(): ControlState {
    return { ...this.state };
  }

  setStage(stage: ControlStage): void {
    this.state.stage = stage;
    if (stage !== "running") this.state.paused = false;
    this.wake();
  }

  /** An operator's request: decided, applied, emitted. */
  request(a: ControlAction): ControlDecision {
    const d = decideControl(this.state, a);
    if (d.accept && !d.change) return d;
    this.events.emit({
      kind: "control",
      at: this.now(),
      command: a,
      accepted: d.accept,
      detail: d.detail,
      by: "operator",
    });
    if (!d.accept) return d;
    if (a === "pause") this.state.paused = true;
    if (a === "resume") this.state.paused = false;
    if (a === "promote") {
      this.promoted = true;
      // promote answers a pause of the plan's own (inconclusive gates)
      if (this.state.inconclusive !== undefined) this.state.paused = false;
    }
    if (a === "abort") {
      this.state.aborted = true;
      this.state.paused = false;
      this.abortController.abort(new Error("aborted by the operator (pbx-cutover abort)"));
    }
    this.wake();
    return d;
  }

  /** Wait while paused (before the next step is applied). false = aborted (by the operator or the signal). */
  async waitWhilePaused(signal: AbortSignal): Promise<boolean> {
    while (this.state.paused && !this.state.aborted && !signal.aborted) await this.changed(signal);
    return !(this.state.aborted || signal.aborted);
  }

  /**
   * The plan pauses step `index` (from 1): its gates are inconclusive and its onInconclusive is pause.
   * Emits the pause (by the plan, with why) and waits for the operator: "resumed" (hold it again),
   * "promoted" (pass it), "aborted" (abort or the signal). Routing is not touched here.
   */
  async pauseInconclusive(
    index: number,
    reason: string,
    signal: AbortSignal,
  ): Promise<"resumed" | "promoted" | "aborted"> {
    this.promoted = false;
    this.state.paused = true;
    this.state.inconclusive = index;
    this.events.emit({
      kind: "control",
      at: this.now(),
      command: "pause",
      accepted: true,
      by: "plan",
      detail: `paused by the plan (onInconclusive: pause): step ${index}'s gates are inconclusive: ${reason.replace(/^inconclusive: /, "")}; routing unchanged; resume holds it again, promote passes it, abort goes back to the last good step`,
    });
    try {
      for (;;) {
        if (this.state.aborted || signal.aborted) return "aborted";
        if (this.promoted) return "promoted";
        if (!this.state.paused) return "resumed";
        await this.changed(signal);
      }
    } finally {
      this.state.inconclusive = undefined;
      this.state.paused = false;
      this.promoted = false;
    }
  }

  /**
   * Hold step `index` for `ms`: pause stops the clock, resume restarts it with what was left (and
   * emits a `hold` event with the new end), promote ends it now, abort or the signal end it as aborted.
   */
  async hold(index: number, ms: number, extension: number, signal: AbortSignal): Promise<HoldEnd> {
    let remaining = ms;
    this.promoted = false;
    this.state.holding = index;
    this.events.emit({ kind: "hold", at: this.now(), index, ms, endsAt: this.now() + ms, extension, resumed: false });
    try {
      for (;;) {
        if (this.state.aborted || signal.aborted) return "aborted";
        if (this.promoted) return "promoted";
        if (this.state.paused) {
          await this.changed(signal);
          if (!this.state.paused && !this.state.aborted && !signal.aborted) {
            this.events.emit({
              kind: "hold",
              at: this.now(),
              index,
              ms: remaining,
              endsAt: this.now() + remaining,
              extension,
              resumed: true,
            });
          }
          continue;
        }
        const start = this.now();
        const timedOut = await this.changed(signal, remaining);
        remaining = Math.max(0, remaining - (this.now() - start));
        if (timedOut && !this.state.aborted && !signal.aborted && !this.promoted && !this.state.paused) return "held";
      }
    } finally {
      this.state.holding = undefined;
      this.promoted = false;
    }
  }

  /** Resolves on the next change (true when `timeoutMs` passed first); the signal resolves it too. */
  private changed(signal: AbortSignal, timeoutMs?: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (timedOut: boolean): void => {
        if (timer) clearTimeout(timer);
        this.waiters.delete(onChange);
        signal.removeEventListener("abort", onAbort);
        resolve(timedOut);
      };
      const onChange = (): void => done(false);
      const onAbort = (): void => done(false);
      this.waiters.add(onChange);
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) done(false);
      else if (timeoutMs !== undefined) timer = setTimeout(() => done(true), timeoutMs);
    });
  }

  private wake(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }
}
