/**
 * Gates on live traffic (`migrate --traffic`): each plan step's window of calls, as Kamailio
 * mirrored them (HEP), judged with the step's gates (RFC 6076, src/gates/) and its split check.
 *
 * A step's window opens when its apply was verified (the runtime read back: every call Kamailio
 * receives from then on is routed with the step's list, and a reload starts a fresh algorithm-9
 * cycle, so the split bound holds from there). While a step holds, `watch` counts the calls routed
 * so far and fails the step at once when a gate already fails on the calls concluded so far (fail
 * fast: that is what keeps the rollback's reaction time short); `evaluate` at the hold's end is the
 * full verdict: gates, the split within its bound, and no call Kamailio answered itself.
 *
 * Calls are this run's own (their Call-ID prefix); a call still waiting for its final answer is
 * left out until it has one or times out (src/gates/from-hep.ts).
 */
import type { Backend } from "../events/run-events.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import { failingCalls } from "../gates/failing-calls.js";
import { callRecordsFromHep, type HepRecords } from "../gates/from-hep.js";
import { evaluateGates, type GateResult, type GateSpec, type StepGateVerdict } from "../gates/gate.js";
import { windowMetrics, type BackendMetrics } from "../gates/metrics.js";
import { splitCheck, type SplitCheck } from "../gates/split-check.js";
import type { EndpointKey, HepCall } from "../hep/evidence.js";
import type { GateResult as RunnerGateResult, WindowWatch } from "../plan/runner.js";

/**
 * Selections the split check allows out of order at each window edge: with several Kamailio workers
 * the order INVITEs are received in (the window's clock) and the order ds_select_dst picks in can
 * differ by a call at the start and at the end of the window.
 */
export const EDGE_SELECTIONS = 2;

export interface LiveGatesOptions {
  /** what Kamailio mirrored (the run's HEP capture) */
  calls: () => Iterable<HepCall>;
  backends: Readonly<Record<Backend, EndpointKey>>;
  /** Call-IDs of this run's traffic start with it */
  callIdPrefix: string;
  /** a call with no final answer this long after its INVITE timed out */
  timeoutMs: number;
  algorithm: DispatcherAlgorithm;
  steps: readonly { weightNew: number; gates: readonly GateSpec[] }[];
  now?: () => number;
}

/** One step's verdict with its numbers, for results.json and summary.md. */
export interface StepGateRecord {
  verdict: "pass" | "fail" | "inconclusive";
  /** one line: the gates' summary and the split */
  detail: string;
  window: { fromMs: number; toMs: number; routed: Record<Backend, number>; pending: number; unrouted: number };
  metrics: Record<Backend, Pick<BackendMetrics, "invites" | "answered2xx" | "ineffective" | "timedOut"> & { ser: number | undefined; isa: number | undefined; srdP50Ms: number | undefined; srdP95Ms: number | undefined }>;
  gates: Pick<GateResult, "name" | "verdict" | "detail" | "values" | "samples">[];
  split: SplitCheck | undefined;
  /** decided while the step held (a gate failed before the hold's end) */
  early: boolean;
  firstFailingCallMs: number | undefined;
}

export class LiveGates {
  private readonly starts = new Map<number, number>();
  /** the last verdict per step (0-based) */
  readonly verdicts = new Map<number, StepGateRecord>();
  private readonly now: () => number;

  constructor(private readonly o: LiveGatesOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Step i's window opens (its apply was verified). */
  open(step: number, atMs = this.now()): void {
    this.starts.set(step, atMs);
  }

  windowStart(step: number): number | undefined {
    return this.starts.get(step);
  }

  private accept = (id: string): boolean => id.startsWith(`${this.o.callIdPrefix}-`);

  /** Calls routed to each backend with their INVITE at or after `fromMs` (and before `toMs`). */
  routed(fromMs: number, toMs = Infinity): Record<Backend, number> {
    const out: Record<Backend, number> = { old: 0, new: 0 };
    for (const c of this.o.calls()) {
      if (!this.accept(c.callId)) continue;
      const leg = c.forwarded.INVITE?.[0];
      if (leg === undefined) continue;
      const at = (c.inviteReceivedUs ?? leg.firstUs) / 1000;
      if (at < fromMs || at >= toMs) continue;
      if (leg.to === this.o.backends.old) out.old++;
      else if (leg.to === this.o.backends.new) out.new++;
    }
    return out;
  }

  private records(): HepRecords {
    return callRecordsFromHep(this.o.calls(), this.o.backends, { nowMs: this.now(), timeoutMs: this.o.timeoutMs, accept: this.accept });
  }

  /** A hold's look at step i's window: calls routed so far, and a gate that already fails. */
  watch(step: number): WindowWatch {
    const from = this.starts.get(step);
    if (from === undefined) return { routed: 0 };
    const r = this.routed(from);
    const v = this.judge(step, false);
    return { routed: r.old + r.new, ...(v.verdict === "fail" ? { failed: toRunner(v) } : {}) };
  }

  /** The full verdict on step i's window at the hold's end. */
  evaluate(step: number): RunnerGateResult {
    return toRunner(this.judge(step, true));
  }

  /**
   * Calls routed to `backend` with their INVITE in [fromMs, toMs], and how many of them failed (no
   * 2xx, or no answer yet): what a failing backend received while the rollback was under way.
   */
  callsDuring(backend: Backend, fromMs: number, toMs: number): { routed: number; failed: number; unanswered: number } {
    const recs = this.records();
    const inRange = (ms: number): boolean => ms >= fromMs && ms <= toMs;
    const mine = recs.records.filter((r) => r.backend === backend && inRange(r.inviteSentMs));
    const failed = mine.filter((r) => r.timedOut || r.finalStatus === undefined || r.finalStatus < 200 || r.finalStatus >= 300).length;
    const routed = this.routed(fromMs, toMs + 0.001)[backend];
    return { routed, failed, unanswered: routed - mine.length };
  }

  private judge(step: number, final: boolean): StepGateRecord {
    const s = this.o.steps[step]!;
    const fromMs = this.starts.get(step) ?? this.now();
    const toMs = this.now();
    const hr = this.records();
    const recs = hr.records.filter((r) => r.inviteSentMs >= fromMs);
    const metrics = windowMetrics(recs, { fromMs, toMs: undefined });
    const gates: StepGateVerdict = evaluateGates(s.gates, metrics, s.weightNew);
    const routed = this.routed(fromMs);
    const unrouted = hr.unrouted.length === 0 ? 0 : this.unroutedSince(hr.unrouted, fromMs);
    const split = final
      ? splitCheck({ algorithm: this.o.algorithm, weightNew: s.weightNew, toOld: routed.old, toNew: routed.new, otherSelections: EDGE_SELECTIONS })
      : undefined;
    const first = gates.results
      .flatMap((g) => failingCalls(g, recs).slice(0, 1))
      .reduce<number | undefined>((m, c) => (m === undefined || c.inviteSentMs < m ? c.inviteSentMs : m), undefined);
    let verdict: StepGateRecord["verdict"] = gates.verdict;
    const parts = [gates.summary];
    if (split) {
      parts.push(split.detail);
      if (split.verdict === "fail") verdict = "fail";
    }
    if (final && unrouted > 0) {
      parts.push(`${unrouted} call(s) Kamailio answered itself without routing them`);
      verdict = "fail";
    }
    const pending = hr.pending.length;
    const rec: StepGateRecord = {
      verdict,
      detail: parts.join("; "),
      window: { fromMs, toMs, routed, pending, unrouted },
      metrics: { old: metricsOf(metrics.old), new: metricsOf(metrics.new) },
      gates: gates.results.map((g) => ({ name: g.name, verdict: g.verdict, detail: g.detail, values: g.values, samples: g.samples })),
      split,
      early: !final,
      firstFailingCallMs: first,
    };
    if (final || verdict === "fail") this.verdicts.set(step, rec);
    return rec;
  }

  private unroutedSince(ids: readonly string[], fromMs: number): number {
    const set = new Set(ids);
    let n = 0;
    for (const c of this.o.calls()) if (set.has(c.callId) && (c.inviteReceivedUs ?? 0) / 1000 >= fromMs) n++;
    return n;
  }
}

function metricsOf(m: BackendMetrics): StepGateRecord["metrics"]["old"] {
  return {
    invites: m.invites,
    answered2xx: m.answered2xx,
    ineffective: m.ineffective,
    timedOut: m.timedOut,
    ser: m.ser.percent,
    isa: m.isa.percent,
    srdP50Ms: m.srd.p50Ms,
    srdP95Ms: m.srd.p95Ms,
  };
}

function toRunner(v: StepGateRecord): RunnerGateResult {
  return { verdict: v.verdict, detail: v.detail, gates: v.gates, ...(v.firstFailingCallMs !== undefined ? { firstFailingCallMs: v.firstFailingCallMs } : {}) };
}
