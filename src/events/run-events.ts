import { EventEmitter } from "node:events";
import type { BackendRole } from "../core/backend-role.js";

/**
 * The run's one typed event stream. The simulation emits; subscribers record or show it and never
 * decide: run-files.ts (status.txt, current_phase.txt, simulation.stdout.log), event-log.ts
 * (events.ndjson), and the dashboard's view and live-metrics.csv (src/dashboard/live.ts).
 * Add a kind here and every `switch (e.kind)` with an exhaustive check must handle it.
 */
/**
 * A step of sim's plan: the seed's old, both and new, or a weighted step `new<W>` (new10: new at 10 %,
 * any weight from 1 to 99 a `--steps` or `--plan` run holds).
 */
export type RoutingPhase = "old" | "both" | "new" | `new${number}`;
export type SimPhase = "stack-start" | "preflight" | RoutingPhase | "inflight" | "done";
export type RunStatus = "running" | "success" | "failed";
export type Verdict = "pass" | "fail" | "inconclusive";
export type StepState = "applied" | "passed" | "failed";
/** classes of the answers a backend gives to INVITE */
export type AnswerClass = "1xx" | "2xx" | "3xx-6xx";
/** one backend's share of one window of the HEP stream (src/hep/rate-counter.ts) */
export interface BackendCounts {
  /** initial INVITEs Kamailio forwarded to the backend (new calls routed there; retransmissions not counted) */
  routed: number;
  /** responses to INVITE the backend sent Kamailio, by class (distinct responses, not retransmissions) */
  answers: Record<AnswerClass, number>;
}
export type DrainState = "started" | "progress" | "drained" | "remaining" | "timed-out" | "aborted" | "unavailable";
/** a dialog still up on a backend: its Call-ID and how long it has been up (Kamailio's dialog start time) */
/** one gate's verdict with its numbers per backend (the metric's value and its samples), as results.json has it */
export interface GateRow {
  name: string;
  verdict: Verdict | "not-applicable";
  detail: string;
  values: Partial<Record<BackendRole, number | undefined>>;
  samples: Partial<Record<BackendRole, number>>;
}
export interface DrainCall {
  callId: string;
  ageS: number;
}
/** what an operator can ask a running plan to do (`pbx-cutover pause | resume | promote | abort`) */
export type ControlAction = "pause" | "resume" | "promote" | "abort";

export type RunEvent =
  | { kind: "run-started"; at: number; runDir: string; knobs: Record<string, number> }
  | { kind: "phase"; at: number; phase: SimPhase }
  | { kind: "status"; at: number; status: RunStatus }
  /**
   * a verified dispatcher apply finished (ok or restored): `label` names the list (old, both, new, a
   * plan step's new=10%, before-plan); `mode` is there only when the list is one of the modes
   * old/both/new. Event logs written before `label` existed carry the label in `mode`: readers take
   * `label ?? mode` (applyLabel).
   */
  | {
      kind: "apply";
      at: number;
      label: string;
      mode?: "old" | "both" | "new";
      ok: boolean;
      durationMs: number;
      runtime: string[];
    }
  /** a backend received the initial INVITE of a call (retransmissions never produce this) */
  | { kind: "call-routed"; at: number; callId: string; phase: SimPhase; backend: BackendRole }
  /** the UAC finished a call: completed = 2xx to INVITE and 2xx to BYE */
  | {
      kind: "call-finished";
      at: number;
      callId: string;
      phase: SimPhase;
      backend: BackendRole | undefined;
      completed: boolean;
      reason?: string;
    }
  | {
      kind: "verdict";
      at: number;
      phase: SimPhase;
      name: string;
      verdict: Verdict;
      details: string;
      /** media-both-ways: its numbers (calls judged, one-way, RFC 3550 loss and jitter), for the live views */
      numbers?: Record<string, number>;
    }
  /**
   * a plan step (src/plan/runner.ts): `applied` = its list was verified at runtime (the step's window
   * starts here), `passed` = held and gated, it is now the last good step, `failed` = its apply or gates
   * failed or the run was aborted during it. index counts from 1; of = the plan's step count.
   */
  | {
      kind: "step";
      at: number;
      index: number;
      of: number;
      label: string;
      weightNew: number;
      state: StepState;
      detail: string;
    }
  /**
   * the runner put back the last good step with verifiedApply (to = its index, 0 = the list that ran
   * before the plan); ok = the runtime was read back equal to it
   */
  | {
      kind: "rollback";
      at: number;
      from: number;
      to: number;
      toLabel: string;
      reason: string;
      ok: boolean;
      durationMs: number;
      runtime: string[];
      /** a failed gate's rollback: its first failing call's INVITE -> the restored runtime read back (ms) */
      reactionMs?: number;
      /** a failed gate's rollback whose take-out worked: its first failing call's INVITE -> new out of selection (ms) */
      stoppedMs?: number;
    }
  /**
   * a failed gate's first move (src/apply/take-out.ts): new's destinations disabled in Kamailio's
   * memory with dispatcher.set_state (not subject to the reload guard) and read back, before the
   * rollback's verified apply; ok false = not taken out (why in reason), the calls wait for the reload.
   * `step` is the failing step (from 1); stoppedMs: from its first failing call's INVITE
   */
  | {
      kind: "take-out";
      at: number;
      step: number;
      ok: boolean;
      destinations: string[];
      durationMs: number;
      reason?: string;
      stoppedMs?: number;
    }
  /**
   * per-backend counts from what Kamailio mirrored (HEP) over the window of `windowMs` that ended at
   * `at` (src/hep/rate-events.ts, every second while the capture runs); final = the partial window
   * closed at the run's end (its counts add to the totals; it is no rate to show)
   */
  | {
      kind: "backend-rates";
      at: number;
      windowMs: number;
      final: boolean;
      backends: Record<BackendRole, BackendCounts>;
    }
  /**
   * a plan step's hold (re)started: it ends at endsAt unless paused (the clock stops) or promoted (it ends
   * now). Emitted when a hold starts and again when a paused hold resumes, with what was left.
   */
  | { kind: "hold"; at: number; index: number; ms: number; endsAt: number; extension: number; resumed: boolean }
  /**
   * the gates' verdict on a step's window (runner), with their numbers or why nothing was evaluated;
   * `gates`: each gate's row (live traffic); `early`: a gate failed while the step held
   */
  | {
      kind: "gates";
      at: number;
      index: number;
      verdict: Verdict | "none";
      detail: string;
      gates?: GateRow[];
      early?: boolean;
    }
  /**
   * an operator's control request over the run's control socket (src/control/): accepted = it took
   * effect (pause, resume, promote, abort); refused ones say why in detail. status requests are not events.
   */
  | { kind: "control"; at: number; command: ControlAction; accepted: boolean; detail: string; by?: "operator" | "plan" }
  /**
   * drain after the last step (src/observe/drain.ts): the old backend's active dialogs by Kamailio's
   * dialog profile. started / progress (while waiting) / drained (none left) / remaining (calls left, not
   * waited for: --drain-timeout 0) / timed-out (calls left at the timeout) / aborted (operator or signal) /
   * unavailable (Kamailio could not be asked); calls are listed with their age
   */
  | {
      kind: "drain";
      at: number;
      backend: BackendRole;
      state: DrainState;
      active: number;
      calls: DrainCall[];
      detail: string;
    }
  /** a human-readable line for simulation.stdout.log */
  | { kind: "log"; at: number; line: string }
  | { kind: "run-finished"; at: number; status: RunStatus; exitCode: number; failures: string[] };

export type RunEventKind = RunEvent["kind"];

/** A tiny typed bus. Listeners run synchronously in subscription order. */
export class RunEvents {
  private readonly ee = new EventEmitter();
  emit(e: RunEvent): void {
    this.ee.emit("event", e);
  }
  subscribe(fn: (e: RunEvent) => void): () => void {
    this.ee.on("event", fn);
    return () => this.ee.off("event", fn);
  }
}

/** The list an apply event names, also from an event log written when `mode` carried it (new=10%). */
export function applyLabel(e: Extract<RunEvent, { kind: "apply" }>): string {
  return (e as { label?: string }).label ?? e.mode ?? "?";
}

/** Compile-time exhaustiveness helper for `switch (e.kind)`. */
export function assertNever(x: never): never {
  throw new Error(`unhandled event: ${JSON.stringify(x)}`);
}
