/**
 * The live call cutover simulation (the seed's run_call_cutover_sim.sh, with assertions one can
 * trust): the plan's steps (the seed's phases old, both, new: sim-plan.ts) on the one plan runner
 * (src/plan/runner.ts: verified apply, the step's hold is its burst of calls, then its verdicts),
 * then the in-flight cutover (a long call set up in old mode must keep its dialog on OLD while new
 * calls go to NEW). Everything it learns goes out on the run's event stream; verdicts are data.
 */
import { randomBytes } from "node:crypto";
import { burstMediaRow, MEDIA_VERDICT, MediaBook } from "../media/rtp.js";
import { mediaPortRange } from "../media/capture.js";
import { mergeRunMedia, RUN_MEDIA_PCAP, type RunMediaPcap } from "./media-pcap.js";
import type { NgAddress } from "../rtpengine/ng.js";
import { FileMode, writeFileAtomicAsync } from "../files/atomic-write.js";
import path from "node:path";
import { EnvironmentError, formatError } from "../core/errors.js";
import { delay } from "../core/scope.js";
import type { ProfileMode } from "../dispatcher/profile.js";
import type { RunEvents, RunStatus, SimPhase } from "../events/run-events.js";
import type { ApplyLock } from "../apply/apply-lock.js";
import { profileFor, verifiedApply, type ApplyOutcome } from "../apply/apply.js";
import { burstHold } from "../plan/hold.js";
import { outcomeError, runSteps, type GateResult, type PlanOutcome } from "../plan/runner.js";
import { stepLabel } from "../plan/plan.js";
import { buildStepProfile } from "../dispatcher/profile.js";
import { stepBurst } from "../evidence/call-id.js";
import type { RunEnd } from "../run/session.js";
import { callPathOf, type Target } from "../target/target.js";
import { probeBackend } from "../cutover/migrate.js";
import {
  changedAssertions,
  inflightAssertions,
  lateEvidenceLine,
  phaseEvidenceFrom,
  renderAssertions,
  type Assertion,
  type PhaseEvidence,
} from "../evidence/assertions.js";
import { callRow, type EvidenceBook, type EvidenceFact } from "../evidence/book.js";
import { evidenceAgreesAssertion } from "./evidence-agrees.js";
import {
  eventSocketAgreesAssertion,
  longCallHungUpAtOldAssertion,
  pbxCallsOfPhase,
  pbxPending,
  type PbxCalls,
} from "./event-socket-agrees.js";
import { judgedFrom, type EvidenceInUse } from "./evidence-mode.js";
import type { HepFeed } from "../evidence/hep-feed.js";
import type { HepCapture } from "../hep/capture.js";
import type { HepEvidence } from "../hep/evidence.js";
import { floorMs, knobsByEnvName, type SimKnobs } from "./knobs.js";
import { renderJunit, simResults, type LogCopyKept, type SimResults } from "./report.js";
import { CALL_ROWS_FILE, writeCallRows } from "./call-rows.js";
import type { CallEvidence } from "../evidence/call.js";
import type { PbxEvidence } from "../evidence/pbx-watch.js";
import type { TestFault } from "./test-faults.js";
import { Traffic, writeWindow, type BurstReport, type BurstSpec } from "./traffic.js";
import { isSeedPhase, type SimPlan, type SimStep } from "./sim-plan.js";
import { simStepVerdict, stepAssertions } from "./step-verdict.js";

export interface SimRunOptions {
  target: Target;
  knobs: SimKnobs;
  runDir: string;
  events: RunEvents;
  signal: AbortSignal;
  /** the plan's steps as sim runs them (sim-plan.ts; default: the seed's old -> both -> new) */
  plan: SimPlan;
  /** the apply lock, held by the caller for the whole run: every apply of the run takes it */
  lock: ApplyLock;
  sippBin: string;
  /** the UAC scenario (assets/sipp/uac-call.xml) */
  scenario: string;
  /** test-only faults (see test-faults.ts) and how to carry one out */
  faults?: TestFault[];
  injectFault?: (f: TestFault) => Promise<string>;
  runId?: string;
  /** media on: calls stream audio, captured with this dumpcap, and each phase is judged media-both-ways */
  /** maxBytes: each burst's media pcap at most this big (0: no cap); the count sees every packet */
  media?: { dumpcapBin: string; relay?: NgAddress; maxBytes?: number };
  /** the evidence sources in use (default: the stand-ins' logs alone) */
  evidence?: EvidenceInUse;
  /** the run's HEP capture and its feed (evidence hep or both) */
  hep?: { capture: HepCapture<HepEvidence | undefined>; feed: HepFeed };
  /** a lab of real FreeSWITCH: what their event sockets reported (channel-watch.ts) */
  pbx?: PbxEvidence;
  /** each phase's copy of a stand-in's log keeps at most this many bytes (its start and latest part; 0: all) */
  logCopyMaxBytes?: number;
  /** the run's end, once results.json and junit.xml are written (the session's; default: run-finished on `events`) */
  finished?: (end: RunEnd) => void;
}

/** how long a phase waits for the event sockets to report the end of calls HEP saw end */
const PBX_SETTLE_MS = 3000;

export interface SimOutcome {
  results: SimResults;
  exitCode: 0 | 1;
}

export function runSimulation(o: SimRunOptions): Promise<SimOutcome> {
  return new Simulation(o).run();
}

/** every judged phase: how to judge it from the book, and the verdicts it got when it ended (or was re-judged) */
interface JudgedPhase {
  phase: SimPhase;
  compute: () => Assertion[];
  list: Assertion[];
}

/**
 * One simulation: preflight, the plan's steps on the runner (each held by its burst and judged by
 * the seed's assertions), the in-flight cutover, then results.json and junit.xml (simResults, pure).
 * What it learned so far (applies, bursts, judged phases, the plan's outcome) is kept in fields.
 */
export class Simulation {
  private readonly started = Date.now();
  private readonly runId: string;
  private readonly k: SimKnobs;
  private readonly ev: RunEvents;
  private readonly t: Target;
  private readonly evidence: EvidenceInUse;
  private readonly hep: SimRunOptions["hep"];
  private readonly traffic: Traffic;
  /** test faults not injected yet */
  private readonly faults: TestFault[];
  private readonly applies: SimResults["applies"] = [];
  private readonly bursts: SimResults["bursts"] = [];
  private readonly judged: JudgedPhase[] = [];
  private error: string | undefined;
  private planOutcome: PlanOutcome | undefined;
  /** each step's last verdict from the runner's evaluate (gates and split), for results.json */
  private readonly stepGates: (GateResult | undefined)[] = [];
  /** the bursts each step placed so far (a step held again places another) */
  private readonly rounds: number[];
  /** media on: each call's packets per direction, per phase */
  private readonly media = new MediaBook();
  /** media on: each burst's capture files, in the order the bursts ended */
  private readonly mediaFiles: string[] = [];
  /** the stand-ins' phase copies that reached their cap */
  private readonly logCopies: LogCopyKept[] = [];

  constructor(private readonly o: SimRunOptions) {
    this.runId = o.runId ?? randomBytes(3).toString("hex");
    this.k = o.knobs;
    this.ev = o.events;
    this.t = o.target;
    this.evidence = o.evidence ?? { mode: "sipp" };
    this.hep = o.hep;
    this.faults = [...(o.faults ?? [])];
    this.rounds = o.plan.steps.map(() => 0);
    const hep = o.hep;
    this.traffic = new Traffic({
      evidence: this.evidence.mode,
      ...(hep ? { hep: { feed: hep.feed, settle: () => hep.capture.settle(50, 2000) } } : {}),
      target: o.target,
      runId: this.runId,
      runDir: o.runDir,
      sippBin: o.sippBin,
      scenario: o.scenario,
      ...(o.media ? { media: o.media } : {}),
      ...(o.logCopyMaxBytes !== undefined ? { logCopyMaxBytes: o.logCopyMaxBytes } : {}),
      callTimeoutMs: o.knobs.callTimeoutMs,
      events: o.events,
      signal: o.signal,
      onFact: (f) => this.onFact(f),
    });
  }

  async run(): Promise<SimOutcome> {
    const { ev, k, o } = this;
    ev.emit({ kind: "run-started", at: this.started, runDir: o.runDir, knobs: knobsByEnvName(k) });
    ev.emit({ kind: "status", at: Date.now(), status: "running" });
    try {
      this.log(`pbx-cutover sim: run ${this.runId}, evidence in ${o.runDir}`);
      this.log(
        `knobs: ${Object.entries(knobsByEnvName(k))
          .map(([n, v]) => `${n}=${v}`)
          .join(" ")} (floor ${(floorMs(k) / 1000).toFixed(1)} s)`,
      );
      if (this.faults.length > 0)
        this.log(`WARNING: test-only faults will be injected: ${this.faults.map((f) => f.spec).join(", ")}`);
      await this.preflight();
      await this.traffic.begin();
      await this.runPlan();
      await this.inflight();
    } catch (err) {
      // the exit code the command will end with: the interrupt's (130), an error's own, or 70
      const cause: unknown = o.signal.aborted ? o.signal.reason : err;
      this.error = cause instanceof Error ? cause.message : String(cause);
      await this.traffic.stopAll();
      await this.traffic.readHep().catch(() => undefined);
      await this.rejudge().catch(() => undefined);
      await this.finish("failed", formatError(cause).exitCode);
      await this.traffic.close();
      throw err;
    }
    // the verdicts and the call rows, from the same evidence at the same moment
    await this.traffic.closeWindow();
    await this.traffic.readHep();
    await this.rejudge();
    this.phase("done");
    const exitCode = this.verdicts().every((a) => a.verdict === "pass") ? 0 : 1;
    const results = await this.finish(exitCode === 0 ? "success" : "failed", exitCode);
    await this.traffic.close();
    return { results, exitCode };
  }

  private log(line: string): void {
    this.ev.emit({ kind: "log", at: Date.now(), line });
  }

  private phase(p: SimPhase): void {
    this.ev.emit({ kind: "phase", at: Date.now(), phase: p });
  }

  /** every verdict so far, phase by phase */
  private verdicts(): Assertion[] {
    return this.judged.flatMap((j) => j.list);
  }

  private async fire(point: string): Promise<void> {
    for (const f of this.faults.filter((x) => x.point === point)) {
      this.faults.splice(this.faults.indexOf(f), 1);
      if (this.o.injectFault) this.log(await this.o.injectFault(f));
    }
  }

  private async onFact(f: EvidenceFact): Promise<void> {
    if (f.kind === "routed" && this.faults.some((x) => x.point === `during-phase:${f.call.phase}`))
      await this.fire(`during-phase:${f.call.phase}`);
  }

  private async phaseGap(): Promise<void> {
    if (this.k.phaseGapSeconds <= 0) return;
    this.log(`phase gap: ${this.k.phaseGapSeconds} s`);
    await delay(this.k.phaseGapSeconds * 1000, this.o.signal);
  }

  /** both backends answer SIP OPTIONS before anything is changed */
  private async preflight(): Promise<void> {
    const t = this.t;
    this.phase("preflight");
    for (const b of ["old", "new"] as const) {
      // straight to a loopback backend; a backend on a Docker network gets its OPTIONS from Kamailio
      const { probe: r } = await probeBackend(t, b);
      if (!r.reachable) {
        throw new EnvironmentError(
          `the ${b} backend ${t.backends[b].uri} does not answer SIP OPTIONS (${r.error ?? "no answer"}); nothing was changed`,
        );
      }
      this.log(
        `preflight: ${b} backend ${t.backends[b].uri} answers OPTIONS ${r.status} in ${r.rttMs?.toFixed(1) ?? "?"} ms`,
      );
    }
  }

  private applied(p: SimPhase, label: string, r: ApplyOutcome): void {
    const runtime = r.runtime.map((d) => d.uri);
    this.applies.push({ phase: p, label, durationMs: Math.round(r.timings.totalMs), runtime });
    this.log(
      `  applied profile ${label} (verified at runtime in ${Math.round(r.timings.totalMs)} ms): ${runtime.join(", ")}`,
    );
  }

  /** the in-flight check's applies (after the plan): the same verified apply under the run's lock */
  private async apply(p: SimPhase, mode: ProfileMode): Promise<number> {
    const { o, t } = this;
    o.signal.throwIfAborted();
    this.applied(
      p,
      mode,
      await verifiedApply(t, profileFor(t, mode), { lock: o.lock, events: this.ev, signal: o.signal }),
    );
    return Date.now();
  }

  private burst(spec: BurstSpec): ReturnType<Traffic["start"]> {
    this.o.signal.throwIfAborted();
    this.log(
      `  sending ${spec.calls} call${spec.calls === 1 ? "" : "s"} (${spec.label}) at ${spec.rate}/s, held ${spec.holdMs} ms`,
    );
    return this.traffic.start(spec);
  }

  private record(r: BurstReport, spec: BurstSpec): void {
    const signal = this.o.signal;
    // an interrupted burst is not evidence: stop here (the scope stops the rest)
    signal.throwIfAborted();
    const s = r.stats;
    this.bursts.push({
      label: r.label,
      calls: spec.calls,
      rate: spec.rate,
      holdMs: spec.holdMs,
      sipp: r.exit.description,
      durationMs: Math.round(r.exit.durationMs),
      stats: s ?? null,
      ...(r.media
        ? {
            media: {
              ...burstMediaRow(r.media),
              ...(r.mediaCapture ? { ports: mediaPortRange(r.mediaCapture.port) } : {}),
            },
          }
        : {}),
    });
    if (r.mediaCapture) this.mediaFiles.push(...r.mediaCapture.files);
    const counts = s
      ? `${s.successfulCalls} successful, ${s.failedCalls} failed, ${s.retransmissions} retransmissions`
      : "no statistics";
    this.log(`  SIPp ${r.label}: ${r.exit.description}; ${counts} (${Math.round(r.exit.durationMs)} ms)`);
    if (r.exit.code !== 0 && r.exit.code !== 1) for (const l of r.exit.outputTail) this.log(`    sipp: ${l}`);
    if (r.exit.code === 254 || r.exit.code === 255 || r.exit.code === null) {
      if (!signal.aborted && (s?.outgoingCalls ?? 0) === 0) {
        throw new EnvironmentError(`SIPp could not run the ${r.label} burst: ${r.exit.description}`, r.exit.outputTail);
      }
    }
  }

  /** the verdicts as judged from the evidence in use: each says its source; HEP lost by the kernel = inconclusive */
  private judgedNow(compute: () => Assertion[]): () => Assertion[] {
    return () => judgedFrom(compute(), this.evidence.mode, this.hep?.capture.summary().kernelDrops ?? 0);
  }

  private async judge(p: SimPhase, computeRaw: () => Assertion[]): Promise<void> {
    const compute = this.judgedNow(computeRaw);
    const list = compute();
    // a step held again (inconclusive gates) is judged again over all its calls
    const earlier = this.judged.findIndex((j) => j.phase === p);
    if (earlier >= 0) this.judged.splice(earlier, 1);
    this.judged.push({ phase: p, compute, list });
    for (const a of list) {
      this.ev.emit({
        kind: "verdict",
        at: Date.now(),
        phase: p,
        name: a.name,
        verdict: a.verdict,
        details: a.details,
        ...(a.name === MEDIA_VERDICT ? { numbers: a.numbers } : {}),
      });
      this.log(`  ${a.verdict === "pass" ? "ok  " : a.verdict === "fail" ? "FAIL" : "????"} ${a.name}: ${a.details}`);
    }
    await writeFileAtomicAsync(path.join(this.o.runDir, `${p}.assertions.txt`), renderAssertions(p, list), {
      mode: FileMode.public,
    });
  }

  /**
   * Judge every phase again from the book as it is now, the moment results.json's call rows are
   * taken: messages of a phase's calls that arrived after it ended (a frozen backend resuming) count
   * for that phase, and its rows and verdicts agree.
   */
  private async rejudge(): Promise<void> {
    for (const j of this.judged) {
      const late = this.traffic.book.lateOf(j.phase);
      const now = j.compute();
      const changed = changedAssertions(j.list, now);
      if (late.length === 0 && changed.length === 0) continue;
      const notes = [lateEvidenceLine(j.phase, late), ...changed.map((c) => `re-judged ${c}`)];
      for (const n of notes) this.log(n);
      j.list = now;
      await writeFileAtomicAsync(
        path.join(this.o.runDir, `${j.phase}.assertions.txt`),
        renderAssertions(j.phase, now, notes),
        { mode: FileMode.public },
      );
    }
  }

  private async windowEvidence(
    p: SimPhase,
    expected: number,
    calls: () => PhaseEvidence["calls"],
  ): Promise<() => PhaseEvidence> {
    const { traffic, t } = this;
    const logs = await traffic.closeWindow();
    for (const b of ["old", "new"] as const) {
      const dest = path.join(this.o.runDir, `${p}.uas-${b}.messages.log`);
      if (this.evidence.mode === "hep" && t.backends[b].messageLog !== undefined) {
        const why = this.evidence.why !== undefined ? `HEP alone: ${this.evidence.why}` : "--evidence hep";
        await writeFileAtomicAsync(
          dest,
          `(not read: ${why}; this run's evidence is what Kamailio mirrored, in capture.pcap)\n`,
          { mode: FileMode.public },
        );
      } else {
        await writeWindow(t.backends[b].messageLog, logs[b], dest);
        const w = logs[b];
        if (w.dropped.bytes > 0) {
          const kept: LogCopyKept = {
            file: path.basename(dest),
            maxBytes: this.o.logCopyMaxBytes ?? 0,
            keptBytes: w.keptBytes,
            droppedBytes: w.dropped.bytes,
          };
          const i = this.logCopies.findIndex((x) => x.file === kept.file);
          if (i >= 0) this.logCopies.splice(i, 1);
          this.logCopies.push(kept);
          const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
          this.log(
            `  ${kept.file}: capped at ${mib(kept.maxBytes)} MB: the phase's start and latest part kept (${mib(kept.keptBytes)} MB), ${mib(kept.droppedBytes)} MB between them let go`,
          );
        }
      }
    }
    return () => phaseEvidenceFrom(traffic.book, p, expected, calls(), traffic.backendEvidence);
  }

  /** with two sources: every call of the phase looks the same in both books */
  private agreement(p: SimPhase): Assertion[] {
    const { sippBook, hepBook } = this.traffic;
    if (!sippBook || !hepBook) return [];
    const of = (b: EvidenceBook): ReturnType<EvidenceBook["callsOf"]> =>
      [...b.calls.values()].filter((c) => c.phase === p);
    return [evidenceAgreesAssertion(p, of(sippBook), of(hepBook))];
  }

  /** a lab of real FreeSWITCH: HEP and the event sockets tell the same story of every call of the phase */
  private pbxOf(p: SimPhase): PbxCalls | undefined {
    return this.o.pbx ? pbxCallsOfPhase(this.o.pbx.calls(), this.runId, p) : undefined;
  }

  private phaseCalls(p: SimPhase): ReturnType<EvidenceBook["callsOf"]> {
    return [...this.traffic.book.calls.values()].filter((c) => c.phase === p);
  }

  private pbxAgreement(p: SimPhase): Assertion[] {
    const pbx = this.pbxOf(p);
    return pbx ? [eventSocketAgreesAssertion(p, this.phaseCalls(p), pbx)] : [];
  }

  /** wait (briefly) until each FreeSWITCH reported the end of the calls HEP saw it answer the BYE of */
  private async pbxSettle(p: SimPhase): Promise<void> {
    const pbx = this.o.pbx;
    if (!pbx) return;
    const pending = (): string[] => pbxPending(this.phaseCalls(p), pbxCallsOfPhase(pbx.calls(), this.runId, p));
    if (!(await pbx.until(() => pending().length === 0, PBX_SETTLE_MS, this.o.signal))) {
      this.log(
        `  event sockets: ${pending().length} call end${pending().length === 1 ? "" : "s"} HEP saw not reported by FreeSWITCH within ${PBX_SETTLE_MS} ms (${pending().slice(0, 3).join(", ")})`,
      );
    }
  }

  /** the plan's steps on the one runner: each step's hold is its burst, its verdicts its assertions and gates */
  private async runPlan(): Promise<void> {
    const { o, t } = this;
    const steps = o.plan.steps;
    const labels = steps.map((s) => stepLabel(s, o.plan.algorithm === 4));
    const outcome = await runSteps(
      steps.map((s, i) => ({
        label: labels[i]!,
        weightNew: s.weightNew,
        profile: this.stepProfile(s),
        machine: s.machine,
      })),
      {
        target: t,
        lock: o.lock,
        retry: {},
        signal: o.signal,
        events: this.ev,
        beforeApply: async (i) => {
          const p = steps[i]!.phase;
          if (i > 0) await this.phaseGap();
          await this.fire(`before-phase:${p}`);
          this.phase(p);
          this.log(`== phase ${p}`);
          await this.traffic.openWindow(p);
        },
        onApplied: (i, out) => this.applied(steps[i]!.phase, labels[i]!, out),
        onRolledBack: (to, out) =>
          this.applied(to < 0 ? steps[0]!.phase : steps[to]!.phase, `rollback to ${out.label}`, out),
        hold: burstHold((i) => this.stepBurst(i)),
        evaluate: (i) => Promise.resolve(this.evaluate(i)),
        log: (line) => this.log(`  ${line}`),
      },
    );
    this.planOutcome = outcome;
    if (outcome.outcome !== "pass") throw outcomeError(outcome, o.signal);
  }

  /** the seed's phases apply the seed's lists; a weighted step the plan's weights for the lab's algorithm */
  private stepProfile(s: SimStep): ReturnType<typeof profileFor> {
    const t = this.t;
    if (isSeedPhase(s.phase)) return profileFor(t, s.phase);
    const backends = { setId: t.setId, oldUri: t.backends.old.uri, newUri: t.backends.new.uri, policy: t.sipPolicy };
    return profileFor(t, buildStepProfile(s.weightNew, backends, this.o.plan.algorithm));
  }

  /**
   * A step's hold: its burst of calls, then its phase judged over all its calls. A step held again
   * (inconclusive gates) opens its window again and places another burst; its artifacts keep what
   * the first burst read.
   */
  private async stepBurst(i: number): Promise<void> {
    const k = this.k;
    const s = this.o.plan.steps[i]!;
    const p = s.phase;
    const round = this.rounds[i]!++;
    if (round > 0) await this.traffic.openWindow(p);
    const spec: BurstSpec = { label: stepBurst(p, round), calls: s.calls, rate: k.callRate, holdMs: k.callDurationMs };
    const r = await this.burst(spec).done;
    this.record(r, spec);
    this.media.add(p, r.media);
    const e = await this.windowEvidence(p, s.calls * (round + 1), () => this.phaseCalls(p));
    await this.pbxSettle(p);
    const algorithm = this.o.plan.algorithm;
    const media = this.media.assertions(p, this.o.pbx?.calls());
    await this.judge(p, () => [
      ...stepAssertions(e(), s, algorithm),
      ...this.agreement(p),
      ...this.pbxAgreement(p),
      ...media,
    ]);
  }

  /** the step's gates on its calls (none in the default plan: the seed's assertions decide the exit code, not the routing) */
  private evaluate(i: number): GateResult {
    const s = this.o.plan.steps[i]!;
    const v = simStepVerdict(
      s,
      this.phaseCalls(s.phase),
      this.judged.findLast((j) => j.phase === s.phase)?.list ?? [],
      (callId) => this.media.audio(callId),
    );
    this.stepGates[i] = v;
    return v;
  }

  /** the in-flight cutover: a long call set up in old mode keeps its dialog on OLD while new calls go to NEW */
  private async inflight(): Promise<void> {
    const { k, traffic } = this;
    await this.phaseGap();
    await this.fire("before-phase:inflight");
    this.phase("inflight");
    this.log("== in-flight cutover");
    await traffic.openWindow("inflight");
    await this.apply("inflight", "old");
    const pre: BurstSpec = { label: "precheck", calls: 1, rate: k.callRate, holdMs: k.callDurationMs };
    this.record(await this.burst(pre).done, pre);
    const longSpec: BurstSpec = { label: "long", calls: 1, rate: k.callRate, holdMs: k.longCallMs };
    const long = this.burst(longSpec);
    const answered = (): boolean => traffic.callsOf("long")[0]?.uac.inviteStatus !== undefined;
    let cutoverAtMs: number | undefined;
    const post: BurstSpec = { label: "post", calls: k.postCutoverCalls, rate: k.callRate, holdMs: k.callDurationMs };
    if (await traffic.waitFor(answered, long.done, 2 * k.callTimeoutMs + 1000)) {
      this.log(
        `  long call answered ${traffic.callsOf("long")[0]?.uac.inviteStatus ?? "?"}; cutting over to new while it is up`,
      );
      cutoverAtMs = await this.apply("inflight", "new");
      await this.fire("after-cutover");
      this.record(await this.burst(post).done, post);
    } else {
      this.log("  the long call was never answered; no cutover was made under it");
    }
    this.record(await long.done, longSpec);
    const calls = (): PhaseEvidence["calls"] => [
      ...traffic.callsOf("precheck"),
      ...traffic.callsOf("long"),
      ...traffic.callsOf("post"),
    ];
    const e = await this.windowEvidence("inflight", 2 + k.postCutoverCalls, calls);
    await this.pbxSettle("inflight");
    await this.judge("inflight", () => this.inflightVerdicts(e(), cutoverAtMs));
  }

  private inflightVerdicts(phase: PhaseEvidence, cutoverAtMs: number | undefined): Assertion[] {
    const { traffic, k, o } = this;
    return [
      ...inflightAssertions({
        phase,
        precheck: traffic.callsOf("precheck"),
        long: traffic.callsOf("long"),
        post: traffic.callsOf("post"),
        postExpected: k.postCutoverCalls,
        cutoverAtMs,
      }),
      ...this.agreement("inflight"),
      ...this.pbxAgreement("inflight"),
      ...(o.pbx
        ? [
            longCallHungUpAtOldAssertion(
              traffic.callsOf("long").find((c) => c.uac.inviteSentStamp !== undefined),
              this.pbxOf("inflight")!,
              cutoverAtMs,
            ),
          ]
        : []),
    ];
  }

  /**
   * The bursts' media captures merged into the run's media.pcap (not when interrupted: each is kept
   * as it is); the bursts' rows then name it.
   */
  private async mergeMedia(): Promise<RunMediaPcap> {
    const files = this.mediaFiles;
    if (this.o.signal.aborted)
      return {
        pcap: null,
        burstFiles: files,
        burstFilesRemoved: false,
        why: "interrupted: each burst's capture is kept",
      };
    const m = await mergeRunMedia(this.o.runDir, files);
    if (m.pcap !== null) {
      for (const b of this.bursts) if (b.media) b.media.pcap = m.pcap;
      this.log(
        `media: the run's RTP in ${m.pcap} (${m.records} records of ${this.bursts.filter((b) => b.media).length} bursts; a burst's are to and from its caller ports, bursts[].media.ports in results.json)`,
      );
    } else this.log(`media: no ${RUN_MEDIA_PCAP}: ${m.why}`);
    return m;
  }

  /** results.json and junit.xml, then run-finished */
  private async finish(status: RunStatus, exitCode: number): Promise<SimResults> {
    const { o, t, hep } = this;
    const cp = callPathOf(t).proxy;
    // every call's row to calls.ndjson as it is made; results.json keeps a bounded list
    const media = this.media;
    const rows = (function* (calls: Iterable<CallEvidence>): Generator<Record<string, unknown>> {
      for (const c of calls) {
        const m = media.row(c.callId);
        yield m ? { ...callRow(c), media: m } : callRow(c);
      }
    })(this.traffic.book.calls.values());
    const { calls, listed } = writeCallRows(rows, path.join(o.runDir, CALL_ROWS_FILE));
    if (listed.listed !== "every call")
      this.log(
        `calls: ${listed.total} in ${CALL_ROWS_FILE}; results.json lists the ${listed.inResults} that did not complete` +
          (listed.capped ? ` (the first ${listed.capped.max}; ${listed.capped.left} more in ${CALL_ROWS_FILE})` : ""),
      );
    const mediaPcap = o.media ? await this.mergeMedia() : undefined;
    const results = simResults({
      runId: this.runId,
      runDir: o.runDir,
      startedAt: this.started,
      finishedAt: Date.now(),
      status,
      exitCode,
      knobs: o.knobs,
      target: { proxy: `${cp.address}:${cp.port}`, old: t.backends.old.uri, new: t.backends.new.uri },
      plan: o.plan,
      planOutcome: this.planOutcome,
      stepGates: this.stepGates,
      applies: this.applies,
      bursts: this.bursts,
      verdicts: this.verdicts(),
      error: this.error,
      calls,
      callsListed: listed,
      evidence: this.evidence,
      hep: hep
        ? {
            ...hep.capture.summary(),
            unansweredForwards: hep.feed.unanswered().length,
            ignoredPackets: hep.feed.ignored,
          }
        : undefined,
      eventSocket: o.pbx?.summary(),
      logCopies: this.logCopies,
      ...(mediaPcap ? { media: mediaPcap } : {}),
    });
    await writeFileAtomicAsync(path.join(o.runDir, "results.json"), JSON.stringify(results, null, 2) + "\n", {
      mode: FileMode.public,
    });
    await writeFileAtomicAsync(path.join(o.runDir, "junit.xml"), renderJunit(results), { mode: FileMode.public });
    // stamped now, not at finishedAt: events emitted while the files were written (the rate
    // events' timer) must not come before it in time (events.ndjson is in time order)
    const end: RunEnd = { status, exitCode, failures: results.failures };
    if (o.finished) o.finished(end);
    else this.ev.emit({ kind: "run-finished", at: Date.now(), ...end });
    return results;
  }
}
