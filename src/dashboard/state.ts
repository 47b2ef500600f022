/**
 * The dashboard's state (pure): folded from the run's event stream, plus one observation of
 * Kamailio's runtime per tick (dispatcher mode, active dialogs per backend), and at the end the
 * observation taken after the run's last call ended (`endTick`). Counting is incremental: every
 * event and every tick costs the same however long the run has been going.
 */
import {
  assertNever,
  type BackendCounts,
  type RunEvent,
  type RunStatus,
  type SimPhase,
  type StepState,
  type Verdict,
} from "../events/run-events.js";
import { addCounts, emptyCounts } from "../hep/rate-counter.js";
import type { BackendRole } from "../core/backend-role.js";

export interface BackendStats {
  /** calls whose initial INVITE reached this backend (never retransmissions) */
  total: number;
  /** total growth over the last tick interval */
  delta: number;
  /** calls routed here that the caller saw complete (2xx to INVITE and BYE) */
  completed: number;
  failed: number;
  /** Kamailio's active dialogs to this backend at the last tick; undefined when not observed */
  active: number | undefined;
  /** the PBX's own active channels at the last tick (real FreeSWITCH: `show channels count`); undefined for stand-ins */
  channels: number | undefined;
}

export interface DashboardState {
  startedAt: number;
  now: number;
  runDir: string;
  phase: SimPhase;
  status: RunStatus;
  /** dispatcher mode as Kamailio's runtime reports it (`dispatcher.list`), or "unavailable" */
  mode: string;
  backends: Record<BackendRole, BackendStats>;
  /** calls per second over the last tick interval */
  callsPerSecond: number;
  verdicts: { pass: number; fail: number; inconclusive: number };
  /** set by run-finished (`at`: when the run's last call had ended and the verdicts were in) */
  finished: { at: number; status: RunStatus; exitCode: number; failures: string[] } | undefined;
  /** set by the final tick: what Kamailio held after the run's last call ended */
  end: EndObservation | undefined;
  /** the last log lines of the run (simulation.stdout.log), bounded */
  logTail: string[];
  /**
   * rates from Kamailio's HEP mirror (backend-rates events): the last whole window and the totals
   * of every window; undefined while no window has come (no HEP capture in this run)
   */
  hep: HepRates | undefined;
  /** totals at the previous tick, for deltas */
  lastTick: { at: number; old: number; new: number };
  /** the backends report their own channel counts (a lab of real FreeSWITCH): the frame shows them */
  pbxChannels: boolean;
  /** the plan runner's last step event (sim's phases are plan steps); undefined before the first */
  step: { index: number; of: number; label: string; weightNew: number; state: StepState } | undefined;
  /** the runner put back the last good step (its label), or undefined */
  rolledBackTo: string | undefined;
  /** each phase's media-both-ways verdict with its numbers (calls that carry audio), in the order they came */
  audio: { phase: SimPhase; verdict: Verdict; numbers: Record<string, number> }[];
}

export interface HepRates {
  /** the last window that is a rate to show (not the partial final one); undefined before the first */
  last: { at: number; windowMs: number; backends: Record<BackendRole, BackendCounts> } | undefined;
  totals: Record<BackendRole, BackendCounts>;
}

export const LOG_TAIL_LINES = 12;

const emptyBackend = (): BackendStats => ({
  total: 0,
  delta: 0,
  completed: 0,
  failed: 0,
  active: undefined,
  channels: undefined,
});

export function initialState(runDir: string, at: number): DashboardState {
  return {
    startedAt: at,
    now: at,
    runDir,
    phase: "stack-start",
    status: "running",
    mode: "unavailable",
    backends: { old: emptyBackend(), new: emptyBackend() },
    callsPerSecond: 0,
    verdicts: { pass: 0, fail: 0, inconclusive: 0 },
    finished: undefined,
    end: undefined,
    logTail: [],
    hep: undefined,
    lastTick: { at, old: 0, new: 0 },
    pbxChannels: false,
    step: undefined,
    rolledBackTo: undefined,
    audio: [],
  };
}

function withBackend(s: DashboardState, b: BackendRole, change: Partial<BackendStats>): DashboardState {
  return { ...s, backends: { ...s.backends, [b]: { ...s.backends[b], ...change } } };
}

/** Fold one event into the state. */
export function reduce(s: DashboardState, e: RunEvent): DashboardState {
  const next = { ...s, now: Math.max(s.now, e.at) };
  switch (e.kind) {
    case "run-started":
      return { ...next, runDir: e.runDir };
    case "phase":
      return { ...next, phase: e.phase };
    case "status":
      return { ...next, status: e.status };
    case "step":
      return { ...next, step: { index: e.index, of: e.of, label: e.label, weightNew: e.weightNew, state: e.state } };
    case "rollback":
      return e.ok ? { ...next, rolledBackTo: e.toLabel } : next;
    case "apply":
    case "hold":
    case "gates":
    case "control":
    case "drain":
    case "take-out":
      // the mode comes from Kamailio's runtime at each tick, not from the apply; holds, gates, control and drain are not shown
      return next;
    case "call-routed":
      return withBackend(next, e.backend, { total: next.backends[e.backend].total + 1 });
    case "call-finished": {
      if (e.backend === undefined) return next;
      const b = next.backends[e.backend];
      return withBackend(next, e.backend, e.completed ? { completed: b.completed + 1 } : { failed: b.failed + 1 });
    }
    case "backend-rates":
      return { ...next, hep: foldRates(next.hep, e) };
    case "verdict": {
      const verdicts = { ...next.verdicts, [e.verdict]: next.verdicts[e.verdict] + 1 };
      if (e.numbers === undefined) return { ...next, verdicts };
      // a phase judged again replaces its row
      const audio = [
        ...next.audio.filter((a) => a.phase !== e.phase),
        { phase: e.phase, verdict: e.verdict, numbers: e.numbers },
      ];
      return { ...next, verdicts, audio };
    }
    case "log": {
      const tail = next.logTail.length >= LOG_TAIL_LINES ? next.logTail.slice(1) : next.logTail.slice();
      tail.push(e.line);
      return { ...next, logTail: tail };
    }
    case "run-finished":
      return {
        ...next,
        status: e.status,
        phase: "done",
        finished: { at: e.at, status: e.status, exitCode: e.exitCode, failures: e.failures },
      };
    default:
      return assertNever(e);
  }
}

/** One window of HEP counts into the rates (pure; the view model folds the same way). */
export function foldRates(h: HepRates | undefined, e: Extract<RunEvent, { kind: "backend-rates" }>): HepRates {
  const totals = h?.totals ?? { old: emptyCounts(), new: emptyCounts() };
  return {
    last: e.final ? h?.last : { at: e.at, windowMs: e.windowMs, backends: e.backends },
    totals: { old: addCounts(totals.old, e.backends.old), new: addCounts(totals.new, e.backends.new) },
  };
}

export interface Observation {
  at: number;
  /** runtime dispatcher mode, or undefined when Kamailio did not answer (the last one is kept) */
  mode: string | undefined;
  active: Partial<Record<BackendRole, number>>;
  /** each PBX's own channel count (real FreeSWITCH only; absent for stand-ins) */
  channels?: Partial<Record<BackendRole, number>>;
}

/** A tick: deltas since the previous tick, calls/s over the interval, and Kamailio's runtime view. */
export function tick(s: DashboardState, o: Observation): DashboardState {
  const dOld = s.backends.old.total - s.lastTick.old;
  const dNew = s.backends.new.total - s.lastTick.new;
  const seconds = Math.max(0.001, (o.at - s.lastTick.at) / 1000);
  return {
    ...s,
    now: Math.max(s.now, o.at),
    mode: o.mode ?? s.mode,
    callsPerSecond: (dOld + dNew) / seconds,
    backends: {
      old: {
        ...s.backends.old,
        delta: dOld,
        active: o.active.old ?? s.backends.old.active,
        channels: o.channels?.old ?? s.backends.old.channels,
      },
      new: {
        ...s.backends.new,
        delta: dNew,
        active: o.active.new ?? s.backends.new.active,
        channels: o.channels?.new ?? s.backends.new.channels,
      },
    },
    lastTick: { at: o.at, old: s.backends.old.total, new: s.backends.new.total },
    pbxChannels: s.pbxChannels || o.channels !== undefined,
  };
}

/**
 * What Kamailio held once the run was over. Every call of a finished run has ended (the UAC has
 * exited), so the evidence expects 0 active dialogs per backend; Kamailio may keep a dialog for a
 * moment after the BYE's 200, or for much longer when a BYE never got through.
 */
export interface EndObservation {
  /** mode and active dialogs come from an observation started after the run ended */
  observed: boolean;
  /** ms from the run's end (run-finished) to the start of the observation shown */
  afterMs: number | undefined;
  /** Kamailio's active dialogs are 0 for both backends, as the evidence expects */
  settled: boolean;
  /** why there is no observation after the end (interrupted, Kamailio did not answer, not observed) */
  reason: string | undefined;
}

/** Kamailio answered all of it: the dispatcher mode and both backends' active dialogs. */
export function isComplete(o: Observation): boolean {
  return (
    o.mode !== undefined && o.mode !== "unavailable" && Number.isFinite(o.active.old) && Number.isFinite(o.active.new)
  );
}

/**
 * Active dialogs as the evidence expects them once every call of the run has ended; where the PBXs
 * report their own channels (`channels` given), those are 0 too.
 */
export function settledAtEnd(
  active: Partial<Record<BackendRole, number>>,
  channels?: Partial<Record<BackendRole, number>>,
): boolean {
  return active.old === 0 && active.new === 0 && (channels === undefined || (channels.old === 0 && channels.new === 0));
}

/**
 * The final tick. Mode and active dialogs come only from `obs`, an observation started after the
 * run's last call ended; without one they show as unknown, never as a stale number.
 */
export function endTick(s: DashboardState, at: number, obs: Observation | undefined, reason?: string): DashboardState {
  const finishedAt = s.finished?.at ?? s.now;
  const after = obs !== undefined && obs.at >= finishedAt && isComplete(obs) ? obs : undefined;
  const t = tick(s, { at, mode: after?.mode ?? "unavailable", active: {} });
  const active = after?.active ?? {};
  // the PBXs' own counts, where they report them, from the same observation only
  const pbx = s.pbxChannels;
  const channels = after?.channels ?? {};
  return {
    ...t,
    backends: {
      old: { ...t.backends.old, active: active.old, channels: pbx ? channels.old : undefined },
      new: { ...t.backends.new, active: active.new, channels: pbx ? channels.new : undefined },
    },
    end: {
      observed: after !== undefined,
      afterMs: after ? after.at - finishedAt : undefined,
      settled: after !== undefined && settledAtEnd(active, pbx ? channels : undefined),
      reason: after ? undefined : (reason ?? "Kamailio did not answer"),
    },
  };
}
