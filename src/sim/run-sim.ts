/**
 * The live call cutover simulation (the seed's run_call_cutover_sim.sh, with assertions one can
 * trust): the plan's steps (the seed's phases old, both, new: sim-plan.ts) on the one plan runner
 * (src/plan/runner.ts: verified apply, the step's hold is its burst of calls, then its verdicts),
 * then the in-flight cutover (a long call set up in old mode must keep its dialog on OLD while new
 * calls go to NEW). Everything it learns goes out on the run's event stream; verdicts are data.
 */
import { randomBytes } from "node:crypto";
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
import { failureLine, renderJunit, type SimResults } from "./report.js";
import type { TestFault } from "./test-faults.js";
import { Traffic, writeWindow, type BurstReport, type BurstSpec } from "./traffic.js";
import { isSeedPhase, type SimPlan } from "./sim-plan.js";
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
  /** the evidence sources in use (default: the stand-ins' logs alone) */
  evidence?: EvidenceInUse;
  /** the run's HEP capture and its feed (evidence hep or both) */
  hep?: { capture: HepCapture<HepEvidence | undefined>; feed: HepFeed };
  /** a lab of real FreeSWITCH: what their event sockets reported (channel-watch.ts) */
  pbx?: PbxEvidence;
}

/** The PBXs' own account of the calls, as the simulation reads it. */
export interface PbxEvidence {
  /** every call each FreeSWITCH reported so far */
  calls(): PbxCalls;
  /** poll until `pred` holds, at most `ms` */
  until(pred: () => boolean, ms: number, signal: AbortSignal): Promise<boolean>;
  /** for results.json's evidence.eventSocket */
  summary(): Record<string, unknown>;
}

/** how long a phase waits for the event sockets to report the end of calls HEP saw end */
const PBX_SETTLE_MS = 3000;

export interface SimOutcome {
  results: SimResults;
  exitCode: 0 | 1;
}

export async function runSimulation(o: SimRunOptions): Promise<SimOutcome> {
  const started = Date.now();
  const runId = o.runId ?? randomBytes(3).toString("hex");
  const k = o.knobs;
  const ev = o.events;
  const log = (line: string): void => ev.emit({ kind: "log", at: Date.now(), line });
  const phase = (p: SimPhase): void => ev.emit({ kind: "phase", at: Date.now(), phase: p });
  const verdicts: Assertion[] = [];
  const applies: SimResults["applies"] = [];
  const bursts: SimResults["bursts"] = [];
  const faults = [...(o.faults ?? [])];
  const fire = async (point: string): Promise<void> => {
    for (const f of faults.filter((x) => x.point === point)) {
      faults.splice(faults.indexOf(f), 1);
      if (o.injectFault) log(await o.injectFault(f));
    }
  };
  const onFact = async (f: EvidenceFact): Promise<void> => {
    if (f.kind === "routed" && faults.some((x) => x.point === `during-phase:${f.call.phase}`))
      await fire(`during-phase:${f.call.phase}`);
  };
  const evidence: EvidenceInUse = o.evidence ?? { mode: "sipp" };
  const hep = o.hep;
  const traffic = new Traffic({
    evidence: evidence.mode,
    ...(hep ? { hep: { feed: hep.feed, settle: () => hep.capture.settle(50, 2000) } } : {}),
    target: o.target,
    runId,
    runDir: o.runDir,
    sippBin: o.sippBin,
    scenario: o.scenario,
    callTimeoutMs: k.callTimeoutMs,
    events: ev,
    signal: o.signal,
    onFact,
  });
  const t = o.target;
  const cp = callPathOf(t).proxy;
  const target = { proxy: `${cp.address}:${cp.port}`, old: t.backends.old.uri, new: t.backends.new.uri };
  let error: string | undefined;
  let planOutcome: PlanOutcome | undefined;
  /** each step's last verdict from the runner's evaluate (gates and split), for results.json */
  const stepGates: (GateResult | undefined)[] = [];

  const applied = (p: SimPhase, mode: string, r: ApplyOutcome): void => {
    const runtime = r.runtime.map((d) => d.uri);
    applies.push({ phase: p, mode, durationMs: Math.round(r.timings.totalMs), runtime });
    log(
      `  applied profile ${mode} (verified at runtime in ${Math.round(r.timings.totalMs)} ms): ${runtime.join(", ")}`,
    );
  };
  /** the in-flight check's applies (after the plan): the same verified apply under the run's lock */
  const apply = async (p: SimPhase, mode: ProfileMode): Promise<number> => {
    o.signal.throwIfAborted();
    applied(p, mode, await verifiedApply(t, profileFor(t, mode), { lock: o.lock, events: ev, signal: o.signal }));
    return Date.now();
  };
  const burst = (spec: BurstSpec): ReturnType<Traffic["start"]> => {
    o.signal.throwIfAborted();
    log(
      `  sending ${spec.calls} call${spec.calls === 1 ? "" : "s"} (${spec.label}) at ${spec.rate}/s, held ${spec.holdMs} ms`,
    );
    return traffic.start(spec);
  };
  const record = (r: BurstReport, spec: BurstSpec): void => {
    // an interrupted burst is not evidence: stop here (the scope stops the rest)
    o.signal.throwIfAborted();
    const s = r.stats;
    bursts.push({
      label: r.label,
      calls: spec.calls,
      rate: spec.rate,
      holdMs: spec.holdMs,
      sipp: r.exit.description,
      durationMs: Math.round(r.exit.durationMs),
      stats: s ?? null,
    });
    const counts = s
      ? `${s.successfulCalls} successful, ${s.failedCalls} failed, ${s.retransmissions} retransmissions`
      : "no statistics";
    log(`  SIPp ${r.label}: ${r.exit.description}; ${counts} (${Math.round(r.exit.durationMs)} ms)`);
    if (r.exit.code !== 0 && r.exit.code !== 1) for (const l of r.exit.outputTail) log(`    sipp: ${l}`);
    if (r.exit.code === 254 || r.exit.code === 255 || r.exit.code === null) {
      if (!o.signal.aborted && (s?.outgoingCalls ?? 0) === 0) {
        throw new EnvironmentError(`SIPp could not run the ${r.label} burst: ${r.exit.description}`, r.exit.outputTail);
      }
    }
  };
  /** every judged phase: how to judge it from the book, and the verdicts it got when it ended */
  const judged: { phase: SimPhase; compute: () => Assertion[]; list: Assertion[] }[] = [];
  /** the verdicts as judged from the evidence in use: each says its source; HEP lost by the kernel = inconclusive */
  const judgedNow =
    (compute: () => Assertion[]): (() => Assertion[]) =>
    () =>
      judgedFrom(compute(), evidence.mode, hep?.capture.summary().kernelDrops ?? 0);
  const judge = async (p: SimPhase, computeRaw: () => Assertion[]): Promise<void> => {
    const compute = judgedNow(computeRaw);
    const list = compute();
    // a step held again (inconclusive gates) is judged again over all its calls
    const earlier = judged.findIndex((j) => j.phase === p);
    if (earlier >= 0) judged.splice(earlier, 1);
    judged.push({ phase: p, compute, list });
    verdicts.splice(0, verdicts.length, ...judged.flatMap((j) => j.list));
    for (const a of list) {
      ev.emit({ kind: "verdict", at: Date.now(), phase: p, name: a.name, verdict: a.verdict, details: a.details });
      log(`  ${a.verdict === "pass" ? "ok  " : a.verdict === "fail" ? "FAIL" : "????"} ${a.name}: ${a.details}`);
    }
    await writeFileAtomicAsync(path.join(o.runDir, `${p}.assertions.txt`), renderAssertions(p, list), {
      mode: FileMode.public,
    });
  };
  /**
   * Judge every phase again from the book as it is now, the moment results.json's call rows are
   * taken: messages of a phase's calls that arrived after it ended (a frozen backend resuming) count
   * for that phase, and its rows and verdicts agree.
   */
  const rejudge = async (): Promise<void> => {
    for (const j of judged) {
      const late = traffic.book.lateOf(j.phase);
      const now = j.compute();
      const changed = changedAssertions(j.list, now);
      if (late.length === 0 && changed.length === 0) continue;
      const notes = [lateEvidenceLine(j.phase, late), ...changed.map((c) => `re-judged ${c}`)];
      for (const n of notes) log(n);
      j.list = now;
      await writeFileAtomicAsync(
        path.join(o.runDir, `${j.phase}.assertions.txt`),
        renderAssertions(j.phase, now, notes),
        { mode: FileMode.public },
      );
    }
    verdicts.splice(0, verdicts.length, ...judged.flatMap((j) => j.list));
  };
  const windowEvidence = async (
    p: SimPhase,
    expected: number,
    calls: () => PhaseEvidence["calls"],
  ): Promise<() => PhaseEvidence> => {
    const logs = await traffic.closeWindow();
    for (const b of ["old", "new"] as const) {
      const dest = path.join(o.runDir, `${p}.uas-${b}.messages.log`);
      if (evidence.mode === "hep" && t.backends[b].messageLog !== undefined) {
        await writeFileAtomicAsync(
          dest,
          "(not read: --evidence hep; this run's evidence is what Kamailio mirrored, in capture.pcap)\n",
          { mode: FileMode.public },
        );
      } else {
        await writeWindow(t.backends[b].messageLog, logs[b], dest);
      }
    }
    return () => phaseEvidenceFrom(traffic.book, p, expected, calls(), traffic.backendEvidence);
  };
  /** with two sources: every call of the phase looks the same in both books */
  const agreement = (p: SimPhase): Assertion[] => {
    const { sippBook, hepBook } = traffic;
    if (!sippBook || !hepBook) return [];
    const of = (b: EvidenceBook): ReturnType<EvidenceBook["callsOf"]> =>
      [...b.calls.values()].filter((c) => c.phase === p);
    return [evidenceAgreesAssertion(p, of(sippBook), of(hepBook))];
  };
  /** a lab of real FreeSWITCH: HEP and the event sockets tell the same story of every call of the phase */
  const pbxOf = (p: SimPhase): PbxCalls | undefined => (o.pbx ? pbxCallsOfPhase(o.pbx.calls(), runId, p) : undefined);
  const phaseCalls = (p: SimPhase): ReturnType<EvidenceBook["callsOf"]> =>
    [...traffic.book.calls.values()].filter((c) => c.phase === p);
  const pbxAgreement = (p: SimPhase): Assertion[] => {
    const pbx = pbxOf(p);
    return pbx ? [eventSocketAgreesAssertion(p, phaseCalls(p), pbx)] : [];
  };
  /** wait (briefly) until each FreeSWITCH reported the end of the calls HEP saw it answer the BYE of */
  const pbxSettle = async (p: SimPhase): Promise<void> => {
    const pbx = o.pbx;
    if (!pbx) return;
    const pending = (): string[] => pbxPending(phaseCalls(p), pbxCallsOfPhase(pbx.calls(), runId, p));
    if (!(await pbx.until(() => pending().length === 0, PBX_SETTLE_MS, o.signal))) {
      log(
        `  event sockets: ${pending().length} call end${pending().length === 1 ? "" : "s"} HEP saw not reported by FreeSWITCH within ${PBX_SETTLE_MS} ms (${pending().slice(0, 3).join(", ")})`,
      );
    }
  };

  ev.emit({ kind: "run-started", at: started, runDir: o.runDir, knobs: knobsByEnvName(k) });
  ev.emit({ kind: "status", at: Date.now(), status: "running" });
  try {
    log(`pbx-cutover sim: run ${runId}, evidence in ${o.runDir}`);
    log(
      `knobs: ${Object.entries(knobsByEnvName(k))
        .map(([n, v]) => `${n}=${v}`)
        .join(" ")} (floor ${(floorMs(k) / 1000).toFixed(1)} s)`,
    );
    if (faults.length > 0) log(`WARNING: test-only faults will be injected: ${faults.map((f) => f.spec).join(", ")}`);

    phase("preflight");
    for (const b of ["old", "new"] as const) {
      // straight to a loopback backend; a backend on a Docker network gets its OPTIONS from Kamailio
      const { probe: r } = await probeBackend(t, b);
      if (!r.reachable) {
        throw new EnvironmentError(
          `the ${b} backend ${t.backends[b].uri} does not answer SIP OPTIONS (${r.error ?? "no answer"}); nothing was changed`,
        );
      }
      log(
        `preflight: ${b} backend ${t.backends[b].uri} answers OPTIONS ${r.status} in ${r.rttMs?.toFixed(1) ?? "?"} ms`,
      );
    }
    await traffic.begin();

    // the plan's steps on the one runner: each step's hold is its burst, its verdicts the seed's assertions
    const steps = o.plan.steps;
    const algorithm = o.plan.algorithm;
    const labels = steps.map((s) => stepLabel(s, algorithm === 4));
    /** the bursts each step placed so far (a step held again places another) */
    const rounds = steps.map(() => 0);
    const outcome = await runSteps(
      steps.map((s, i) => ({
        label: labels[i]!,
        weightNew: s.weightNew,
        // the seed's phases apply the seed's lists; a weighted step the plan's weights for this algorithm
        profile: profileFor(
          t,
          isSeedPhase(s.phase)
            ? s.phase
            : buildStepProfile(
                s.weightNew,
                { setId: t.setId, oldUri: t.backends.old.uri, newUri: t.backends.new.uri, policy: t.sipPolicy },
                algorithm,
              ),
        ),
        machine: s.machine,
      })),
      {
        target: t,
        lock: o.lock,
        retry: {},
        signal: o.signal,
        events: ev,
        beforeApply: async (i) => {
          const p = steps[i]!.phase;
          if (i > 0 && k.phaseGapSeconds > 0) {
            log(`phase gap: ${k.phaseGapSeconds} s`);
            await delay(k.phaseGapSeconds * 1000, o.signal);
          }
          await fire(`before-phase:${p}`);
          phase(p);
          log(`== phase ${p}`);
          await traffic.openWindow(p);
        },
        onApplied: (i, out) => applied(steps[i]!.phase, labels[i]!, out),
        onRolledBack: (to, out) =>
          applied(to < 0 ? steps[0]!.phase : steps[to]!.phase, `rollback to ${out.label}`, out),
        hold: burstHold(async (i) => {
          const s = steps[i]!;
          const p = s.phase;
          const round = rounds[i]!++;
          // held again: the step's window opens again, its artifacts keep what the first burst read
          if (round > 0) await traffic.openWindow(p);
          const label = stepBurst(p, round);
          const spec: BurstSpec = { label, calls: s.calls, rate: k.callRate, holdMs: k.callDurationMs };
          record(await burst(spec).done, spec);
          const e = await windowEvidence(p, s.calls * (round + 1), () => phaseCalls(p));
          await pbxSettle(p);
          await judge(p, () => [...stepAssertions(e(), s, algorithm), ...agreement(p), ...pbxAgreement(p)]);
        }),
        // the step's gates on its calls (none in the default plan: the seed's assertions decide the exit code, not the routing)
        evaluate: (i) => {
          const s = steps[i]!;
          const v = simStepVerdict(s, phaseCalls(s.phase), judged.findLast((j) => j.phase === s.phase)?.list ?? []);
          stepGates[i] = v;
          return Promise.resolve(v);
        },
        log: (line) => log(`  ${line}`),
      },
    );
    planOutcome = outcome;
    if (outcome.outcome !== "pass") throw outcomeError(outcome, o.signal);

    if (k.phaseGapSeconds > 0) {
      log(`phase gap: ${k.phaseGapSeconds} s`);
      await delay(k.phaseGapSeconds * 1000, o.signal);
    }
    await fire("before-phase:inflight");
    phase("inflight");
    log("== in-flight cutover");
    await traffic.openWindow("inflight");
    await apply("inflight", "old");
    const pre: BurstSpec = { label: "precheck", calls: 1, rate: k.callRate, holdMs: k.callDurationMs };
    record(await burst(pre).done, pre);
    const longSpec: BurstSpec = { label: "long", calls: 1, rate: k.callRate, holdMs: k.longCallMs };
    const long = burst(longSpec);
    const answered = (): boolean => {
      const s = traffic.callsOf("long")[0]?.uac.inviteStatus;
      return s !== undefined;
    };
    let cutoverAtMs: number | undefined;
    const post: BurstSpec = { label: "post", calls: k.postCutoverCalls, rate: k.callRate, holdMs: k.callDurationMs };
    if (await traffic.waitFor(answered, long.done, 2 * k.callTimeoutMs + 1000)) {
      log(
        `  long call answered ${traffic.callsOf("long")[0]?.uac.inviteStatus ?? "?"}; cutting over to new while it is up`,
      );
      cutoverAtMs = await apply("inflight", "new");
      await fire("after-cutover");
      record(await burst(post).done, post);
    } else {
      log("  the long call was never answered; no cutover was made under it");
    }
    record(await long.done, longSpec);
    const calls = (): PhaseEvidence["calls"] => [
      ...traffic.callsOf("precheck"),
      ...traffic.callsOf("long"),
      ...traffic.callsOf("post"),
    ];
    const e = await windowEvidence("inflight", 2 + k.postCutoverCalls, calls);
    await pbxSettle("inflight");
    await judge("inflight", () => [
      ...inflightAssertions({
        phase: e(),
        precheck: traffic.callsOf("precheck"),
        long: traffic.callsOf("long"),
        post: traffic.callsOf("post"),
        postExpected: k.postCutoverCalls,
        cutoverAtMs,
      }),
      ...agreement("inflight"),
      ...pbxAgreement("inflight"),
      ...(o.pbx
        ? [
            longCallHungUpAtOldAssertion(
              traffic.callsOf("long").find((c) => c.uac.inviteSentStamp !== undefined),
              pbxOf("inflight")!,
              cutoverAtMs,
            ),
          ]
        : []),
    ]);
  } catch (err) {
    // the exit code the command will end with: the interrupt's (130), an error's own, or 70
    const cause: unknown = o.signal.aborted ? o.signal.reason : err;
    error = cause instanceof Error ? cause.message : String(cause);
    await traffic.stopAll();
    await traffic.readHep().catch(() => undefined);
    await rejudge().catch(() => undefined);
    await finish("failed", formatError(cause).exitCode);
    throw err;
  }
  // the verdicts and the call rows, from the same evidence at the same moment
  await traffic.closeWindow();
  await traffic.readHep();
  await rejudge();
  phase("done");
  const failed = verdicts.filter((a) => a.verdict !== "pass");
  const exitCode = failed.length === 0 ? 0 : 1;
  const results = await finish(exitCode === 0 ? "success" : "failed", exitCode);
  return { results, exitCode };

  async function finish(status: RunStatus, exitCode: number): Promise<SimResults> {
    const finishedAt = Date.now();
    const hepSummary = hep
      ? { ...hep.capture.summary(), unansweredForwards: hep.feed.unanswered().length, ignoredPackets: hep.feed.ignored }
      : undefined;
    const failures = verdicts.filter((a) => a.verdict !== "pass").map(failureLine);
    const results: SimResults = {
      tool: "pbx-cutover sim",
      runId,
      runDir: o.runDir,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - started,
      floorMs: Math.round(floorMs(k)),
      status,
      exitCode,
      knobs: knobsByEnvName(k),
      target,
      plan: {
        source: o.plan.source,
        steps: o.plan.steps.map((s, i) => {
          const g = stepGates[i];
          return {
            index: i + 1,
            phase: s.phase,
            weightNew: s.weightNew,
            ...(s.gates.length > 0 && g !== undefined
              ? { gates: { verdict: g.verdict, detail: g.detail, gates: g.gates ?? [] } }
              : {}),
          };
        }),
        outcome: planOutcome?.outcome,
        ...(planOutcome?.rollback
          ? {
              rollback: {
                from: planOutcome.rollback.from + 1,
                to: planOutcome.rollback.to + 1,
                toLabel: planOutcome.rollback.toLabel,
                ok: planOutcome.rollback.ok,
                reason: planOutcome.rollback.reason,
              },
            }
          : {}),
      },
      applies,
      bursts,
      verdicts,
      failures: error ? [...failures, `ERROR ${error}`] : failures,
      calls: [...traffic.book.calls.values()].map(callRow),
      evidence: {
        mode: evidence.mode,
        verdictsFrom: evidence.mode === "hep" ? "hep" : "sipp",
        ...(evidence.mode === "both" ? { crossCheck: "evidence-agrees (stand-in logs vs HEP, per call)" } : {}),
        ...(o.pbx ? { crossCheck: "event-socket-agrees (HEP vs each FreeSWITCH's event socket, per call)" } : {}),
        ...(evidence.hepUnavailable !== undefined ? { hepUnavailable: evidence.hepUnavailable } : {}),
        hep: hepSummary ?? null,
        ...(o.pbx ? { eventSocket: o.pbx.summary() } : {}),
      },
      ...(error ? { error } : {}),
    };
    await writeFileAtomicAsync(path.join(o.runDir, "results.json"), JSON.stringify(results, null, 2) + "\n", {
      mode: FileMode.public,
    });
    await writeFileAtomicAsync(path.join(o.runDir, "junit.xml"), renderJunit(results), { mode: FileMode.public });
    // stamped now, not at finishedAt: events emitted while the files were written (the rate
    // events' timer) must not come before it in time (events.ndjson is in time order)
    ev.emit({ kind: "run-finished", at: Date.now(), status, exitCode, failures: results.failures });
    return results;
  }
}
