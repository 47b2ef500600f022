/**
 * Gates on live traffic (`migrate --traffic`): each plan step's window of calls, as Kamailio
 * mirrored them (HEP), judged with the step's gates (RFC 6076, src/gates/) and its split check.
 *
 * A step's window opens when its apply was verified (the runtime read back: every call Kamailio
 * receives from then on is routed with the step's list, and a reload starts a fresh algorithm-9
 * cycle, so the split bound holds from there). While a step holds, every mirrored message of the run
 * is `observe`d: a call that gets its final answer (or times out) is added to the window's tallies
 * once, and the gates are evaluated on that event, not on a tick, so a gate that fails on the calls
 * concluded so far (or, for a threshold on SER or ISA, fails whatever the calls its minimum sample still
 * needs do) ends the step at once through `whenFailed` (fail fast: that is what keeps the rollback's
 * reaction time short). `watch` gives the calls routed so far (and ages pending calls into timeouts);
 * `evaluate` at the hold's end is the full verdict over every mirrored call of the window: gates, the
 * split within its bound, and no call Kamailio answered itself.
 *
 * Calls are this run's own (their Call-ID prefix); a call still waiting for its final answer is
 * left out until it has one or times out (src/evidence/hep-records.ts).
 */

import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import { firstFailingCall } from "../gates/failing-calls.js";
import type { CallRecord, CallRecords } from "../evidence/call-record.js";
import { callRecordFromHep, callRecordsFromHep } from "../evidence/hep-records.js";
import { evaluateGates, gateRows, type GateResult, type GateSpec, type StepGateVerdict } from "../gates/gate.js";
import { BackendTally, windowMetrics, type BackendMetrics } from "../gates/metrics.js";
import { EDGE_SELECTIONS, splitCheck, type SplitCheck } from "../gates/split-check.js";
import type { EndpointKey, HepCall } from "../hep/evidence.js";
import type { DecisionMarks } from "../plan/reaction.js";
import type { GateResult as RunnerGateResult, WindowWatch } from "../plan/runner.js";
import type { BackendRole } from "../core/backend-role.js";

export interface LiveGatesOptions {
  /** what Kamailio mirrored (the run's HEP capture) */
  calls: () => Iterable<HepCall>;
  /** one call of what Kamailio mirrored, by Call-ID */
  call: (callId: string) => HepCall | undefined;
  backends: Readonly<Record<BackendRole, EndpointKey>>;
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
  window: { fromMs: number; toMs: number; routed: Record<BackendRole, number>; pending: number; unrouted: number };
  metrics: Record<
    BackendRole,
    Pick<BackendMetrics, "invites" | "answered2xx" | "ineffective" | "timedOut"> & {
      ser: number | undefined;
      isa: number | undefined;
      srdP50Ms: number | undefined;
      srdP95Ms: number | undefined;
    }
  >;
  gates: Pick<GateResult, "name" | "verdict" | "detail" | "values" | "samples">[];
  split: SplitCheck | undefined;
  /** decided while the step held (a gate failed before the hold's end) */
  early: boolean;
  firstFailingCallMs: number | undefined;
  /** an early fail: when the evidence decided it (epoch ms), see DecisionMarks */
  decided?: DecisionMarks;
}

/** The step being held: its calls as they conclude, tallied once each. */
interface LiveWindow {
  step: number;
  fromMs: number;
  tally: Record<BackendRole, BackendTally>;
  routed: Record<BackendRole, number>;
  routedIds: Set<string>;
  /** forwarded, no final answer yet: Call-ID -> INVITE time (insertion order = INVITE order, about) */
  pending: Map<string, number>;
  concluded: Map<string, CallRecord>;
  failed: StepGateRecord | undefined;
  waiters: ((r: RunnerGateResult) => void)[];
}

export class LiveGates {
  private readonly starts = new Map<number, number>();
  /** the last verdict per step (0-based) */
  readonly verdicts = new Map<number, StepGateRecord>();
  private readonly now: () => number;

  constructor(private readonly o: LiveGatesOptions) {
    this.now = o.now ?? Date.now;
  }

  private live: LiveWindow | undefined;

  /** Step i's window opens (its apply was verified); the live tallies start empty. */
  open(step: number, atMs = this.now()): void {
    this.starts.set(step, atMs);
    this.live = {
      step,
      fromMs: atMs,
      tally: { old: new BackendTally("old"), new: new BackendTally("new") },
      routed: { old: 0, new: 0 },
      routedIds: new Set(),
      pending: new Map(),
      concluded: new Map(),
      failed: undefined,
      waiters: [],
    };
  }

  windowStart(step: number): number | undefined {
    return this.starts.get(step);
  }

  private accept = (id: string): boolean => id.startsWith(`${this.o.callIdPrefix}-`);

  /**
   * One mirrored message's call (the capture's onPacket, after the evidence took it): counts it as
   * routed in the open window, and once it has its final answer adds it to the tallies and evaluates
   * the gates (the event that can decide them).
   */
  observe(c: HepCall | undefined): void {
    const w = this.live;
    if (c === undefined || w === undefined || w.failed !== undefined || !this.accept(c.callId)) return;
    const seenMs = this.now();
    const done = w.concluded.get(c.callId);
    if (done !== undefined) {
      // a concluded call's BYE answer: its disconnect delay
      if (c.answerToBye !== undefined && done.byeSentMs === undefined) {
        const bye = c.forwarded.BYE?.[0];
        if (
          bye !== undefined &&
          w.tally[done.backend].addDisconnect(c.callId, (c.answerToBye.firstUs - bye.firstUs) / 1000)
        ) {
          done.byeSentMs = bye.firstUs / 1000;
          done.byeFinalMs = c.answerToBye.firstUs / 1000;
          this.decide(w, c.answerToBye.firstUs / 1000, seenMs);
        }
      }
      return;
    }
    const st = callRecordFromHep(c, this.o.backends, { nowMs: seenMs, timeoutMs: this.o.timeoutMs });
    if (st.kind !== "pending" && st.kind !== "record") return;
    const backend = st.kind === "record" ? st.record.backend : st.backend;
    const inviteMs = st.kind === "record" ? st.record.inviteSentMs : st.inviteSentMs;
    if (inviteMs < w.fromMs) return;
    if (!w.routedIds.has(c.callId)) {
      w.routedIds.add(c.callId);
      w.routed[backend]++;
    }
    if (st.kind === "pending") {
      if (!w.pending.has(c.callId)) w.pending.set(c.callId, inviteMs);
      return;
    }
    this.conclude(w, st.record, c.answerToInvite === undefined ? seenMs : c.answerToInvite.firstUs / 1000, seenMs);
  }

  private conclude(w: LiveWindow, r: CallRecord, answerMs: number, seenMs: number): void {
    w.pending.delete(r.callId);
    w.concluded.set(r.callId, { ...r });
    if (w.tally[r.backend].add(r)) this.decide(w, answerMs, seenMs);
  }

  /** The gates on the window's tallies; a fail ends the step (the waiters hear it at once). */
  private decide(w: LiveWindow, answerMs: number, seenMs: number): void {
    const s = this.o.steps[w.step]!;
    const metrics = { old: w.tally.old.metrics(), new: w.tally.new.metrics() };
    const gates = evaluateGates(s.gates, metrics, s.weightNew);
    if (gates.verdict !== "fail") return;
    const records = [...w.concluded.values()];
    const first = firstFailingCall(gates.results, records);
    const answer = first === undefined ? undefined : this.o.call(first.callId)?.answerToInvite;
    const decided: DecisionMarks = {
      ...(answer !== undefined ? { firstFailingAnswerMs: answer.firstUs / 1000 } : {}),
      decidingAnswerMs: answerMs,
      decidingSeenMs: seenMs,
      verdictMs: this.now(),
    };
    const toMs = this.now();
    const rec: StepGateRecord = {
      verdict: "fail",
      detail: gates.summary,
      window: { fromMs: w.fromMs, toMs, routed: { ...w.routed }, pending: w.pending.size, unrouted: 0 },
      metrics: { old: metricsOf(metrics.old), new: metricsOf(metrics.new) },
      gates: gateRows(gates.results),
      split: undefined,
      early: true,
      firstFailingCallMs: first?.inviteSentMs,
      decided,
    };
    w.failed = rec;
    this.verdicts.set(w.step, rec);
    const r = toRunner(rec);
    for (const f of w.waiters.splice(0)) f(r);
  }

  /** Resolves as soon as step i's gates fail while it holds (never, otherwise). */
  whenFailed(step: number): Promise<RunnerGateResult> {
    const w = this.live;
    if (w === undefined || w.step !== step) return new Promise(() => undefined);
    if (w.failed) return Promise.resolve(toRunner(w.failed));
    return new Promise((resolve) => w.waiters.push(resolve));
  }

  /** Calls routed to each backend with their INVITE at or after `fromMs` (and before `toMs`). */
  routed(fromMs: number, toMs = Infinity): Record<BackendRole, number> {
    const out: Record<BackendRole, number> = { old: 0, new: 0 };
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

  private records(): CallRecords {
    return callRecordsFromHep(this.o.calls(), this.o.backends, {
      nowMs: this.now(),
      timeoutMs: this.o.timeoutMs,
      accept: this.accept,
    });
  }

  /**
   * A hold's look at step i's window (every 100 ms): calls routed so far, pending calls that are now
   * timeouts concluded (a timeout is evidence too), and a gate that already fails.
   */
  watch(step: number): WindowWatch {
    const w = this.live;
    if (w === undefined || w.step !== step) return { routed: 0 };
    const nowMs = this.now();
    for (const [id, inviteMs] of w.pending) {
      if (w.failed !== undefined || nowMs - inviteMs < this.o.timeoutMs) break;
      const c = this.o.call(id);
      const st =
        c === undefined ? undefined : callRecordFromHep(c, this.o.backends, { nowMs, timeoutMs: this.o.timeoutMs });
      if (st?.kind === "record") this.conclude(w, st.record, inviteMs + this.o.timeoutMs, nowMs);
      else w.pending.delete(id);
    }
    return { routed: w.routed.old + w.routed.new, ...(w.failed ? { failed: toRunner(w.failed) } : {}) };
  }

  /** The full verdict on step i's window at the hold's end. */
  evaluate(step: number): RunnerGateResult {
    return toRunner(this.judge(step));
  }

  /**
   * Calls routed to `backend` with their INVITE in [fromMs, toMs], and how many of them failed (no
   * 2xx, or no answer yet): what a failing backend received while the rollback was under way.
   */
  callsDuring(
    backend: BackendRole,
    fromMs: number,
    toMs: number,
  ): { routed: number; failed: number; unanswered: number } {
    const recs = this.records();
    const inRange = (ms: number): boolean => ms >= fromMs && ms <= toMs;
    const mine = recs.records.filter((r) => r.backend === backend && inRange(r.inviteSentMs));
    const failed = mine.filter(
      (r) => r.timedOut || r.finalStatus === undefined || r.finalStatus < 200 || r.finalStatus >= 300,
    ).length;
    const routed = this.routed(fromMs, toMs + 0.001)[backend];
    return { routed, failed, unanswered: routed - mine.length };
  }

  private judge(step: number): StepGateRecord {
    const s = this.o.steps[step]!;
    const fromMs = this.starts.get(step) ?? this.now();
    const toMs = this.now();
    const hr = this.records();
    const recs = hr.records.filter((r) => r.inviteSentMs >= fromMs);
    const metrics = windowMetrics(recs, { fromMs, toMs: undefined });
    const gates: StepGateVerdict = evaluateGates(s.gates, metrics, s.weightNew);
    const routed = this.routed(fromMs);
    const unrouted = hr.unrouted.length === 0 ? 0 : this.unroutedSince(hr.unrouted, fromMs);
    const split = splitCheck({
      algorithm: this.o.algorithm,
      weightNew: s.weightNew,
      toOld: routed.old,
      toNew: routed.new,
      otherSelections: EDGE_SELECTIONS,
    });
    const first = firstFailingCall(gates.results, recs)?.inviteSentMs;
    let verdict: StepGateRecord["verdict"] = gates.verdict;
    const parts = [gates.summary, split.detail];
    if (split.verdict === "fail") verdict = "fail";
    if (unrouted > 0) {
      parts.push(`${unrouted} call(s) Kamailio answered itself without routing them`);
      verdict = "fail";
    }
    const pending = hr.pending.length;
    const rec: StepGateRecord = {
      verdict,
      detail: parts.join("; "),
      window: { fromMs, toMs, routed, pending, unrouted },
      metrics: { old: metricsOf(metrics.old), new: metricsOf(metrics.new) },
      gates: gateRows(gates.results),
      split,
      early: false,
      firstFailingCallMs: first,
    };
    this.verdicts.set(step, rec);
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
  return {
    verdict: v.verdict,
    detail: v.detail,
    gates: v.gates,
    ...(v.firstFailingCallMs !== undefined ? { firstFailingCallMs: v.firstFailingCallMs } : {}),
    ...(v.decided !== undefined ? { decided: v.decided } : {}),
  };
}
