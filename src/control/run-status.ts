/**
 * A running plan's status (pure): folded from the run's event stream (step, hold, gates, control,
 * rollback, drain, run-finished), like the dashboard's state; `statusView(state, now)` is what
 * `pbx-cutover status` shows and `--json` prints. Nothing here decides anything: the runner and the
 * run's control (run-control.ts) do, and emit the events this reads.
 */
import type { ControlAction, DrainCall, DrainState, RunEvent, Verdict } from "../events/run-events.js";

export interface PlanStepInfo {
  label: string;
  weightNew: number;
  holdS: number;
  gates: string[];
}

export interface RunInfo {
  runDir: string;
  pid: number;
  command: string;
  startedAt: number;
  source: string;
  steps: PlanStepInfo[];
}

export type RunPhase =
  | "starting"
  | "applying"
  | "applied"
  | "holding"
  | "evaluating"
  | "passed"
  | "rolling back"
  | "rolled back"
  | "draining"
  | "finished";

export interface RunStatusState {
  info: RunInfo;
  /** the step being applied, held or judged, from 1; 0 = none yet */
  current: number;
  phase: RunPhase;
  /** the current step's runtime as verifiedApply read it back */
  runtime: string | undefined;
  /** the last step that passed, from 1; 0 = the list before the plan */
  lastGood: number;
  hold:
    { index: number; ms: number; endsAt: number; extension: number; frozenRemainingMs: number | undefined } | undefined;
  /** paused since; by the plan: why (its gates are inconclusive) */
  paused: { since: number; byPlan?: string } | undefined;
  gates: { index: number; verdict: Verdict | "none"; detail: string } | undefined;
  rollback: { from: number; to: number; toLabel: string; ok: boolean; reason: string } | undefined;
  drain: { state: DrainState; active: number; calls: DrainCall[]; detail: string; at: number } | undefined;
  lastControl: { command: ControlAction; accepted: boolean; detail: string; at: number } | undefined;
  finished: { exitCode: number; status: string } | undefined;
}

export function initialStatus(info: RunInfo): RunStatusState {
  return {
    info,
    current: 0,
    phase: "starting",
    runtime: undefined,
    lastGood: 0,
    hold: undefined,
    paused: undefined,
    gates: undefined,
    rollback: undefined,
    drain: undefined,
    lastControl: undefined,
    finished: undefined,
  };
}

export function reduceStatus(s: RunStatusState, e: RunEvent): RunStatusState {
  switch (e.kind) {
    case "step":
      if (e.state === "applied")
        return {
          ...s,
          current: e.index,
          phase: "applied",
          runtime: e.detail.replace(/^runtime /, ""),
          hold: undefined,
        };
      if (e.state === "passed") {
        const last = e.index >= e.of;
        return {
          ...s,
          lastGood: e.index,
          hold: undefined,
          current: last ? e.index : e.index + 1,
          phase: last ? "passed" : "applying",
          runtime: last ? s.runtime : undefined,
        };
      }
      return { ...s, current: e.index, phase: "rolling back", hold: undefined, paused: undefined };
    case "hold": {
      const frozen = s.paused !== undefined && !e.resumed ? e.ms : undefined;
      return {
        ...s,
        current: e.index,
        phase: "holding",
        hold: { index: e.index, ms: e.ms, endsAt: e.endsAt, extension: e.extension, frozenRemainingMs: frozen },
      };
    }
    case "gates":
      return {
        ...s,
        phase: s.phase === "holding" ? "evaluating" : s.phase,
        hold: undefined,
        gates: { index: e.index, verdict: e.verdict, detail: e.detail },
      };
    case "control": {
      const lastControl = { command: e.command, accepted: e.accepted, detail: e.detail, at: e.at };
      if (!e.accepted) return { ...s, lastControl };
      switch (e.command) {
        case "pause":
          return {
            ...s,
            lastControl,
            paused: { since: e.at, ...(e.by === "plan" ? { byPlan: e.detail } : {}) },
            hold:
              s.hold === undefined ? undefined : { ...s.hold, frozenRemainingMs: Math.max(0, s.hold.endsAt - e.at) },
          };
        case "resume":
          // a held step's clock restarts with a fresh hold event (resumed) from the run's control
          return { ...s, lastControl, paused: undefined };
        case "promote":
          return { ...s, lastControl, hold: undefined, phase: "evaluating" };
        case "abort":
          return { ...s, lastControl, paused: undefined, hold: undefined, phase: "rolling back" };
      }
      return s;
    }
    case "rollback":
      return {
        ...s,
        phase: "rolled back",
        lastGood: e.ok ? e.to : s.lastGood,
        hold: undefined,
        paused: undefined,
        rollback: { from: e.from, to: e.to, toLabel: e.toLabel, ok: e.ok, reason: e.reason },
      };
    case "drain":
      return {
        ...s,
        phase: e.state === "started" || e.state === "progress" ? "draining" : s.phase,
        drain: { state: e.state, active: e.active, calls: e.calls, detail: e.detail, at: e.at },
      };
    case "run-finished":
      return {
        ...s,
        phase: "finished",
        hold: undefined,
        paused: undefined,
        finished: { exitCode: e.exitCode, status: e.status },
      };
    default:
      return s;
  }
}

export interface StatusView {
  runDir: string;
  pid: number;
  command: string;
  startedAt: string;
  plan: { source: string; steps: (PlanStepInfo & { index: number; weightOld: number })[] };
  /** the step being worked on (undefined before the first apply) */
  step:
    | { index: number; of: number; label: string; weightNew: number; weightOld: number; runtime: string | undefined }
    | undefined;
  phase: RunPhase;
  paused: boolean;
  pausedForS: number | undefined;
  /** why the plan paused itself (inconclusive gates); undefined when the operator paused or nothing is paused */
  pausedBecause: string | undefined;
  /** the current step's hold; remainingS stands still while paused */
  hold: { totalS: number; remainingS: number; extension: number } | undefined;
  /** seconds until the next step starts, when the hold is all that is left (undefined: not known / not waiting on a clock) */
  nextStepInS: number | undefined;
  next: string;
  lastGood: { index: number; label: string };
  gates: { step: number; names: string[]; verdict: Verdict | "none" | "not evaluated yet"; detail: string } | undefined;
  rollback: RunStatusState["rollback"];
  drain: { state: DrainState; active: number; calls: DrainCall[]; detail: string } | undefined;
  lastControl: { command: ControlAction; accepted: boolean; detail: string; at: string } | undefined;
  finished: RunStatusState["finished"];
}

const r1 = (ms: number): number => Math.round(ms / 100) / 10;

export function statusView(s: RunStatusState, now: number): StatusView {
  const steps = s.info.steps.map((p, i) => ({ ...p, index: i + 1, weightOld: 100 - p.weightNew }));
  const of = steps.length;
  const cur = s.current > 0 ? steps[s.current - 1] : undefined;
  const hold =
    s.hold === undefined
      ? undefined
      : {
          totalS: r1(s.hold.ms),
          remainingS: r1(
            s.paused !== undefined && s.hold.frozenRemainingMs !== undefined
              ? s.hold.frozenRemainingMs
              : Math.max(0, s.hold.endsAt - now),
          ),
          extension: s.hold.extension,
        };
  const following = s.current > 0 && s.current < of ? steps[s.current] : undefined;
  const nextStepInS =
    hold !== undefined && following !== undefined && (cur?.gates.length ?? 0) === 0 ? hold.remainingS : undefined;
  const next = nextText(s, hold, following, cur);
  // the current step's gates: judged after its hold (the previous step's verdict is in its events)
  const gateStep = s.current;
  const gateNames = gateStep > 0 ? (steps[gateStep - 1]?.gates ?? []) : [];
  return {
    runDir: s.info.runDir,
    pid: s.info.pid,
    command: s.info.command,
    startedAt: new Date(s.info.startedAt).toISOString(),
    plan: { source: s.info.source, steps },
    step:
      cur === undefined
        ? undefined
        : {
            index: s.current,
            of,
            label: cur.label,
            weightNew: cur.weightNew,
            weightOld: cur.weightOld,
            runtime: s.runtime,
          },
    phase: s.phase,
    paused: s.paused !== undefined,
    pausedForS: s.paused === undefined ? undefined : r1(now - s.paused.since),
    pausedBecause: s.paused?.byPlan,
    hold,
    nextStepInS,
    next,
    lastGood: {
      index: s.lastGood,
      label:
        s.lastGood === 0 ? "the list before the plan" : `step ${s.lastGood} (${steps[s.lastGood - 1]?.label ?? "?"})`,
    },
    gates:
      gateStep > 0 && (gateNames.length > 0 || s.gates !== undefined)
        ? {
            step: gateStep,
            names: gateNames,
            verdict: s.gates?.index === gateStep ? s.gates.verdict : "not evaluated yet",
            detail: s.gates?.index === gateStep ? s.gates.detail : "",
          }
        : undefined,
    rollback: s.rollback,
    drain:
      s.drain === undefined
        ? undefined
        : { state: s.drain.state, active: s.drain.active, calls: s.drain.calls, detail: s.drain.detail },
    lastControl:
      s.lastControl === undefined ? undefined : { ...s.lastControl, at: new Date(s.lastControl.at).toISOString() },
    finished: s.finished,
  };
}

function nextText(
  s: RunStatusState,
  hold: StatusView["hold"],
  following: PlanStepInfo | undefined,
  cur: PlanStepInfo | undefined,
): string {
  const nextName = following === undefined ? "the end of the plan" : `step ${s.current + 1} (${following.label})`;
  if (s.finished) return "nothing: the run has finished";
  if (s.phase === "rolling back") return "the run is ending: going back to the last good step";
  if (s.phase === "rolled back")
    return `the run is ending: ${s.rollback?.ok ? `${s.rollback.toLabel} is back in place` : "the rollback did not complete"}`;
  if (s.phase === "draining") return "waiting for the old backend's calls to end (drain)";
  if (s.paused?.byPlan !== undefined) {
    return `nothing until the operator decides: \`pbx-cutover resume\` holds step ${s.current} again and judges it again, \`promote\` passes it as it is, \`abort\` goes back to the last good step`;
  }
  if (s.paused !== undefined) {
    return `nothing until \`pbx-cutover resume\` (paused${hold ? `; ${fmtDuration(hold.remainingS)} of the hold left` : ""}); abort goes back to the last good step`;
  }
  if (hold !== undefined) {
    const gated = (cur?.gates.length ?? 0) > 0;
    return `${nextName} in ${fmtDuration(hold.remainingS)}${gated ? ", if its gates pass" : ""} (promote skips the rest of the hold)`;
  }
  if (s.phase === "applying") return `${s.current > 0 ? `step ${s.current}` : "the first step"} is being applied`;
  if (s.phase === "evaluating") return `${nextName} once step ${s.current}'s gates are judged`;
  if (s.phase === "passed") return "the end of the plan";
  return "the first step";
}

/** 4m 12s, 1h 02m, 9.5s */
export function fmtDuration(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** `pbx-cutover status` as text (pure). */
export function formatStatusText(v: StatusView): string {
  const lines = [
    `run ${v.runDir}`,
    `  ${v.command}, pid ${v.pid}, started ${v.startedAt}; plan ${v.plan.source}: ${v.plan.steps.map((p) => p.label).join(" -> ")}`,
  ];
  if (v.step === undefined) {
    lines.push(`step: none applied yet (${v.phase})`);
  } else {
    lines.push(
      `step ${v.step.index}/${v.step.of} ${v.step.label}: ${v.phase}${v.paused ? `, PAUSED for ${fmtDuration(v.pausedForS ?? 0)}${v.pausedBecause ? " by the plan" : ""}` : ""}`,
    );
    if (v.pausedBecause) lines.push(`  why: ${v.pausedBecause}`);
    lines.push(
      `  weights: old ${v.step.weightOld}, new ${v.step.weightNew}${v.step.runtime ? ` (runtime: ${v.step.runtime})` : ""}`,
    );
  }
  if (v.hold)
    lines.push(
      `  hold: ${fmtDuration(v.hold.remainingS)} left of ${fmtDuration(v.hold.totalS)}${v.hold.extension > 0 ? ` (extension ${v.hold.extension})` : ""}${v.paused ? " (clock stopped while paused)" : ""}`,
    );
  if (v.gates) {
    lines.push(`  gates: ${v.gates.verdict}${v.gates.detail ? `: ${v.gates.detail}` : ""}`);
    if (v.gates.verdict === "not evaluated yet") for (const n of v.gates.names) lines.push(`    - ${n}`);
  }
  lines.push(`  last good: ${v.lastGood.label}`);
  if (v.rollback)
    lines.push(
      `  rollback: step ${v.rollback.from} -> ${v.rollback.toLabel}: ${v.rollback.ok ? "verified" : "did not complete"} (${v.rollback.reason})`,
    );
  if (v.drain) {
    lines.push(
      `  drain: ${v.drain.state}, ${v.drain.active} call(s) on old${v.drain.detail ? `: ${v.drain.detail}` : ""}`,
    );
    for (const c of v.drain.calls.slice(0, 10)) lines.push(`    - ${c.callId} up ${fmtDuration(c.ageS)}`);
  }
  if (v.lastControl)
    lines.push(
      `  last control: ${v.lastControl.command} ${v.lastControl.accepted ? "accepted" : "refused"} at ${v.lastControl.at}${v.lastControl.detail ? ` (${v.lastControl.detail})` : ""}`,
    );
  lines.push(`next: ${v.next}`);
  return lines.join("\n");
}
