/**
 * The web view of one run (pure): a typed, serialisable view model folded from the run's event
 * stream, the one thing both the live page (src/web/live-view.ts) and report.html
 * (src/web/run-report.ts) render. The counters come from the terminal dashboard's own reducer
 * (src/dashboard/state.ts `reduce`), so the web page and the terminal frame can never disagree; the
 * rest (the timeline of steps, calls over time per backend, every verdict) is folded here.
 *
 * The timeline holds the sim's phases (old, both, new, inflight) and a plan's steps and rollbacks
 * (the runner's `step` and `rollback` events): a plan step is `step-<n>` with its weight and state, and
 * the verified apply that came just before its step event (migrate), or, when the step is sim's live
 * phase (its `phase` event came first, same name), that phase with the step's index, weight and state
 * (sim's phases are plan steps; the timeline stays old, both, new, inflight); a rollback is an
 * entry of its own and makes the step it put back live again. Events of kinds this version does not
 * fold (a newer tool's events.ndjson) are notes on the live step, or on the run, counted by kind:
 * never a crash. The page renders what is here and decides nothing.
 *
 * Folding is incremental (every event costs the same however long the run is); `snapshot()` costs
 * the size of the view, which is bounded: the time series keeps at most MAX_BINS bins (the bin
 * width doubles when a run outgrows them).
 */
import { initialState, reduce, type DashboardState } from "../dashboard/state.js";
import {
  assertNever,
  type AnswerClass,
  type BackendCounts,
  type RunEvent,
  type RunEventKind,
  type RunStatus,
  type SimPhase,
  type StepState,
  type Verdict,
  applyLabel,
} from "../events/run-events.js";
import { perSecond } from "../hep/rate-counter.js";
import type { BackendRole } from "../core/backend-role.js";

export const VIEW_SCHEMA = 2;
/** the time series' bound: a run of any length keeps at most this many bins per series */
export const MAX_BINS = 600;
export const LOG_TAIL = 20;
/** the time series starts with half-second bins (a short lab run still shows its phases) */
export const FIRST_BIN_SECONDS = 0.5;
export const BACKENDS = ["old", "new"] as const satisfies readonly BackendRole[];
/** notes kept per step and outside steps: a run of any length keeps at most this many */
export const MAX_NOTES = 50;

export interface GateView {
  name: string;
  verdict: Verdict | "not-applicable";
  /** the metric's value and its threshold, as the gate event carries them */
  value?: number;
  threshold?: string;
  details: string;
}

/** an event on the timeline the view has no own field for (a kind this version does not fold, or a plan step's detail) */
export interface NoteView {
  at: number;
  kind: string;
  text: string;
}

export interface StepView {
  /** stable key: the sim phase's name, `step-<n>` for a plan step, `rollback-<n>` for a rollback */
  key: string;
  /** a sim phase, a plan step (step events of migrate --steps/--plan), or a rollback the plan runner made */
  kind: "phase" | "plan-step" | "rollback";
  label: string;
  /** plan steps: applied (its list is live), passed (held and gated), failed; rollbacks: passed = the list was put back */
  state: StepState | undefined;
  /** plan steps: n of N */
  index: number | undefined;
  of: number | undefined;
  /** the new backend's weight (0-100) when the step has one (plan steps); undefined for the sim's phases */
  weight: number | undefined;
  startedAt: number;
  /** when the next step started or the run finished; undefined while it is live */
  endedAt: number | undefined;
  /** each verified apply of the step: the list's label (old, both, new, new=10%, before-plan) */
  applies: { at: number; label: string; ok: boolean; durationMs: number; runtime: string[] }[];
  routed: Record<BackendRole, number>;
  verdicts: { pass: number; fail: number; inconclusive: number };
  gates: GateView[];
  /** what happened during the step, in order: step details, and events of kinds the view does not fold (bounded) */
  notes: NoteView[];
}

export interface VerdictView {
  at: number;
  phase: string;
  name: string;
  verdict: Verdict;
  details: string;
  /** the assertion's numbers (results.json); undefined until the results are in */
  numbers: Record<string, number> | undefined;
  offenders: string[];
}

export interface BackendView {
  /** calls whose initial INVITE reached this backend (the dashboard's `total`) */
  routed: number;
  completed: number;
  failed: number;
  /** routed and not finished yet, as the evidence shows it (not Kamailio's dialog count) */
  up: number;
}

export interface SeriesView {
  /** bin width in seconds */
  binSeconds: number;
  /** bin start, seconds since the run started */
  t: number[];
  /** new calls per second per backend in each bin */
  callsPerSecond: Record<BackendRole, number[]>;
  /** calls up per backend at the end of each bin */
  up: Record<BackendRole, number[]>;
}

export interface ResultsSummary {
  status: string;
  exitCode: number;
  durationMs: number;
  floorMs: number | undefined;
  /** calls per backend of INVITE as results.json lists them */
  callsByBackend: Record<BackendRole, number>;
  calls: number;
  failures: string[];
}

export interface HepRateView {
  /** new calls routed to the backend (initial INVITEs Kamailio forwarded), per second */
  routed: number;
  /** answers to INVITE the backend sent, per second, by class */
  answers: Record<AnswerClass, number>;
}

export interface HepRatesView {
  /** the last whole window: when it ended, how long it was, its rates; undefined before the first */
  last: { at: number; windowMs: number; perSecond: Record<BackendRole, HepRateView> } | undefined;
  /** counts over every window since the capture started */
  totals: Record<BackendRole, BackendCounts>;
}

export interface EvidenceLink {
  name: string;
  what: string;
}

export interface RunView {
  schema: typeof VIEW_SCHEMA;
  /** events folded so far: the live stream's event id */
  seq: number;
  runDir: string;
  runName: string;
  startedAt: number | undefined;
  now: number;
  phase: SimPhase;
  status: RunStatus;
  /** the list of the last verified apply (Kamailio's runtime read back), undefined before the first */
  applied: string | undefined;
  knobs: Record<string, number>;
  steps: StepView[];
  /** index in `steps` of the live step, undefined when none is (before the first, after the end) */
  liveStep: number | undefined;
  backends: Record<BackendRole, BackendView>;
  series: SeriesView;
  verdicts: VerdictView[];
  verdictCounts: { pass: number; fail: number; inconclusive: number };
  finished: { at: number; status: RunStatus; exitCode: number; failures: string[] } | undefined;
  results: ResultsSummary | undefined;
  evidence: EvidenceLink[];
  logTail: string[];
  /** events of kinds this version does not fold, outside any step (newest last, bounded); counted per kind */
  otherEvents: NoteView[];
  unknownKinds: Record<string, number>;
  /** rates from Kamailio's HEP mirror (backend-rates events); undefined when the run had no capture */
  hep: HepRatesView | undefined;
  /** lines of events.ndjson that could not be read (report only) */
  unreadable: number;
}

const STEP_PHASES: ReadonlySet<SimPhase> = new Set(["old", "both", "new", "inflight"]);
const STEP_LABEL: Partial<Record<SimPhase, string>> = {
  old: "old: all new calls to old",
  both: "both: split between old and new",
  new: "new: all new calls to new",
  inflight: "in-flight cutover under a long call",
};

const perBackend = <T>(f: () => T): Record<BackendRole, T> => ({ old: f(), new: f() });

/** what the view reads of an event of a kind it does not know */
interface UnknownEvent {
  kind: string;
  at: number;
  [field: string]: unknown;
}

function newStep(o: { key: string; kind: StepView["kind"]; label: string; startedAt: number }): StepView {
  return {
    ...o,
    state: undefined,
    index: undefined,
    of: undefined,
    weight: undefined,
    endedAt: undefined,
    applies: [],
    routed: perBackend(() => 0),
    verdicts: { pass: 0, fail: 0, inconclusive: 0 },
    gates: [],
    notes: [],
  };
}

function pushNote(notes: NoteView[], n: NoteView): void {
  if (notes.length >= MAX_NOTES) notes.shift();
  notes.push(n);
}

/** an unknown event as one line: its detail (or reason, state) when it has one, else its other fields */
function noteText(e: UnknownEvent): string {
  const rest = Object.entries(e).filter(([k]) => k !== "kind" && k !== "at");
  const said = ["detail", "reason", "state", "command"]
    .map((k) => e[k])
    .find((v): v is string => typeof v === "string" && v !== "");
  const text = said ?? rest.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
  return text.length > 300 ? `${text.slice(0, 299)}~` : text;
}

/** Folds events into the view, one at a time; `snapshot()` is the view as of the last event. */
export class RunViewFolder {
  private dash: DashboardState;
  private seq = 0;
  private startedAt: number | undefined;
  private firstAt: number | undefined;
  private applied: string | undefined;
  private knobs: Record<string, number> = {};
  private readonly steps: StepView[] = [];
  private live: number | undefined;
  private readonly verdicts: VerdictView[] = [];
  private readonly open = new Map<string, BackendRole>();
  private readonly up = perBackend(() => 0);
  private binSeconds = FIRST_BIN_SECONDS;
  private readonly bins: { routed: Record<BackendRole, number>; up: Record<BackendRole, number> }[] = [];
  private readonly logTail: string[] = [];
  private unreadable = 0;
  private readonly pendingApplies: StepView["applies"] = [];
  private readonly otherEvents: NoteView[] = [];
  private readonly unknownKinds: Record<string, number> = {};

  constructor(runDir = "") {
    this.dash = initialState(runDir, 0);
  }

  add(e: RunEvent): void {
    this.seq++;
    this.firstAt ??= e.at;
    // a kind this version does not know (events.ndjson of a newer tool): a note, never a crash
    if (!KINDS.has(e.kind)) return this.note(e);
    this.dash = reduce(this.dash, e);
    switch (e.kind) {
      case "run-started":
        this.startedAt = e.at;
        this.knobs = { ...e.knobs };
        break;
      case "phase":
        this.foldPhase(e);
        break;
      case "apply":
        this.foldApply(e);
        break;
      case "step":
        this.foldStep(e);
        break;
      case "rollback":
        this.foldRollback(e);
        break;
      case "call-routed":
        this.foldCallRouted(e);
        break;
      case "call-finished":
        this.foldCallFinished(e);
        break;
      case "verdict":
        this.foldVerdict(e);
        break;
      case "log":
        if (this.logTail.length >= LOG_TAIL) this.logTail.shift();
        this.logTail.push(e.line);
        break;
      case "run-finished":
        this.endLiveStep(e.at);
        break;
      case "status":
        break;
      case "backend-rates":
        // the dashboard's reducer keeps them (this.dash.hep); snapshot() shows them per second
        break;
      case "gates":
        this.foldGates(e);
        this.planNote(e);
        break;
      case "hold":
      case "control":
      case "drain":
      case "take-out":
        this.planNote(e);
        break;
      default:
        assertNever(e);
    }
  }

  private foldPhase(e: Extract<RunEvent, { kind: "phase" }>): void {
    this.endLiveStep(e.at);
    if (!STEP_PHASES.has(e.phase) && !/^new\d+$/.test(e.phase)) return;
    this.steps.push(
      newStep({
        key: e.phase,
        kind: "phase",
        label: STEP_LABEL[e.phase] ?? `${e.phase}: ${e.phase.slice(3)}% of new calls to new`,
        startedAt: e.at,
      }),
    );
    this.live = this.steps.length - 1;
  }

  private foldApply(e: Extract<RunEvent, { kind: "apply" }>): void {
    const label = applyLabel(e);
    if (e.ok) this.applied = label;
    const a = { at: e.at, label, ok: e.ok, durationMs: e.durationMs, runtime: [...e.runtime] };
    // a plan step's (or rollback's) apply comes before its step (rollback) event: it waits for it
    const live = this.liveStepView();
    if (live && live.kind === "phase") live.applies.push(a);
    else this.pendingApplies.push(a);
  }

  private foldRollback(e: Extract<RunEvent, { kind: "rollback" }>): void {
    const from = this.planStep(e.from);
    if (from) from.state = "failed";
    this.endLiveStep(e.at);
    const label = `rollback from step ${e.from} to ${e.toLabel}${e.ok ? "" : ": FAILED"}`;
    const rb = newStep({
      key: `rollback-${this.steps.filter((x) => x.kind === "rollback").length + 1}`,
      kind: "rollback",
      label,
      startedAt: e.at,
    });
    rb.state = e.ok ? "passed" : "failed";
    rb.endedAt = e.at;
    rb.applies.push(...this.takePendingApplies());
    pushNote(rb.notes, {
      at: e.at,
      kind: "rollback",
      text: `${e.reason}; ${e.ok ? `runtime ${e.runtime.join(", ") || "(empty)"} in ${Math.round(e.durationMs)} ms` : "the runtime was not read back equal to it"}`,
    });
    this.steps.push(rb);
    // the step rolled back to is live again (0: the list before the plan, no step of it)
    const to = this.planStep(e.to);
    if (e.ok && to) {
      to.endedAt = undefined;
      this.live = this.steps.indexOf(to);
    }
  }

  private foldCallRouted(e: Extract<RunEvent, { kind: "call-routed" }>): void {
    const step = this.liveStepView();
    if (step) step.routed[e.backend]++;
    if (!this.open.has(e.callId)) {
      this.open.set(e.callId, e.backend);
      this.up[e.backend]++;
    }
    this.bin(e.at).routed[e.backend]++;
    this.bin(e.at).up = { ...this.up };
  }

  private foldCallFinished(e: Extract<RunEvent, { kind: "call-finished" }>): void {
    const b = this.open.get(e.callId);
    if (b !== undefined) {
      this.open.delete(e.callId);
      this.up[b]--;
      this.bin(e.at).up = { ...this.up };
    }
  }

  private foldVerdict(e: Extract<RunEvent, { kind: "verdict" }>): void {
    this.verdicts.push({
      at: e.at,
      phase: e.phase,
      name: e.name,
      verdict: e.verdict,
      details: e.details,
      numbers: undefined,
      offenders: [],
    });
    const step = [...this.steps].reverse().find((s) => s.key === e.phase);
    if (step) step.verdicts[e.verdict]++;
  }

  /** a plan step event: the step's entry on the timeline is made when it is first applied (or fails first) */
  private foldStep(e: Extract<RunEvent, { kind: "step" }>): void {
    let step = this.planStep(e.index);
    if (!step) {
      const live = this.liveStepView();
      if (live && live.kind === "phase" && live.key === e.label && live.index === undefined) {
        // sim: the plan step is the live phase (its phase event came first); it gets the step's fields
        step = live;
      } else {
        this.endLiveStep(e.at);
        step = newStep({
          key: `step-${e.index}`,
          kind: "plan-step",
          label: `step ${e.index}/${e.of}: ${e.label}`,
          startedAt: e.at,
        });
        this.steps.push(step);
        this.live = this.steps.length - 1;
      }
      step.index = e.index;
      step.of = e.of;
      step.weight = e.weightNew;
    }
    step.applies.push(...this.takePendingApplies());
    step.state = e.state;
    if (e.detail !== "") pushNote(step.notes, { at: e.at, kind: `step ${e.state}`, text: e.detail });
    if (e.state === "failed" && this.liveStepView() === step) this.endLiveStep(e.at);
  }

  private planStep(index: number): StepView | undefined {
    // a plan step of its own (migrate), or a sim phase that is one (its step event set its index)
    return this.steps.find((s) => (s.kind === "plan-step" || s.kind === "phase") && s.index === index);
  }

  private takePendingApplies(): StepView["applies"] {
    return this.pendingApplies.splice(0, this.pendingApplies.length);
  }

  /** a step's gates with their numbers (live traffic): the step's latest evaluation replaces the earlier one */
  private foldGates(e: Extract<RunEvent, { kind: "gates" }>): void {
    const step = this.planStep(e.index);
    if (!step || !e.gates) return;
    // each gate's verdict is a row of the run's verdicts too (the step's label is its phase)
    for (const g of e.gates) {
      if (g.verdict === "not-applicable") continue;
      this.verdicts.push({
        at: e.at,
        phase: step.label,
        name: g.name,
        verdict: g.verdict,
        details: g.detail,
        numbers: undefined,
        offenders: [],
      });
      step.verdicts[g.verdict]++;
    }
    step.gates = e.gates.map((g) => ({
      name: g.name,
      verdict: g.verdict,
      ...(g.values.new !== undefined ? { value: g.values.new } : {}),
      details: g.detail,
    }));
  }

  /** a plan runner's hold, gates, control or drain event: a note on the live step (or the run) */
  private planNote(e: Extract<RunEvent, { kind: "hold" | "gates" | "control" | "drain" | "take-out" }>): void {
    let text: string;
    switch (e.kind) {
      case "hold":
        text = `${e.resumed ? "resumed, " : ""}${Math.round(e.ms / 100) / 10} s${e.extension > 0 ? ` (extension ${e.extension})` : ""}`;
        break;
      case "gates":
        text = `${e.verdict}${e.detail !== "" ? `: ${e.detail}` : ""}`;
        break;
      case "control":
        text = `${e.command} ${e.accepted ? "accepted" : "refused"}${e.detail !== "" ? `: ${e.detail}` : ""}`;
        break;
      case "drain":
        text = `${e.backend} ${e.state}: ${e.active} active${e.detail !== "" ? `; ${e.detail}` : ""}`;
        break;
      case "take-out":
        text = e.ok
          ? `new out of selection (${e.destinations.join(", ")}) in ${Math.round(e.durationMs)} ms${e.stoppedMs !== undefined ? `, ${Math.round(e.stoppedMs)} ms after the first failing call` : ""}`
          : `new not taken out: ${e.reason ?? "?"}`;
        break;
    }
    const step = this.liveStepView();
    pushNote(step ? step.notes : this.otherEvents, {
      at: e.at,
      kind: e.kind,
      text: text.length > 300 ? `${text.slice(0, 299)}~` : text,
    });
  }

  /** an event of a kind the view does not fold: a note on the live step (or the run), counted by kind */
  private note(e: UnknownEvent): void {
    const kind = String(e.kind);
    this.unknownKinds[kind] = (this.unknownKinds[kind] ?? 0) + 1;
    const n: NoteView = { at: e.at, kind, text: noteText(e) };
    const step = this.liveStepView();
    pushNote(step ? step.notes : this.otherEvents, n);
  }

  /** a line of events.ndjson that was not an event */
  skip(): void {
    this.unreadable++;
  }

  private liveStepView(): StepView | undefined {
    return this.live === undefined ? undefined : this.steps[this.live];
  }

  private endLiveStep(at: number): void {
    const s = this.liveStepView();
    if (s) s.endedAt = at;
    this.live = undefined;
  }

  private origin(): number {
    return this.startedAt ?? this.firstAt ?? 0;
  }

  /** the bin holding `at`; bins are created up to it (gaps carry the calls up forward) */
  private bin(at: number): { routed: Record<BackendRole, number>; up: Record<BackendRole, number> } {
    const sec = Math.max(0, (at - this.origin()) / 1000);
    let i = Math.floor(sec / this.binSeconds);
    while (i >= MAX_BINS) {
      this.mergeBins();
      i = Math.floor(sec / this.binSeconds);
    }
    while (this.bins.length <= i) {
      const last = this.bins.at(-1);
      this.bins.push({ routed: perBackend(() => 0), up: last ? { ...last.up } : perBackend(() => 0) });
    }
    return this.bins[i]!;
  }

  /** halve the resolution: pairs of bins become one (calls add up, the later bin's calls up stay) */
  private mergeBins(): void {
    const merged: typeof this.bins = [];
    for (let i = 0; i < this.bins.length; i += 2) {
      const a = this.bins[i]!;
      const b = this.bins[i + 1];
      merged.push({
        routed: { old: a.routed.old + (b?.routed.old ?? 0), new: a.routed.new + (b?.routed.new ?? 0) },
        up: { ...(b ?? a).up },
      });
    }
    this.bins.splice(0, this.bins.length, ...merged);
    this.binSeconds *= 2;
  }

  snapshot(): RunView {
    const d = this.dash;
    const w = this.binSeconds;
    return {
      schema: VIEW_SCHEMA,
      seq: this.seq,
      runDir: d.runDir,
      runName: d.runDir.split("/").filter(Boolean).at(-1) ?? "",
      startedAt: this.startedAt,
      now: d.now,
      phase: d.phase,
      status: d.status,
      applied: this.applied,
      knobs: { ...this.knobs },
      steps: this.steps.map((s) => ({
        ...s,
        applies: [...s.applies],
        routed: { ...s.routed },
        verdicts: { ...s.verdicts },
        gates: [...s.gates],
        notes: [...s.notes],
      })),
      liveStep: this.live,
      backends: perBackendFrom((b) => ({
        routed: d.backends[b].total,
        completed: d.backends[b].completed,
        failed: d.backends[b].failed,
        up: this.up[b],
      })),
      series: {
        binSeconds: w,
        t: this.bins.map((_, i) => i * w),
        callsPerSecond: perBackendFrom((b) => this.bins.map((x) => x.routed[b] / w)),
        up: perBackendFrom((b) => this.bins.map((x) => x.up[b])),
      },
      verdicts: this.verdicts.map((v) => ({ ...v })),
      verdictCounts: { ...d.verdicts },
      finished: d.finished ? { ...d.finished, failures: [...d.finished.failures] } : undefined,
      results: undefined,
      evidence: [],
      logTail: [...this.logTail],
      otherEvents: [...this.otherEvents],
      unknownKinds: { ...this.unknownKinds },
      hep: d.hep ? hepRatesView(d.hep) : undefined,
      unreadable: this.unreadable,
    };
  }
}

function hepRatesView(h: NonNullable<DashboardState["hep"]>): HepRatesView {
  const w = h.last;
  const rate = (c: BackendCounts, ms: number): HepRateView => ({
    routed: perSecond(c.routed, ms),
    answers: {
      "1xx": perSecond(c.answers["1xx"], ms),
      "2xx": perSecond(c.answers["2xx"], ms),
      "3xx-6xx": perSecond(c.answers["3xx-6xx"], ms),
    },
  });
  return {
    last: w
      ? { at: w.at, windowMs: w.windowMs, perSecond: perBackendFrom((b) => rate(w.backends[b], w.windowMs)) }
      : undefined,
    totals: perBackendFrom((b) => ({ routed: h.totals[b].routed, answers: { ...h.totals[b].answers } })),
  };
}

function perBackendFrom<T>(f: (b: BackendRole) => T): Record<BackendRole, T> {
  return { old: f("old"), new: f("new") };
}

/** The view of a whole stream: the one pure function from events to what the pages show. */
export function runViewOf(events: Iterable<RunEvent>, runDir = ""): RunView {
  const f = new RunViewFolder(runDir);
  for (const e of events) f.add(e);
  return f.snapshot();
}

/** results.json as far as the view reads it (anything else in it is ignored). */
export interface ResultsInput {
  status?: unknown;
  exitCode?: unknown;
  durationMs?: unknown;
  floorMs?: unknown;
  failures?: unknown;
  verdicts?: unknown;
  calls?: unknown;
  /** migrate --traffic: `calls: {total, old, new}` */
  traffic?: unknown;
  /** sim: how many calls the run had and per backend (`calls` may list only the ones that did not complete) */
  callsListed?: unknown;
}

const num = (x: unknown): number | undefined => (typeof x === "number" && Number.isFinite(x) ? x : undefined);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? (x as unknown[]) : []);
const str = (x: unknown): string => (typeof x === "string" ? x : "");
const rec = (x: unknown): Record<string, unknown> =>
  x !== null && typeof x === "object" ? (x as Record<string, unknown>) : {};

/** The view with results.json folded in: each verdict's numbers and offenders, and the run's summary. */
export function withResults(view: RunView, results: ResultsInput): RunView {
  const byKey = new Map<string, Record<string, unknown>>();
  for (const v of arr(results.verdicts).map(rec)) byKey.set(`${String(v["phase"])}\u0000${String(v["name"])}`, v);
  const verdicts = view.verdicts.map((v) => {
    const r = byKey.get(`${v.phase}\u0000${v.name}`);
    if (!r) return v;
    const numbers = Object.fromEntries(
      Object.entries(rec(r["numbers"])).filter((kv): kv is [string, number] => num(kv[1]) !== undefined),
    );
    return { ...v, numbers, offenders: arr(r["offenders"]).map(String) };
  });
  const calls = arr(results.calls).map(rec);
  // migrate --traffic lists no calls one by one: its counts from HEP (traffic.calls)
  const traffic = rec(rec(results.traffic)["calls"]);
  // sim: its counts from callsListed, which knows them when results.json lists only some calls
  const listed = rec(results.callsListed);
  const listedTotal = num(listed["total"]);
  const counted = listedTotal ?? (Array.isArray(results.calls) ? undefined : num(traffic["total"]));
  const perBackend = listedTotal !== undefined ? rec(listed["byBackend"]) : traffic;
  const callsTo = (b: BackendRole): number =>
    counted !== undefined
      ? (num(perBackend[b]) ?? 0)
      : calls.filter((c) => str(c["inviteBackend"]).split("+").includes(b)).length;
  return {
    ...view,
    verdicts,
    results: {
      status: str(results.status) || "unknown",
      exitCode: num(results.exitCode) ?? -1,
      durationMs: num(results.durationMs) ?? 0,
      floorMs: num(results.floorMs),
      callsByBackend: perBackendFrom(callsTo),
      calls: counted ?? calls.length,
      failures: arr(results.failures).map(String),
    },
  };
}

/** the kinds this version folds (a complete record: a new kind is a compile error until it is listed) */
const KNOWN_KINDS: Record<RunEventKind, true> = {
  "run-started": true,
  phase: true,
  status: true,
  apply: true,
  "call-routed": true,
  "call-finished": true,
  verdict: true,
  step: true,
  rollback: true,
  "take-out": true,
  hold: true,
  gates: true,
  control: true,
  drain: true,
  "backend-rates": true,
  log: true,
  "run-finished": true,
};
const KINDS: ReadonlySet<string> = new Set(Object.keys(KNOWN_KINDS));

/**
 * One line of events.ndjson as an event, or undefined (not JSON, not an event). A kind this version
 * does not know is returned as it is: the folder notes it on the timeline and counts it.
 */
export function parseEventLine(line: string): RunEvent | undefined {
  let x: unknown;
  try {
    x = JSON.parse(line);
  } catch {
    return undefined;
  }
  const o = rec(x);
  return typeof o["kind"] === "string" && o["kind"] !== "" && num(o["at"]) !== undefined ? (x as RunEvent) : undefined;
}

/** The view of events.ndjson's text; lines that are not events are counted, never fatal. */
export function runViewOfLog(text: string, runDir: string): RunView {
  const f = new RunViewFolder(runDir);
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const e = parseEventLine(line);
    if (e) f.add(e);
    else f.skip();
  }
  return f.snapshot();
}
