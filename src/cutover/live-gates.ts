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
 *
 * Probe calls (`migrate --target --probe`: the tool's own synthetic calls through a production node,
 * labelled by their Call-ID prefix) are counted apart: they count in the split (the dispatcher selected
 * them like any call) and towards the calls a hold waits for, but their numbers are their own
 * (`probe` in the step's record) and the gates judge the users' calls. Probe calls that fail the
 * step's gates fail the step too (at the hold's end); a window without a single user call is judged
 * on its probe calls.
 *
 * Memory does not grow with a hold: a call is kept only while it is open (routed, waiting for its
 * final answer, its BYE's answer, or its timeout); once it is over (`recordOver`) its record goes to
 * `onRecord` (the run's calls.ndjson), `onOver` tells the evidence to forget it, and the window keeps
 * only tallies (counts, delay sketches, the candidates for the first failing call).
 *
 * Datagrams the kernel dropped at the collector's socket while a window was open (`kernelDrops`)
 * make its verdict inconclusive, never pass or fail: a lost answer looks like a failed or timed-out
 * call and a lost forward like an unrouted one, so the evidence cannot show what it misses. No
 * early fail is decided on such a window; the plan's onInconclusive says what happens next.
 */

import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import { FirstFailingCalls } from "../gates/failing-calls.js";
import { recordOver, type CallAudio, type CallRecord } from "../evidence/call-record.js";
import { callRecordFromHep } from "../evidence/hep-records.js";
import {
  evaluateGates,
  failsDespiteLostHep,
  gateRows,
  lossProof,
  lostHepNote,
  type GateResult,
  type GateSpec,
  type StepGateVerdict,
} from "../gates/gate.js";
import { BackendTally, type BackendMetrics } from "../gates/metrics.js";
import { EDGE_SELECTIONS, splitCheck, type SplitCheck } from "../gates/split-check.js";
import type { EndpointKey, HepCall } from "../hep/evidence.js";
import type { DecisionMarks } from "../plan/reaction.js";
import type { GateResult as RunnerGateResult, WindowWatch } from "../plan/runner.js";
import type { BackendRole } from "../core/backend-role.js";

/** a call with a final answer but no answer to its BYE this long after its INVITE is over as it is (SIP's 64 x T1) */
export const CALL_LINGER_MS = 32_000;

export interface LiveGatesOptions {
  /** what Kamailio mirrored (the run's HEP capture): not read, the gates keep what they need */
  calls?: () => Iterable<HepCall>;
  /** one call of what Kamailio mirrored, by Call-ID */
  call: (callId: string) => HepCall | undefined;
  backends: Readonly<Record<BackendRole, EndpointKey>>;
  /** Call-IDs of this run's traffic start with it; undefined: every mirrored call counts (a production node's real traffic) */
  callIdPrefix: string | undefined;
  /** one node of a fleet: only the calls through this proxy socket count (HepCall.proxy) */
  node?: EndpointKey;
  /**
   * selections out of order the split check allows at the window's edges (default EDGE_SELECTIONS;
   * a fleet's sum: that many per node, each node cycling through its list on its own)
   */
  edgeSelections?: number;
  /** the split check of step i instead of one over this window's calls (a fleet: the sum of its nodes') */
  splitOf?: (step: number) => SplitCheck;
  /** Call-IDs of the run's probe calls start with it: counted apart from the users' calls (see above) */
  probeCallIdPrefix?: string | undefined;
  /** a call with no final answer this long after its INVITE timed out */
  timeoutMs: number;
  algorithm: DispatcherAlgorithm;
  steps: readonly { weightNew: number; gates: readonly GateSpec[] }[];
  now?: () => number;
  /** a call of this run is over: its record (once, in the order calls end) */
  onRecord?: (r: CallRecord) => void;
  /** a call of this run is over, or Kamailio answered it itself: the evidence may forget it */
  onOver?: (callId: string) => void;
  /** the kernel's drop counter of the collector's socket (undefined: unknown, taken as none) */
  kernelDrops?: () => number | undefined;
  /** the calls carry audio: each answered call's is owed (observeMedia) and counts in its window */
  media?: boolean;
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
      /** the calls' audio (calls that carry media): judged, one-way, packets lost of those expected */
      media?: BackendMetrics["media"];
    }
  >;
  gates: Pick<GateResult, "name" | "verdict" | "detail" | "values" | "samples">[];
  split: SplitCheck | undefined;
  /** decided while the step held (a gate failed before the hold's end) */
  early: boolean;
  firstFailingCallMs: number | undefined;
  /** an early fail: when the evidence decided it (epoch ms), see DecisionMarks */
  decided?: DecisionMarks;
  /** HEP datagrams the kernel dropped at the collector while the window was open (the verdict is inconclusive) */
  hepKernelDrops?: number;
  /**
   * the window's probe calls, apart (routed is part of window.routed: the split counts every call):
   * their metrics and the step's gates on them; judgedOn "probes" when the window had no user call
   */
  probe?: {
    routed: Record<BackendRole, number>;
    metrics: StepGateRecord["metrics"];
    verdict: "pass" | "fail" | "inconclusive";
    detail: string;
    gates: StepGateRecord["gates"];
  };
  judgedOn?: "users" | "probes";
}

/** The step being held: its calls' tallies, each call counted once. */
interface LiveWindow {
  step: number;
  fromMs: number;
  tally: Record<BackendRole, BackendTally>;
  /** the probe calls' tallies, apart */
  probeTally: Record<BackendRole, BackendTally>;
  first: FirstFailingCalls;
  routed: Record<BackendRole, number>;
  /** of `routed`, the probe calls */
  probeRouted: Record<BackendRole, number>;
  /** routed in the window, no final answer yet */
  pending: number;
  /** calls Kamailio answered itself without routing them */
  unrouted: number;
  failed: StepGateRecord | undefined;
  waiters: ((r: RunnerGateResult) => void)[];
  /** the collector's kernel drop counter when the window opened */
  dropsAtOpen: number;
  /** drops seen while it was open (set once a gate would have failed on it): no early fail any more */
  lossy: number | undefined;
  /** answered calls of the window whose audio was not counted yet */
  owed: Set<string>;
}

/** A call of the run that is not over yet. */
interface OpenCall {
  backend: BackendRole;
  inviteMs: number;
  /** the window it counts in (it was routed while that window held and had not failed) */
  window: LiveWindow | undefined;
  /** concluded: its final answer (or timeout), its BYE's times once answered */
  record: CallRecord | undefined;
  /** one of the run's probe calls */
  probe: boolean;
}

export class LiveGates {
  private readonly starts = new Map<number, number>();
  /** the last verdict per step (0-based) */
  readonly verdicts = new Map<number, StepGateRecord>();
  private readonly now: () => number;
  /** calls routed and not over yet, in the order they were first seen */
  private readonly calls = new Map<string, OpenCall>();
  /** calls Kamailio answered itself -> when first seen (counted once; let go CALL_LINGER_MS later) */
  private readonly unroutedIds = new Map<string, number>();
  /** a concluded call's final answer as the caller got it (epoch ms), for the first failing call's */
  private readonly answerMsOf = new WeakMap<CallRecord, number>();
  /** answered calls over before their audio was counted -> since when (let go CALL_LINGER_MS later) */
  private readonly awaitingMedia = new Map<string, { oc: OpenCall; at: number }>();

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
      probeTally: { old: new BackendTally("old"), new: new BackendTally("new") },
      first: new FirstFailingCalls(),
      routed: { old: 0, new: 0 },
      probeRouted: { old: 0, new: 0 },
      pending: 0,
      unrouted: 0,
      failed: undefined,
      waiters: [],
      dropsAtOpen: this.drops(),
      lossy: undefined,
      owed: new Set(),
    };
  }

  private drops(): number {
    return this.o.kernelDrops?.() ?? 0;
  }

  /** does step i have a gate that lost HEP evidence cannot overturn once it fails? */
  private lossProofGates(step: number): boolean {
    return this.o.steps[step]!.gates.some(lossProof);
  }

  /** datagrams the kernel dropped since the window opened */
  private droppedIn(w: LiveWindow): number {
    return Math.max(0, this.drops() - w.dropsAtOpen);
  }

  /** calls of the run not over yet (what the gates hold per call) */
  get openCalls(): number {
    return this.calls.size + this.unroutedIds.size + this.awaitingMedia.size;
  }

  windowStart(step: number): number | undefined {
    return this.starts.get(step);
  }

  private accept = (id: string): boolean =>
    this.o.callIdPrefix === undefined || id.startsWith(`${this.o.callIdPrefix}-`) || this.isProbe(id);

  private isProbe = (id: string): boolean =>
    this.o.probeCallIdPrefix !== undefined && id.startsWith(`${this.o.probeCallIdPrefix}-`);

  /** the window a call routed at `inviteMs` counts in: the live one, unless it failed or the call is older */
  private windowFor(inviteMs: number): LiveWindow | undefined {
    const w = this.live;
    return w !== undefined && w.failed === undefined && inviteMs >= w.fromMs ? w : undefined;
  }

  /**
   * One mirrored message's call (the capture's onPacket, after the evidence took it): counts it as
   * routed in the open window, and once it has its final answer adds it to the tallies and evaluates
   * the gates (the event that can decide them); once it is over, its record goes out.
   */
  observe(c: HepCall | undefined): void {
    if (c === undefined || !this.accept(c.callId)) return;
    if (this.o.node !== undefined && c.proxy !== this.o.node) return;
    const seenMs = this.now();
    const known = this.calls.get(c.callId);
    if (known?.record !== undefined) {
      // a concluded call's BYE answer: its disconnect delay
      const r = known.record;
      if (c.answerToBye !== undefined && r.byeSentMs === undefined) {
        const bye = c.forwarded.BYE?.[0];
        if (bye !== undefined) {
          r.byeSentMs = bye.firstUs / 1000;
          r.byeFinalMs = c.answerToBye.firstUs / 1000;
          const w = known.window;
          if (w !== undefined && w === this.live && w.failed === undefined) {
            if (known.probe) w.probeTally[r.backend].addDisconnect(c.callId, r.byeFinalMs - r.byeSentMs);
            else {
              w.first.addDisconnect(r);
              if (w.tally[r.backend].addDisconnect(c.callId, r.byeFinalMs - r.byeSentMs))
                this.decide(w, c.answerToBye.firstUs / 1000, seenMs);
            }
          }
        }
      }
      if (recordOver(r)) this.over(c.callId, known);
      return;
    }
    const st = callRecordFromHep(c, this.o.backends, { nowMs: seenMs, timeoutMs: this.o.timeoutMs });
    if (st.kind === "unrouted") {
      if (this.unroutedIds.has(c.callId)) return;
      this.unroutedIds.set(c.callId, seenMs);
      const w = this.windowFor((c.inviteReceivedUs ?? 0) / 1000);
      if (w !== undefined) w.unrouted++;
      this.o.onOver?.(c.callId);
      return;
    }
    if (st.kind !== "pending" && st.kind !== "record") return;
    let oc = known;
    if (oc === undefined) {
      const backend = st.kind === "record" ? st.record.backend : st.backend;
      const inviteMs = st.kind === "record" ? st.record.inviteSentMs : st.inviteSentMs;
      oc = { backend, inviteMs, window: this.windowFor(inviteMs), record: undefined, probe: this.isProbe(c.callId) };
      this.calls.set(c.callId, oc);
      if (oc.window !== undefined) {
        oc.window.routed[backend]++;
        if (oc.probe) oc.window.probeRouted[backend]++;
        oc.window.pending++;
      }
    }
    if (st.kind === "pending") return;
    this.conclude(
      c.callId,
      oc,
      st.record,
      c.answerToInvite === undefined ? seenMs : c.answerToInvite.firstUs / 1000,
      seenMs,
    );
  }

  private conclude(id: string, oc: OpenCall, r: CallRecord, answerMs: number, seenMs: number): void {
    oc.record = { ...r };
    this.answerMsOf.set(oc.record, answerMs);
    const w = oc.window;
    if (w !== undefined) w.pending--;
    if (this.o.media && w !== undefined && answered(r)) w.owed.add(id);
    if (w !== undefined && w === this.live && w.failed === undefined) {
      if (oc.probe) w.probeTally[r.backend].add(oc.record);
      else {
        w.first.add(oc.record);
        if (w.tally[r.backend].add(oc.record)) this.decide(w, answerMs, seenMs);
      }
    }
    if (recordOver(oc.record)) this.over(id, oc);
  }

  /**
   * The call is over: its record goes out (a call still without a final answer as one with neither a
   * final status nor a timeout), the window and the evidence let it go.
   */
  private over(id: string, oc: OpenCall): void {
    this.calls.delete(id);
    if (this.o.media && oc.record !== undefined && answered(oc.record) && oc.record.media === undefined)
      this.awaitingMedia.set(id, { oc, at: this.now() });
    (oc.probe ? oc.window?.probeTally : oc.window?.tally)?.[oc.backend].forget(id);
    this.o.onRecord?.(
      oc.record ?? {
        callId: id,
        backend: oc.backend,
        inviteSentMs: oc.inviteMs,
        firstProvisionalOrFinalMs: undefined,
        finalStatus: undefined,
        timedOut: false,
        byeSentMs: undefined,
        byeFinalMs: undefined,
      },
    );
    this.o.onOver?.(id);
  }

  /**
   * A call's audio was counted (after its BYE): it goes into the call's window, whose gates are
   * evaluated on it. A call not of this run, or let go already, is ignored.
   */
  observeMedia(callId: string, audio: CallAudio): void {
    const oc = this.calls.get(callId) ?? this.awaitingMedia.get(callId)?.oc;
    this.awaitingMedia.delete(callId);
    const r = oc?.record;
    if (oc === undefined || r === undefined || r.media !== undefined) return;
    r.media = audio;
    const w = oc.window;
    w?.owed.delete(callId);
    if (w === undefined || w !== this.live || w.failed !== undefined) return;
    w.first.addMedia(r);
    if (w.tally[r.backend].addMedia({ ...audio, callId, backend: r.backend })) {
      const nowMs = this.now();
      this.decide(w, nowMs, nowMs);
    }
  }

  /** the answered calls of step i's window whose audio is not counted yet */
  mediaOwed(step: number): string[] {
    const w = this.live;
    return w === undefined || w.step !== step ? [] : [...w.owed];
  }

  /** how many of these calls' audio is still not counted */
  stillOwed(step: number, ids: readonly string[]): number {
    const w = this.live;
    if (w === undefined || w.step !== step) return 0;
    return ids.filter((id) => w.owed.has(id)).length;
  }

  /** The gates on the window's tallies; a fail ends the step (the waiters hear it at once). */
  private decide(w: LiveWindow, answerMs: number, seenMs: number): void {
    if (w.lossy !== undefined && !this.lossProofGates(w.step)) return;
    const s = this.o.steps[w.step]!;
    const metrics = { old: w.tally.old.metrics(), new: w.tally.new.metrics() };
    const gates = evaluateGates(s.gates, metrics, s.weightNew);
    if (gates.verdict !== "fail") return;
    // the counter is read only when a gate would fail: evidence lost since the window opened makes it
    // no verdict, unless a gate failed that lost evidence cannot overturn
    const lost = this.droppedIn(w);
    const proven = gates.results.filter(failsDespiteLostHep);
    if (lost > 0) w.lossy = lost;
    if (lost > 0 && proven.length === 0) return;
    const first = w.first.first(gates.results);
    const firstAnswerMs = first === undefined ? undefined : this.answerMsOf.get(first);
    const decided: DecisionMarks = {
      ...(firstAnswerMs !== undefined ? { firstFailingAnswerMs: firstAnswerMs } : {}),
      decidingAnswerMs: answerMs,
      decidingSeenMs: seenMs,
      verdictMs: this.now(),
    };
    const toMs = this.now();
    const rec: StepGateRecord = {
      verdict: "fail",
      detail:
        lost > 0
          ? `failed: ${proven.map((r) => `${r.name}: ${r.detail}`).join("; ")}; ${lostHepNote(lost)}`
          : gates.summary,
      window: { fromMs: w.fromMs, toMs, routed: { ...w.routed }, pending: w.pending, unrouted: 0 },
      metrics: { old: metricsOf(metrics.old), new: metricsOf(metrics.new) },
      gates: gateRows(gates.results),
      split: undefined,
      early: true,
      firstFailingCallMs: first?.inviteSentMs,
      decided,
      ...(lost > 0 ? { hepKernelDrops: lost } : {}),
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

  /**
   * Calls without a final answer `timeoutMs` after their INVITE are concluded as timeouts (a timeout is
   * evidence too); calls answered but without an answer to their BYE CALL_LINGER_MS after it are over.
   */
  age(nowMs = this.now()): void {
    for (const [id, { oc, at }] of this.awaitingMedia) {
      if (nowMs - at < CALL_LINGER_MS) break;
      this.awaitingMedia.delete(id);
      oc.window?.owed.delete(id);
    }
    for (const [id, at] of this.unroutedIds) {
      if (nowMs - at < CALL_LINGER_MS) break;
      this.unroutedIds.delete(id);
    }
    for (const [id, oc] of this.calls) {
      if (oc.record !== undefined) {
        if (nowMs - oc.inviteMs >= CALL_LINGER_MS) this.over(id, oc);
        continue;
      }
      if (nowMs - oc.inviteMs < this.o.timeoutMs) continue;
      const c = this.o.call(id);
      const st =
        c === undefined ? undefined : callRecordFromHep(c, this.o.backends, { nowMs, timeoutMs: this.o.timeoutMs });
      if (st?.kind === "record") this.conclude(id, oc, st.record, oc.inviteMs + this.o.timeoutMs, nowMs);
      else {
        // the evidence let it go: a timeout without its numbers
        if (oc.window !== undefined) oc.window.pending--;
        this.over(id, oc);
      }
    }
  }

  /**
   * A hold's look at step i's window (every 100 ms): calls routed so far, pending calls that are now
   * timeouts concluded (a timeout is evidence too), and a gate that already fails.
   */
  watch(step: number): WindowWatch {
    const w = this.live;
    if (w === undefined || w.step !== step) return { routed: 0 };
    this.age(this.now());
    return { routed: w.routed.old + w.routed.new, ...(w.failed ? { failed: toRunner(w.failed) } : {}) };
  }

  /** The full verdict on step i's window at the hold's end. */
  evaluate(step: number): RunnerGateResult {
    return toRunner(this.judge(step));
  }

  /** The calls step i's window routed to each backend so far (its verdict's, once judged). */
  routedIn(step: number): Record<BackendRole, number> {
    const w = this.live;
    if (w !== undefined && w.step === step) return { ...w.routed };
    return { ...(this.verdicts.get(step)?.window.routed ?? { old: 0, new: 0 }) };
  }

  /** Step i's window judged as it is now, without recording it as the step's verdict. */
  peek(step: number): StepGateRecord {
    return this.judge(step, false);
  }

  /** The run ends: the calls not over yet (waiting for an answer or a BYE's) go out as they are. */
  flush(): void {
    this.age(this.now());
    for (const [id, oc] of this.calls) this.over(id, oc);
  }

  private judge(step: number, record = true): StepGateRecord {
    const s = this.o.steps[step]!;
    const toMs = this.now();
    this.age(toMs);
    const w = this.live;
    const fromMs = this.starts.get(step) ?? toMs;
    const current = w !== undefined && w.step === step ? w : undefined;
    const empty = (): Record<BackendRole, BackendTally> => ({
      old: new BackendTally("old"),
      new: new BackendTally("new"),
    });
    const routed = { ...(current?.routed ?? { old: 0, new: 0 }) };
    const probeRouted = { ...(current?.probeRouted ?? { old: 0, new: 0 }) };
    const probes = this.o.probeCallIdPrefix !== undefined;
    const probeTally = current?.probeTally ?? empty();
    const probeMetrics = { old: probeTally.old.metrics(), new: probeTally.new.metrics() };
    // no user call in the window, but probe calls: the gates judge those
    const onProbes =
      probes && routed.old + routed.new === probeRouted.old + probeRouted.new && probeRouted.old + probeRouted.new > 0;
    const tally = onProbes ? probeTally : (current?.tally ?? empty());
    const metrics = { old: tally.old.metrics(), new: tally.new.metrics() };
    const gates: StepGateVerdict = evaluateGates(s.gates, metrics, s.weightNew);
    const probeGates: StepGateVerdict | undefined = probes
      ? evaluateGates(s.gates, probeMetrics, s.weightNew)
      : undefined;
    const unrouted = current?.unrouted ?? 0;
    const split =
      this.o.splitOf?.(step) ??
      splitCheck({
        algorithm: this.o.algorithm,
        weightNew: s.weightNew,
        toOld: routed.old,
        toNew: routed.new,
        otherSelections: this.o.edgeSelections ?? EDGE_SELECTIONS,
      });
    const first = current?.first.first(gates.results)?.inviteSentMs;
    let verdict: StepGateRecord["verdict"] = gates.verdict;
    const parts = [gates.summary, split.detail];
    if (onProbes)
      parts.unshift(`no user calls in the window: judged on its ${probeRouted.old + probeRouted.new} probe calls`);
    if (split.verdict === "fail") verdict = "fail";
    if (probeGates && !onProbes && probeGates.verdict === "fail") {
      parts.push(`probe calls: ${probeGates.summary}`);
      verdict = "fail";
    }
    if (unrouted > 0) {
      parts.push(`${unrouted} call(s) Kamailio answered itself without routing them`);
      verdict = "fail";
    }
    const lost = current === undefined ? 0 : this.droppedIn(current);
    const proven = gates.results.filter(failsDespiteLostHep);
    if (lost > 0 && proven.length > 0) {
      verdict = "fail";
      parts.splice(
        0,
        parts.length,
        `failed: ${proven.map((r) => `${r.name}: ${r.detail}`).join("; ")}`,
        lostHepNote(lost),
      );
    } else if (lost > 0) {
      verdict = "inconclusive";
      parts.push(
        `inconclusive: the kernel dropped ${lost} HEP datagram${lost === 1 ? "" : "s"} at the collector (socket buffer full) while the step held, so the HEP evidence is incomplete`,
      );
    }
    const rec: StepGateRecord = {
      verdict,
      detail: parts.join("; "),
      window: { fromMs, toMs, routed, pending: current?.pending ?? 0, unrouted },
      metrics: { old: metricsOf(metrics.old), new: metricsOf(metrics.new) },
      gates: gateRows(gates.results),
      split,
      early: false,
      firstFailingCallMs: first,
      ...(lost > 0 ? { hepKernelDrops: lost } : {}),
      ...(probeGates
        ? {
            probe: {
              routed: probeRouted,
              metrics: { old: metricsOf(probeMetrics.old), new: metricsOf(probeMetrics.new) },
              verdict: probeGates.verdict,
              detail: probeGates.summary,
              gates: gateRows(probeGates.results),
            },
            judgedOn: onProbes ? ("probes" as const) : ("users" as const),
          }
        : {}),
    };
    if (record) this.verdicts.set(step, rec);
    return rec;
  }
}

/**
 * Calls routed to `backend` with their INVITE in [fromMs, toMs], and how many of them failed (no
 * 2xx, or no answer): what a failing backend received while the rollback was under way, from the
 * run's records (calls.ndjson, every call of the run once it was over).
 */
export async function callsDuring(
  records: AsyncIterable<CallRecord> | Iterable<CallRecord>,
  backend: BackendRole,
  fromMs: number,
  toMs: number,
): Promise<{ routed: number; failed: number; unanswered: number }> {
  let routed = 0;
  let failed = 0;
  let unanswered = 0;
  for await (const r of records) {
    if (r.backend !== backend || r.inviteSentMs < fromMs || r.inviteSentMs > toMs) continue;
    routed++;
    if (r.finalStatus === undefined && !r.timedOut) unanswered++;
    else if (r.timedOut || r.finalStatus === undefined || r.finalStatus < 200 || r.finalStatus >= 300) failed++;
  }
  return { routed, failed, unanswered };
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
    ...(m.media.judged > 0 ? { media: m.media } : {}),
  };
}

const answered = (r: CallRecord): boolean =>
  !r.timedOut && r.finalStatus !== undefined && r.finalStatus >= 200 && r.finalStatus < 300;

function toRunner(v: StepGateRecord): RunnerGateResult {
  return {
    verdict: v.verdict,
    detail: v.detail,
    gates: v.gates,
    ...(v.firstFailingCallMs !== undefined ? { firstFailingCallMs: v.firstFailingCallMs } : {}),
    ...(v.decided !== undefined ? { decided: v.decided } : {}),
  };
}
