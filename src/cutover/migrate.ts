/**
 * `pbx-cutover migrate`: the seed's migration smoke (run_real_migration_smoke.sh), verified.
 * Ensure the lab is up, wait for the RPC, probe both backends with SIP OPTIONS, then apply the
 * profiles old -> both -> new with verifiedApply (one lock held across all three), check the final
 * state is new only in the file and at runtime, and capture Kamailio's own listing with kamcmd.
 * Every run writes its evidence, pass or fail, into a run-YYYYmmdd_HHMMSS folder.
 */
import { execFile } from "node:child_process";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import path from "node:path";
import { EnvironmentError, UsageError, VerificationError } from "../core/errors.js";
import { delay, type Scope } from "../core/scope.js";
import { isLoopbackV4 } from "../sip/sip-policy.js";
import { viaKamailioRow } from "../verify/probes.js";
import { createRunDir } from "../artifacts/run-dir.js";
import {
  migrateFiles,
  renderSummary,
  type BackendProbe,
  type FinalCheck,
  type MigrateResults,
  type PhaseResult,
  type RollbackResult,
} from "./migrate-report.js";
import { parseDispatcherList, entriesOf } from "../dispatcher/list.js";
import { PROFILE_MODES, renderProfile } from "../dispatcher/profile.js";
import { parseSipUri } from "../sip/sip-uri.js";
import { acquireApplyLock } from "../apply/apply-lock.js";
import { ApplyRolledBackError, profileFor } from "../apply/apply.js";
import { RunEvents } from "../events/run-events.js";
import { attachEventLog, EVENT_LOG_FILE } from "../events/event-log.js";
import { LiveView } from "../web/live-view.js";
import { REPORT_FILE, writeRunReport } from "../web/run-report.js";
import { RunFileFaults } from "../artifacts/run-faults.js";
import type { WebServer } from "../web/server.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import { gateName, stepMinCalls, type GateSpec } from "../gates/gate.js";
import { checkPlanForAlgorithm, stepProfile } from "../plan/dry-run.js";
import { stepLabel, type Plan } from "../plan/plan.js";
import { watchedHold } from "../plan/hold.js";
import { outcomeError, runSteps, type GateResult, type RunnerStep } from "../plan/runner.js";
import { openControlServer } from "../control/control-socket.js";
import { RunControl } from "../control/run-control.js";
import { initialStatus, reduceStatus, statusView } from "../control/run-status.js";
import { waitForDrain } from "../observe/drain.js";
import { readRuntime } from "../kamailio/dispatcher-rpc.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import type { LabControl } from "../drivers/lab-control.js";
import type { BackendEndpoint, Target } from "../target/target.js";
import { probeOptions, type OptionsResult } from "../sip/options-probe.js";
import { startTrafficRun, type TrafficSettings } from "./traffic-run.js";
import type { BackendRole } from "../core/backend-role.js";
import { checkDestinations, destinationName, type DestinationCheck } from "./destination-check.js";

export interface MigrateOptions {
  /** a plan from --steps / --plan with the target's dispatcher algorithm; undefined = the seed's old -> both -> new */
  plan?: { plan: Plan; algorithm: DispatcherAlgorithm } | undefined;
  artifactsDir: string;
  /** leave a lab this run started running at the end */
  keepLab: boolean;
  reloadWaitMs: number;
  log: (line: string) => void;
  /**
   * `--traffic RATE` (native lab): background calls through Kamailio for the whole plan, judged from
   * HEP on the lab's collector address; every step's gates and split are evaluated on them
   */
  traffic?: TrafficSettings | undefined;
  /**
   * drain after a last step of weight 100 (src/observe/drain.ts): 0 = one look, the calls left on old
   * are reported, not waited for; > 0 = wait up to this long for old to hold no calls (exit 1 if some remain)
   */
  drainTimeoutMs?: number;
  /** --web: the live page's server (started by the command); the run's events are published to it */
  web?: WebServer | undefined;
  /** how a backend is probed (default: SIP OPTIONS, see probeBackend); tests pass their own */
  probe?: (target: Target, role: BackendRole) => Promise<BackendProbe>;
}

const VERSION = "0.1.0";

export async function runMigrate(
  lab: LabControl,
  target: Target,
  o: MigrateOptions,
  scope: Scope,
): Promise<MigrateResults> {
  // validation first (exit 2 before anything starts or is written)
  const steps =
    o.plan === undefined
      ? defaultSteps(target, o.traffic !== undefined)
      : planSteps(target, o.plan.plan, o.plan.algorithm, o.traffic !== undefined);
  const finalWeight = steps.at(-1)!.runner.weightNew;
  const t0 = performance.now();
  const runDir = createRunDir(o.artifactsDir, "run");
  const results: MigrateResults = {
    tool: "pbx-cutover migrate",
    version: VERSION,
    status: "fail",
    exitCode: 70,
    error: undefined,
    startedAt: new Date().toISOString(),
    finishedAt: "",
    durationMs: 0,
    runDir,
    target: {
      driver: target.driver,
      proxy: `${target.proxy.address}:${target.proxy.port}/udp`,
      rpc: target.rpc.endpoint,
      setId: target.setId,
      listLocation: target.dispatcherList.location,
      old: target.backends.old.uri,
      new: target.backends.new.uri,
    },
    lab: { startedByThisRun: false, leftRunning: true },
    probes: [],
    phases: [],
    final: undefined,
    kamcmd: undefined,
    warnings: [],
    ...(o.plan === undefined
      ? {}
      : {
          plan: {
            source: o.plan.plan.source,
            algorithm: o.plan.algorithm,
            steps: steps.map((s) => ({
              label: s.mode,
              weightNew: s.runner.weightNew,
              holdS: s.runner.machine.holdMs / 1000,
              gates: s.gates,
            })),
          },
        }),
  };
  o.log(`run folder ${runDir}`);
  const events = new RunEvents();
  // the run's lines go to the terminal and to the stream (events.ndjson, the live page, report.html)
  const say = (line: string): void => {
    o.log(line);
    events.emit({ kind: "log", at: Date.now(), line });
  };
  // every run folder: the seed's files, plus events.ndjson (the run's event stream) and report.html
  // a run-folder file that cannot be written (full, read-only, failing disk) is recorded, not thrown:
  // routing goes on as it would; the run then ends with exit 3 naming it and saying what routing did
  const faults = new RunFileFaults();
  const writeRunFile = (name: string, text: string): void => {
    const file = path.join(runDir, name);
    faults.write(file, () => writeFileAtomic(file, text, { mode: FileMode.public }));
  };
  const eventLog = path.join(runDir, EVENT_LOG_FILE);
  const detachLog = attachEventLog(events, eventLog, (err) => faults.record(err, eventLog));
  let failure: unknown;
  if (o.web) {
    const live = new LiveView(o.web, runDir).attach(events);
    scope.defer("web view", () => live.close());
  }
  let status = initialStatus({
    runDir,
    pid: process.pid,
    command: "pbx-cutover migrate",
    startedAt: Date.now(),
    source: o.plan?.plan.source ?? "default (old -> both -> new)",
    steps: steps.map((s) => ({
      label: s.mode,
      weightNew: s.runner.weightNew,
      holdS: s.runner.machine.holdMs / 1000,
      gates: s.gates,
    })),
  });
  events.subscribe((e) => {
    status = reduceStatus(status, e);
    if (e.kind === "control" && e.accepted)
      (results.control ??= []).push({
        at: new Date(e.at).toISOString(),
        command: e.command,
        detail: e.detail,
        ...(e.by ? { by: e.by } : {}),
      });
  });
  events.emit({ kind: "run-started", at: Date.now(), runDir, knobs: { steps: steps.length } });
  try {
    // 1. the lab
    const up = await lab.ensureUp(scope);
    results.lab.startedByThisRun = up.startedFromNothing;
    if (up.startedFromNothing && !o.keepLab) {
      results.lab.leftRunning = false;
      scope.defer("lab started by migrate", () => lab.down());
    }
    if (up.replacedDead) {
      say(
        `lab: the previous lab had dead components (${up.replacedDead.join(", ")}); stopped the rest and started afresh${up.startedFromNothing ? "" : "; it was running before, so it is left running at the end"}`,
      );
    }
    say(up.alreadyRunning ? "lab: already running" : `lab: started (ready in ${Math.round(up.readyMs)} ms)`);

    // 2. the RPC answers
    await waitForRpc(target, lab.readyTimeoutMs, scope.signal);

    // 3. both backends answer and are different
    const probe = o.probe ?? probeBackend;
    results.probes = await Promise.all([probe(target, "old"), probe(target, "new")]);
    for (const p of results.probes) {
      say(
        `probe ${p.role} ${p.uri}: ${p.probe.status ?? "no answer"}${p.probe.rttMs !== undefined ? ` in ${p.probe.rttMs.toFixed(1)} ms` : ""} (${p.probe.server !== undefined ? `${p.probe.serverHeader ?? "Server"}: ${p.probe.server}` : (p.probe.error ?? "no Server or User-Agent header")})`,
      );
    }
    const unreachable = results.probes.filter((p) => !p.probe.reachable);
    if (unreachable.length > 0) {
      throw new EnvironmentError(
        `${unreachable.map((p) => `${p.role} backend ${p.uri}`).join(" and ")} did not answer SIP OPTIONS; nothing was changed`,
        unreachable.map((p) => `${p.role}: ${p.probe.error ?? "no final response"}`),
      );
    }
    const [po, pn] = results.probes;
    if (po!.probe.server !== undefined && po!.probe.server === pn!.probe.server) {
      results.warnings.push(
        `old and new answer OPTIONS with the same ${po!.probe.serverHeader ?? "Server"} header (${po!.probe.server}); make sure they are really different PBXs`,
      );
    }
    for (const p of results.probes) {
      if (p.probe.status !== 200)
        results.warnings.push(
          `${p.role} backend answered OPTIONS with ${p.probe.status} ${p.probe.reason ?? ""}`.trim(),
        );
    }

    // 4. the plan's steps (default: old -> both -> new) on the one runner, one lock across all of them
    const lock = acquireApplyLock(target.lockPath, "pbx-cutover migrate");
    scope.defer("apply lock", () => lock.release());
    // the operator's control socket for as long as the plan runs (status, pause, resume, promote, abort)
    const control = new RunControl(events);
    const server = await openControlServer({
      runDir,
      pointerDir: path.dirname(target.lockPath),
      command: "pbx-cutover migrate",
      control,
      status: () => statusView(status, Date.now()),
    });
    scope.defer("control socket", () => server.close());
    if (o.plan !== undefined)
      say(
        `control: ${server.socketPath} (pbx-cutover status | pause | resume | promote | abort --lab-dir ${path.dirname(target.lockPath)})`,
      );
    const phaseOf = (i: number): PhaseResult => results.phases[i]!;
    // --traffic: HEP capture, then the background calls, for the whole plan
    const live =
      o.traffic === undefined
        ? undefined
        : await startTrafficRun(o.traffic, target, steps, o.plan?.algorithm ?? 4, runDir, scope, events, say);
    const evaluateGates = async (i: number): Promise<GateResult> => {
      if (live === undefined) {
        // no calls: a step's gates have no evidence to decide on
        return {
          verdict: "none",
          detail: `${steps[i]!.gates.join(", ")}: migrate places no calls without --traffic, so there is no evidence to judge them on`,
        };
      }
      // the last mirrored messages of the window are in before it is judged: a packet Kamailio
      // captured 20 ms after now was read (its workers mirror in about that order), or all is quiet
      await live.capture.settleUntil(Date.now() + EVALUATE_SETTLE_MS, 50, 1000);
      return live.gates.evaluate(i);
    };
    const outcome = await runSteps(
      steps.map((s) => s.runner),
      {
        target,
        lock,
        retry: { reloadWaitMs: o.reloadWaitMs },
        signal: scope.signal,
        control,
        events,
        evaluate: async (i) => {
          // the end of the cutover: the destinations the last step moved calls to answer, before its gates
          if (i !== steps.length - 1) return evaluateGates(i);
          const answers = await checkDestinations(target, steps[i]!.weightNew, probe);
          if (!answers.ok)
            return {
              verdict: "fail",
              detail: `after the last step, ${answers.lines.join("; ")}`,
              gates: [answers.row],
            };
          if (live === undefined && steps[i]!.gates.length === 0)
            return { verdict: "pass", detail: answers.lines.join("; "), gates: [answers.row] };
          const judged = await evaluateGates(i);
          return { ...judged, gates: [answers.row, ...(judged.gates ?? [])] };
        },
        ...(live
          ? {
              hold: watchedHold(
                (i) => live.gates.watch(i),
                (i) => live.gates.whenFailed(i),
              ),
            }
          : {}),
        onApplied: (i, out) => {
          live?.open(i);
          const phase = phaseOf(i);
          Object.assign(phase, {
            verdict: "pass",
            changed: out.changed,
            reload: out.reload,
            runtimeBefore: out.runtimeBefore,
            runtime: out.runtime,
            timings: out.timings,
          });
          phase.appliedFile = steps[i]!.appliedFile;
          writeRunFile(phase.appliedFile, out.appliedText);
          if (o.plan === undefined)
            say(
              `apply ${phase.mode}: verified in ${out.timings.totalMs.toFixed(1)} ms; runtime ${out.runtime.map((d) => d.uri).join(", ")}`,
            );
        },
        onApplyFailed: (i, err) => {
          const phase = phaseOf(i);
          if (err instanceof ApplyRolledBackError) {
            const f = err.failure;
            Object.assign(phase, {
              reason: `${f.stage}: ${f.reason}`,
              reload: f.reload,
              runtime: f.runtime,
              restoredRuntime: f.restore.runtime,
              timings: f.timings,
            });
          } else {
            phase.reason = err instanceof Error ? err.message : String(err);
          }
        },
        onRolledBack: (to, out) => {
          if (o.plan === undefined) return;
          const file = migrateFiles.rollbackApplied(to < 0 ? undefined : to + 1);
          writeRunFile(file, out.appliedText);
          results.rollback = { ...(results.rollback ?? emptyRollback), appliedFile: file, runtime: out.runtime };
        },
        beforeApply: async (i) => {
          // the phase exists (with its profile file) before its apply starts
          const s = steps[i]!;
          results.phases.push(newPhase(s.mode, s.profileFile, s.step));
          writeRunFile(s.profileFile, renderProfile(s.runner.profile));
          // a step is applied only when the destinations it sends calls to answer
          const answers = await checkDestinations(target, s.weightNew, probe);
          if (!answers.ok) {
            phaseOf(i).reason = `not applied: ${answers.lines.join("; ")}`;
            throw destinationsDownError(steps, i, answers.down, answers.lines);
          }
        },
        log: (line) => {
          if (o.plan !== undefined) say(line);
        },
      },
    );
    if (outcome.rollback) {
      results.rollback = {
        ...emptyRollback,
        ...results.rollback,
        ...outcome.rollback,
        to: outcome.rollback.to + 1,
        from: outcome.rollback.from + 1,
      };
    }
    if (live) await live.finish(outcome.rollback?.reaction, results);
    // a step applied after the last good one did not pass: it was rolled back
    results.phases.forEach((p, i) => {
      if (i > outcome.lastGood && p.verdict === "pass") {
        p.verdict = "fail";
        p.reason ??= `${outcome.reason ?? "not passed"}; rolled back`;
      }
    });
    if (outcome.outcome !== "pass") throw outcomeError(outcome, scope.signal);
    if (live === undefined && o.plan !== undefined && steps.some((s) => s.gates.length > 0)) {
      results.warnings.push(
        "the steps' gates were not evaluated: migrate placed no calls (no --traffic); each step was verified at runtime and held",
      );
    }

    // 5. final state: new only, in the file and at runtime
    results.final = await finalCheck(target, finalWeight);
    say(
      `final: file new ${results.final.file.newPresent ? "present" : "absent"}, old ${results.final.file.oldPresent ? "present" : "absent"}; ` +
        `runtime new ${results.final.runtime.newPresent ? "present" : "absent"}, old ${results.final.runtime.oldPresent ? "present" : "absent"}`,
    );

    // 6. Kamailio's own listing, as the seed captured it
    const argv = target.kamcmdArgv("dispatcher.list");
    const k = await run(argv);
    writeRunFile(migrateFiles.kamcmd, k.stdout + (k.code === 0 ? "" : k.stderr));
    results.kamcmd = { argv, exitCode: k.code, file: migrateFiles.kamcmd };
    if (k.code !== 0 || /^error:/m.test(k.stdout + k.stderr)) {
      results.warnings.push(
        `kamcmd dispatcher.list did not print the listing (exit ${k.code}): ${(k.stderr || k.stdout).trim().split("\n")[0]}`,
      );
    }
    if (results.final.verdict !== "pass") {
      throw new VerificationError(
        `final state is not ${finalWeight === 100 ? "new only" : `the last step's (${steps.at(-1)!.mode})`}: ${results.final.reason}`,
      );
    }

    // 7. drain: new calls all go to new now; the old backend's calls end as their callers hang up
    if (finalWeight === 100) {
      control.setStage("draining");
      const timeoutMs = o.drainTimeoutMs ?? 0;
      results.drain = await waitForDrain({
        rpc: target.rpc,
        backend: "old",
        backendUri: target.backends.old.uri,
        timeoutMs,
        signal: AbortSignal.any([scope.signal, control.abortSignal]),
        events,
        log: say,
        // a real FreeSWITCH as old: its own channel count must reach 0 too
        pbxChannels: target.pbxChannels ? async () => (await target.pbxChannels!()).old : undefined,
      });
      control.setStage("ending");
      const d = results.drain;
      if (d.state === "aborted" && scope.signal.aborted) throw scope.signal.reason as Error;
      if (d.state === "aborted")
        throw new VerificationError(
          `drain aborted by the operator (pbx-cutover abort): ${d.detail}; the cutover itself is complete (new only)`,
        );
      if (d.state === "timed-out")
        throw new VerificationError(
          `drain timed out: ${d.detail}; the cutover itself is complete (new only)`,
          d.remaining.map((c) => `still up on old: ${c.callId}, up ${c.ageS} s`),
        );
      if (d.state === "unavailable") {
        if (timeoutMs > 0)
          throw new EnvironmentError(
            `drain could not be observed: ${d.detail}; the cutover itself is complete (new only)`,
          );
        results.warnings.push(`drain not observed: ${d.detail}`);
      }
      if (d.state === "remaining") results.warnings.push(`drain: ${d.detail}`);
    }
    results.status = "pass";
    results.exitCode = 0;
  } catch (err) {
    failure = err;
    results.error = err instanceof Error ? err.message : String(err);
    results.exitCode =
      typeof (err as { exitCode?: unknown }).exitCode === "number" ? (err as { exitCode: number }).exitCode : 70;
  }
  // what routing did, whatever happens to the run folder's files
  const routing =
    failure === undefined
      ? `the ${o.plan === undefined ? "cutover" : "plan"} completed: ${results.phases.at(-1)?.mode ?? "new"} in the file and at runtime, verified`
      : results.error!;
  const faulted = (): Error | undefined => faults.endError(runDir, routing);
  if (faults.first !== undefined) {
    results.status = "fail";
    results.exitCode = faults.first.exitCode;
    results.error = faulted()!.message;
  }
  results.finishedAt = new Date().toISOString();
  results.durationMs = performance.now() - t0;
  writeRunFile(migrateFiles.results, JSON.stringify(results, null, 2) + "\n");
  writeRunFile(migrateFiles.summary, renderSummary(results));
  // after results.json: the live page folds it in at run-finished
  events.emit({
    kind: "run-finished",
    at: Date.now(),
    status: results.status === "pass" ? "success" : "failed",
    exitCode: results.exitCode,
    failures: results.error ? [results.error] : [],
  });
  detachLog();
  faults.write(path.join(runDir, REPORT_FILE), () => writeRunReport(runDir));
  const fault = faulted();
  if (fault !== undefined) throw fault;
  // rethrown as it was caught (a CutoverError with its exit code, or a bug: 70)
  if (failure !== undefined) throw failure as Error;
  return results;
}

interface MigrateStep {
  /** old | both | new, or the plan step's label */
  mode: string;
  profileFile: string;
  appliedFile: string;
  step: PhaseResult["step"];
  gates: string[];
  gateSpecs: readonly GateSpec[];
  weightNew: number;
  runner: RunnerStep;
}

/** A window is judged once a packet Kamailio captured this long after the hold's end was read. */
export const EVALUATE_SETTLE_MS = 20;

/** The seed's old -> both -> new, with its file names; no gates (as before the runner), held by calls with --traffic. */
function defaultSteps(target: Target, traffic: boolean): MigrateStep[] {
  const weights = { old: 0, both: 50, new: 100 } as const;
  return PROFILE_MODES.map((m) => ({
    mode: m,
    profileFile: migrateFiles.profile(m),
    appliedFile: migrateFiles.applied(m),
    step: undefined,
    gates: [],
    runner: {
      label: m,
      weightNew: weights[m],
      profile: profileFor(target, m),
      // with --traffic the split check judges every step
      machine: {
        holdMs: 0,
        // the last step's destinations are checked with its gates
        hasGates: traffic || m === "new",
        onInconclusive: "fail",
        maxExtensions: 0,
        ...(traffic ? { minCalls: stepMinCalls(weights[m]) } : {}),
      },
    },
    weightNew: weights[m],
    gateSpecs: [],
  }));
}

/**
 * A plan's steps on this target. Refused (exit 2, nothing started): weights the target's algorithm
 * cannot split (the check `plan --dry-run` makes), and holds by call count (migrate places no calls yet).
 */
function planSteps(target: Target, plan: Plan, algorithm: DispatcherAlgorithm, traffic: boolean): MigrateStep[] {
  checkPlanForAlgorithm(plan, algorithm);
  const byCalls = plan.steps.map((s, i) => ({ s, i })).filter(({ s }) => s.hold.minCalls !== undefined);
  if (byCalls.length > 0 && !traffic) {
    throw new UsageError(
      `${plan.source}: ${byCalls.map(({ i }) => `step ${i + 1}`).join(", ")} hold${byCalls.length === 1 ? "s" : ""} until a number of calls (hold.minCalls), ` +
        "but migrate places no calls without --traffic; nothing was changed",
      ["hold by time (hold: { durationS: 600 }) instead, or give the lab background calls with --traffic RATE"],
    );
  }
  const dry = {
    setId: target.setId,
    oldUri: target.backends.old.uri,
    newUri: target.backends.new.uri,
    sipPolicy: target.sipPolicy,
    algorithm,
  };
  return plan.steps.map((s, i) => ({
    mode: stepLabel(s, algorithm === 4),
    profileFile: migrateFiles.stepProfile(i + 1, s.weightNew),
    appliedFile: migrateFiles.stepApplied(i + 1, s.weightNew),
    step: { index: i + 1, weightNew: s.weightNew, holdS: s.hold.durationS ?? 0 },
    gates: s.gates.map(gateName),
    runner: {
      label: stepLabel(s, algorithm === 4),
      weightNew: s.weightNew,
      profile: profileFor(
        target,
        stepProfile(s, { ...dry, driver: target.driver, listLocation: "", rpc: "", backupDir: "" }),
      ),
      machine: {
        holdMs: (s.hold.durationS ?? 0) * 1000,
        // with --traffic the split check judges every step, gates or not
        hasGates: s.gates.length > 0 || traffic || i === plan.steps.length - 1,
        onInconclusive: s.onInconclusive,
        maxExtensions: s.maxExtensions,
        ...(traffic
          ? { minCalls: s.hold.minCalls ?? (s.hold.durationS === undefined ? stepMinCalls(s.weightNew) : 0) }
          : {}),
      },
    },
    weightNew: s.weightNew,
    gateSpecs: s.gates,
  }));
}

/**
 * Step i was not applied because destinations it sends calls to do not answer: the steps before it
 * stay as they are (the last good one is in place), and the operator is told when that step still
 * sends calls to a destination that does not answer.
 */
function destinationsDownError(
  steps: readonly MigrateStep[],
  i: number,
  down: DestinationCheck["down"],
  lines: string[],
): VerificationError {
  const prev = steps[i - 1];
  const share = (role: BackendRole, w: number): number => (role === "new" ? w : 100 - w);
  const still = prev === undefined ? [] : down.filter((d) => share(d.role, prev.weightNew) > 0);
  const inPlace =
    prev === undefined
      ? "the list before the plan stays in place"
      : `step ${i} (${prev.mode}) stays in place` +
        still.map((d) => `, and it still sends ${share(d.role, prev.weightNew)}% of new calls to ${d.role}`).join("");
  return new VerificationError(
    `step ${i + 1}/${steps.length} (${steps[i]!.mode}) was not applied: ${down.map(destinationName).join(" and ")} ${down.length === 1 ? "does" : "do"} not answer; ${inPlace}`,
    [
      ...lines,
      ...(still.length > 0
        ? [
            `to send no calls to ${still.map((d) => d.role).join(" and ")}: pbx-cutover apply --mode ${still[0]!.role === "new" ? "old" : "new"}`,
          ]
        : []),
    ],
  );
}

function newPhase(mode: string, profileFile: string, step: PhaseResult["step"]): PhaseResult {
  return {
    mode,
    ...(step === undefined ? {} : { step }),
    profileFile,
    appliedFile: undefined,
    verdict: "fail",
    reason: undefined,
    changed: undefined,
    reload: undefined,
    runtimeBefore: undefined,
    runtime: undefined,
    restoredRuntime: undefined,
    timings: undefined,
  };
}

const emptyRollback: RollbackResult = {
  from: 0,
  to: 0,
  toLabel: "",
  ok: false,
  durationMs: 0,
  reason: "",
  appliedFile: undefined,
  runtime: undefined,
};

async function waitForRpc(target: Target, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let wait = 10;
  for (;;) {
    try {
      await target.rpc.call("core.version");
      return;
    } catch (err) {
      if (performance.now() > deadline) {
        throw new EnvironmentError(
          `Kamailio's RPC did not answer within ${timeoutMs} ms: ${(err as Error).message}; nothing was changed`,
        );
      }
    }
    await delay(wait, signal);
    wait = Math.min(wait * 2, 200);
  }
}

/**
 * SIP OPTIONS to a backend: straight to the host:port of its destination URI when that is loopback
 * (the lab never sends SIP elsewhere); otherwise (e.g. a Docker network) Kamailio sends it
 * (`tm.t_uac_wait_block`), which also proves the proxy reaches the backend.
 */
export async function probeBackend(target: Target, role: BackendRole): Promise<BackendProbe> {
  const b: BackendEndpoint = target.backends[role];
  const u = parseSipUri(b.uri);
  const address = u.ok ? u.uri.host : b.address;
  const port = u.ok ? (u.uri.port ?? 5060) : b.port;
  let probe: OptionsResult;
  if (isLoopbackV4(address)) {
    probe = await probeOptions({ address, port }, 1000);
  } else if (u.ok && /^[\d.]+$/.test(address)) {
    const row = await viaKamailioRow(role, target.rpc, b.uri, 2000);
    const code = Number(/^\d+/.exec(row.status ?? "")?.[0]);
    probe = {
      reachable: row.reachable === true,
      status: Number.isFinite(code) ? code : undefined,
      reason: row.status?.replace(/^\d+\s*/, ""),
      rttMs: row.rttMs,
      server: undefined,
      error: row.error,
    };
  } else {
    probe = {
      reachable: false,
      status: undefined,
      reason: undefined,
      rttMs: undefined,
      server: undefined,
      error: `not probed: ${address} is not a loopback address (the lab only sends SIP to 127.0.0.0/8)`,
    };
  }
  return { role: b.role, uri: b.uri, address, port, probe };
}

/** The file and runtime hold what the last step's weight says: old unless it was 100, new unless it was 0. */
async function finalCheck(target: Target, lastWeight: number): Promise<FinalCheck> {
  const { old: oldB, new: newB } = target.backends;
  const text = await target.dispatcherList.read();
  const fileUris = entriesOf(parseDispatcherList(text, target.dispatcherList.location))
    .filter((e) => e.setId === target.setId)
    .map((e) => e.uri);
  const runtime: RuntimeDestination[] = await readRuntime(target.rpc);
  const rtUris = runtime.filter((d) => d.setId === target.setId).map((d) => d.uri);
  const file = { oldPresent: fileUris.includes(oldB.uri), newPresent: fileUris.includes(newB.uri) };
  const rt = { oldPresent: rtUris.includes(oldB.uri), newPresent: rtUris.includes(newB.uri), destinations: runtime };
  const wantOld = lastWeight < 100;
  const wantNew = lastWeight > 0;
  const problems = [
    ...(file.newPresent === wantNew ? [] : [wantNew ? "new is absent from the file" : "new is in the file"]),
    ...(file.oldPresent === wantOld ? [] : [wantOld ? "old is absent from the file" : "old is still in the file"]),
    ...(rt.newPresent === wantNew ? [] : [wantNew ? "new is absent at runtime" : "new is active at runtime"]),
    ...(rt.oldPresent === wantOld ? [] : [wantOld ? "old is absent at runtime" : "old is still active at runtime"]),
  ];
  return {
    verdict: problems.length === 0 ? "pass" : "fail",
    file,
    runtime: rt,
    reason: problems.length ? problems.join("; ") : undefined,
  };
}

function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === null ? err.message : "") });
    });
  });
}
