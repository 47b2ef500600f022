/**
 * `pbx-cutover migrate`: the seed's migration smoke (run_real_migration_smoke.sh), verified.
 * Ensure the lab is up, wait for the RPC, probe both backends with SIP OPTIONS, then apply the
 * profiles old -> both -> new with verifiedApply (one lock held across all three), check the final
 * state is new only in the file and at runtime, and capture Kamailio's own listing with kamcmd.
 * Every run writes its evidence, pass or fail, into a run-YYYYmmdd_HHMMSS folder.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { EnvironmentError, UsageError, VerificationError } from "../core/errors.js";
import { delay, type Scope } from "../core/scope.js";
import { isLoopbackV4 } from "../sip/sip-policy.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { viaKamailioRow } from "../verify/probes.js";
import {
  migrateFiles,
  renderSummary,
  type BackendProbe,
  type FinalCheck,
  type MigrateResults,
  MIGRATE_RESULTS_SCHEMA,
  type StepResult,
  type RollbackResult,
} from "./migrate-report.js";
import { parseDispatcherList, entriesOf } from "../dispatcher/list.js";
import { PROFILE_MODES, renderProfile } from "../dispatcher/profile.js";
import { parseSipUri } from "../sip/sip-uri.js";
import { ApplyRolledBackError, profileFor, type ApplyOutcome } from "../apply/apply.js";
import type { RunEvents } from "../events/run-events.js";
import type { WebServer } from "../web/server.js";
import { RunSession } from "../run/session.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import { gateName, stepMinCalls, type GateSpec } from "../gates/gate.js";
import { checkPlanForAlgorithm, dryRunTargetOf, stepProfile } from "../plan/dry-run.js";
import { refuseAudioGates, stepLabel, withMediaStepGates, type Plan } from "../plan/plan.js";
import { watchedHold } from "../plan/hold.js";
import { outcomeError, runSteps, type GateResult, type PlanOutcome, type RunnerStep } from "../plan/runner.js";
import { openControlServer } from "../control/control-socket.js";
import { RunControl } from "../control/run-control.js";
import { initialStatus, reduceStatus, statusView, type RunStatusState } from "../control/run-status.js";
import { waitForDrain } from "../observe/drain.js";
import { readRuntime } from "../kamailio/dispatcher-rpc.js";
import {
  FleetRestartWatch,
  identityText,
  restartFinding,
  restartText,
  RestartWatch,
  type RestartWatching,
} from "../observe/restart-watch.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import type { LabControl } from "../drivers/lab-control.js";
import type { BackendEndpoint, Target } from "../target/target.js";
import { probeOptions, type OptionsResult } from "../sip/options-probe.js";
import { startTrafficRun, type TrafficRun, type TrafficSettings } from "./traffic-run.js";
import type { BackendRole } from "../core/backend-role.js";
import { checkDestinations, destinationName, type DestinationCheck } from "./destination-check.js";
import type { FleetMember } from "../fleet/fleet-apply.js";
import { FleetRouting } from "../fleet/fleet-routing.js";
import { routingLines } from "../fleet/fleet-report.js";
import { acquireApplyLock } from "../apply/apply-lock.js";

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
  /**
   * look for a restart of the target's Kamailio this often, from before the first step to the end of
   * the drain (a Kamailio the tool did not start); undefined: not watched
   */
  restartWatchMs?: number | undefined;
  /** how a backend is probed (default: SIP OPTIONS, see probeBackend); tests pass their own */
  probe?: (target: Target, role: BackendRole) => Promise<BackendProbe>;
  /**
   * a target file naming several nodes: every node (the first is the run's `target`); each step is
   * applied all or nothing over them, the gates judge the fleet's calls and each node's
   */
  fleet?: readonly FleetMember[] | undefined;
}

const VERSION = "0.1.0";

const COMMAND = "pbx-cutover migrate";

export async function runMigrate(
  lab: LabControl,
  target: Target,
  o: MigrateOptions,
  scope: Scope,
): Promise<MigrateResults> {
  // validation first (exit 2 before anything starts or is written)
  const planned =
    o.plan === undefined
      ? defaultSteps(target, o.traffic !== undefined)
      : planSteps(target, o.plan.plan, o.plan.algorithm, o.traffic !== undefined);
  const steps = withMediaGates(planned, o.traffic?.calls?.media !== undefined, o.plan?.plan.source);
  const session = RunSession.open(scope, {
    command: COMMAND,
    artifactsDir: o.artifactsDir,
    folderPrefix: "run",
    target,
    web: o.web,
    // a run-folder file that cannot be written (full, read-only, failing disk) is recorded, not thrown:
    // routing goes on as it would; the run then ends with exit 3 naming it and saying what routing did
    recordFileFaults: true,
  });
  return new Migration(session, lab, steps, o).run();
}

/** The plan's steps as results.json and the status view list them. */
function stepSummaries(steps: readonly MigrateStep[]): PlanStepSummary[] {
  return steps.map((s) => ({
    label: s.runner.label,
    weightNew: s.runner.weightNew,
    holdS: s.runner.machine.holdMs / 1000,
    gates: s.gates,
  }));
}

type PlanStepSummary = NonNullable<MigrateResults["plan"]>["steps"][number];

/** results.json as it starts: nothing done yet, failed with exit 70 until the run says otherwise. */
function initialResults(
  target: Target,
  runDir: string,
  steps: readonly MigrateStep[],
  o: MigrateOptions,
): MigrateResults {
  return {
    tool: COMMAND,
    schemaVersion: MIGRATE_RESULTS_SCHEMA,
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
    steps: [],
    final: undefined,
    kamcmd: undefined,
    warnings: [],
    ...(o.plan === undefined
      ? {}
      : { plan: { source: o.plan.plan.source, algorithm: o.plan.algorithm, steps: stepSummaries(steps) } }),
    ...(o.fleet ? { fleet: { nodes: o.fleet.map((m) => m.name) } } : {}),
  };
}

/**
 * One migrate run in its session: the lab, the RPC, the backends' probes, the plan's steps on the
 * runner (one lock across all of them; --traffic: live calls judged from HEP), the final state,
 * Kamailio's own listing, the drain. Every part records into `results`, written whatever ended it.
 */
class Migration {
  private readonly results: MigrateResults;
  private readonly runDir: string;
  private readonly events: RunEvents;
  private readonly target: Target;
  private readonly t0 = performance.now();
  private status: RunStatusState;
  private readonly control: RunControl;
  private live: TrafficRun | undefined;
  private restarts: RestartWatching | undefined;
  private fleetRouting: FleetRouting | undefined;

  constructor(
    private readonly session: RunSession,
    private readonly lab: LabControl,
    private readonly steps: readonly MigrateStep[],
    private readonly o: MigrateOptions,
  ) {
    this.runDir = session.runDir;
    this.events = session.events;
    this.target = session.target;
    this.results = initialResults(this.target, this.runDir, steps, o);
    this.control = new RunControl(this.events);
    this.status = initialStatus({
      runDir: this.runDir,
      pid: process.pid,
      command: COMMAND,
      startedAt: Date.now(),
      source: o.plan?.plan.source ?? "default (old -> both -> new)",
      steps: stepSummaries(steps),
    });
  }

  async run(): Promise<MigrateResults> {
    const { o, results } = this;
    o.log(`run folder ${this.runDir}`);
    this.events.subscribe((e) => {
      this.status = reduceStatus(this.status, e);
      if (e.kind === "control" && e.accepted)
        (results.control ??= []).push({
          at: new Date(e.at).toISOString(),
          command: e.command,
          detail: e.detail,
          ...(e.by ? { by: e.by } : {}),
        });
    });
    this.events.emit({ kind: "run-started", at: Date.now(), runDir: this.runDir, knobs: { steps: this.steps.length } });
    let failure: unknown;
    try {
      await this.ensureLab();
      // the RPC answers (every node's)
      await Promise.all(
        (this.o.fleet?.map((m) => m.target) ?? [this.target]).map((t) =>
          waitForRpc(t, this.lab.readyTimeoutMs, this.session.signal),
        ),
      );
      await this.probeBackends();
      await this.runPlan();
      await this.checkFinalState();
      const finalWeight = this.steps.at(-1)!.runner.weightNew;
      if (finalWeight === 100) await this.drain();
      await this.noRestartSincePlan();
      results.status = "pass";
      results.exitCode = 0;
    } catch (err) {
      failure = err;
      results.error = err instanceof Error ? err.message : String(err);
      results.exitCode =
        typeof (err as { exitCode?: unknown }).exitCode === "number" ? (err as { exitCode: number }).exitCode : 70;
    }
    const fault = this.end(failure);
    if (fault !== undefined) throw fault;
    // rethrown as it was caught (a CutoverError with its exit code, or a bug: 70)
    if (failure !== undefined) throw failure as Error;
    return results;
  }

  /**
   * The run's record, whatever ended it: results.json, summary.md, run-finished, events.ndjson closed,
   * report.html. A file that could not be written ends the run with exit 3 naming it (the error
   * returned), saying what routing did.
   */
  private end(failure: unknown): Error | undefined {
    const { results, session, o } = this;
    const routing =
      failure === undefined
        ? `the ${o.plan === undefined ? "cutover" : "plan"} completed: ${results.steps.at(-1)?.label ?? "new"} in the file and at runtime, verified`
        : results.error!;
    const faulted = (): Error | undefined => session.faults.endError(this.runDir, routing);
    if (session.faults.first !== undefined) {
      results.status = "fail";
      results.exitCode = session.faults.first.exitCode;
      results.error = faulted()!.message;
    }
    results.finishedAt = new Date().toISOString();
    results.durationMs = performance.now() - this.t0;
    this.write(migrateFiles.results, JSON.stringify(results, null, 2) + "\n");
    this.write(migrateFiles.summary, renderSummary(results));
    // after results.json: the live page folds it in at run-finished
    session.finish({
      status: results.status === "pass" ? "success" : "failed",
      exitCode: results.exitCode,
      failures: results.error ? [results.error] : [],
    });
    session.close();
    return faulted();
  }

  /** a line of the run: to the terminal and to the stream (events.ndjson, the live page, report.html) */
  private say(line: string): void {
    this.o.log(line);
    this.events.emit({ kind: "log", at: Date.now(), line });
  }

  private write(file: string, text: string): void {
    this.session.writeFile(file, text);
  }

  /** 1. the lab: up, and stopped at the end if this run started it (unless --keep-lab) */
  private async ensureLab(): Promise<void> {
    const own = await this.session.ownLab(this.lab, this.o.keepLab);
    const up = own.up;
    this.results.lab = { startedByThisRun: own.startedByThisRun, leftRunning: own.leftRunning };
    if (up.replacedDead) {
      this.say(
        `lab: the previous lab had dead components (${up.replacedDead.join(", ")}); stopped the rest and started afresh${up.startedFromNothing ? "" : "; it was running before, so it is left running at the end"}`,
      );
    }
    this.say(up.alreadyRunning ? "lab: already running" : `lab: started (ready in ${Math.round(up.readyMs)} ms)`);
  }

  /** 3. both backends answer and are different */
  private async probeBackends(): Promise<void> {
    const { results, target } = this;
    const probe = this.probe;
    results.probes = await Promise.all([probe(target, "old"), probe(target, "new")]);
    for (const p of results.probes) this.say(probeLine(p));
    const unreachable = results.probes.filter((p) => !p.probe.reachable);
    if (unreachable.length > 0) {
      throw new EnvironmentError(
        `${unreachable.map((p) => `${p.role} backend ${p.uri}`).join(" and ")} did not answer SIP OPTIONS; nothing was changed`,
        unreachable.map((p) => `${p.role}: ${p.probe.error ?? "no final response"}`),
      );
    }
    results.warnings.push(...probeWarnings(results.probes));
  }

  /** 4. the plan's steps (default: old -> both -> new) on the one runner, one lock across all of them */
  private async runPlan(): Promise<void> {
    const { o, results, steps, session, control } = this;
    const lock = session.lockApplies();
    if (o.fleet) {
      // every node's apply lock for the whole run (the first node's is the session's)
      const locks = [lock];
      for (const m of o.fleet.slice(1)) {
        const l = acquireApplyLock(m.target.lockPath, COMMAND);
        session.scope.defer(`apply lock ${m.name}`, () => l.release());
        locks.push(l);
      }
      this.fleetRouting = new FleetRouting(o.fleet, locks, COMMAND);
      this.say(`fleet: ${o.fleet.length} nodes (${o.fleet.map((m) => m.name).join(", ")}); each step all or nothing`);
    }
    // the operator's control socket for as long as the plan runs (status, pause, resume, promote, abort)
    const server = await openControlServer({
      runDir: this.runDir,
      pointerDir: path.dirname(this.target.lockPath),
      command: COMMAND,
      control,
      status: () => statusView(this.status, Date.now()),
    });
    session.scope.defer("control socket", () => server.close());
    if (o.plan !== undefined)
      this.say(
        `control: ${server.socketPath} (pbx-cutover status | pause | resume | promote | abort --lab-dir ${path.dirname(this.target.lockPath)})`,
      );
    // --traffic: HEP capture, then the background calls, for the whole plan
    const live =
      o.traffic === undefined
        ? undefined
        : await startTrafficRun(
            o.traffic,
            this.target,
            steps,
            o.plan?.algorithm ?? 4,
            this.runDir,
            session.scope,
            this.events,
            (line) => this.say(line),
            o.fleet,
          );
    this.live = live;
    this.restarts = await this.watchRestarts();
    const outcome = await runSteps(
      steps.map((s) => s.runner),
      {
        target: this.target,
        ...(this.fleetRouting ? { routing: this.fleetRouting } : {}),
        lock,
        retry: { reloadWaitMs: o.reloadWaitMs },
        signal: session.signal,
        control,
        events: this.events,
        evaluate: (i) => this.evaluate(i),
        ...(live
          ? {
              hold: watchedHold(
                (i) => live.gates.watch(i),
                (i) => live.gates.whenFailed(i),
              ),
            }
          : {}),
        onApplied: (i, out) => this.onApplied(i, out),
        onApplyFailed: (i, err) => this.onApplyFailed(i, err),
        onRolledBack: (to, out) => this.onRolledBack(to, out),
        beforeApply: (i) => this.beforeApply(i),
        ...(this.restarts ? { restarts: this.restarts } : {}),
        log: (line) => {
          if (o.plan !== undefined) this.say(line);
        },
      },
    );
    this.recordOutcome(outcome);
    if (live) await live.finish(outcome.rollback?.reaction, results);
    // a step applied after the last good one did not pass: it was rolled back
    results.steps.forEach((p, i) => {
      if (i > outcome.lastGood && p.verdict === "pass") {
        p.verdict = "fail";
        p.reason ??= `${outcome.reason ?? "not passed"}; rolled back`;
      }
    });
    if (outcome.outcome !== "pass") throw outcomeError(outcome, session.signal);
    if (live === undefined && o.plan !== undefined && steps.some((s) => s.gates.length > 0)) {
      results.warnings.push(
        "the steps' gates were not evaluated: migrate placed no calls (no --traffic); each step was verified at runtime and held",
      );
    }
  }

  private recordOutcome(outcome: PlanOutcome): void {
    if (outcome.restart) this.results.restart = outcome.restart;
    if (!outcome.rollback) return;
    const results = this.results;
    results.rollback = { ...emptyRollback, ...results.rollback, ...outcome.rollback };
    if (results.fleet && this.fleetRouting?.lastTakeOut) results.fleet.takeOut = this.fleetRouting.lastTakeOut;
  }

  /** a fleet's step (or rollback) as it ended: its per-node table, logged and returned for results.json */
  private fleetStep(what: string): FleetRouting["last"] {
    const f = this.fleetRouting?.last;
    if (f === undefined) return undefined;
    const skew =
      f.ok && f.skew
        ? `; skew ${f.skew.skewMs.toFixed(1)} ms (${f.skew.first} first, ${f.skew.last} last; mixed at most ${f.skew.boundMs.toFixed(1)} ms)`
        : "";
    this.say(
      `${what} on the fleet${f.ok ? (f.changed ? ": every node verified" : ": already on every node") : `: failed on node ${f.cause.node} at ${f.cause.stage}`}${skew}`,
    );
    for (const l of routingLines(f.nodes)) this.say(`  ${l}`);
    return f;
  }

  /**
   * The target's Kamailio (a fleet: every node's) as it is before the first step (its main process and
   * start time), watched until the run ends. A node that does not say who it is runs unwatched, with a
   * warning naming it.
   */
  private async watchRestarts(): Promise<RestartWatching | undefined> {
    const ms = this.o.restartWatchMs;
    if (ms === undefined) return undefined;
    const rpcs = this.o.fleet?.map((m) => m.target.rpc) ?? [this.target.rpc];
    const started = await Promise.all(rpcs.map((rpc) => this.watchRestartsOf(rpc, ms)));
    const watches = started.filter((w): w is RestartWatch => w !== undefined);
    if (watches.length === 0) return undefined;
    return this.o.fleet ? new FleetRestartWatch(watches) : watches[0];
  }

  private async watchRestartsOf(rpc: RpcClient, ms: number): Promise<RestartWatch | undefined> {
    try {
      const watch = await RestartWatch.start(rpc, ms);
      this.session.scope.defer(`restart watch ${rpc.endpoint}`, () => watch.stop());
      this.say(`restart watch: ${rpc.endpoint} is ${identityText(watch.baseline)}; looked at every ${ms} ms`);
      return watch;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.results.warnings.push(
        `a restart of Kamailio at ${rpc.endpoint} during the run would not be seen: core.psx / core.uptime did not answer (${why})`,
      );
      this.say(`restart watch: off for ${rpc.endpoint} (${why})`);
      return undefined;
    }
  }

  /**
   * After the plan passed, the final check and the drain: a restart since the plan's last step means
   * the drain counted a fresh Kamailio's dialogs, and that the run cannot vouch for what it applied.
   */
  private async noRestartSincePlan(): Promise<void> {
    const watch = this.restarts;
    const restart = await watch?.check();
    if (watch === undefined || restart === undefined) return;
    const last = this.steps.length - 1;
    const runtime = await readRuntime(restart.rpc).catch((err: unknown) =>
      err instanceof Error ? err.message : String(err),
    );
    const finding = restartFinding({
      node: restart.rpc.endpoint,
      restart,
      seen: "after the plan's last step (during the final check or the drain)",
      onStep: last + 1,
      onStepLabel: this.steps[last]!.runner.label,
      list: this.steps[last]!.runner.profile.list,
      runtime,
    });
    this.results.restart = finding;
    throw new VerificationError(
      `${restartText(finding)}; the plan itself completed, but the drain's count of old's calls began again at the restart`,
      ["pbx-cutover target check --target FILE shows the node's runtime against its durable list now"],
    );
  }

  /** how a backend is probed (the destination checks too) */
  private get probe(): NonNullable<MigrateOptions["probe"]> {
    return this.o.probe ?? probeBackend;
  }

  /** step i's verdict: its gates; after the last step, first whether the destinations it moved calls to answer */
  private async evaluate(i: number): Promise<GateResult> {
    const { steps, live } = this;
    if (i !== steps.length - 1) return this.evaluateGates(i);
    // the end of the cutover: the destinations the last step moved calls to answer, before its gates
    const answers = await checkDestinations(this.target, steps[i]!.weightNew, this.probe);
    if (!answers.ok)
      return { verdict: "fail", detail: `after the last step, ${answers.lines.join("; ")}`, gates: [answers.row] };
    if (live === undefined && steps[i]!.gates.length === 0)
      return { verdict: "pass", detail: answers.lines.join("; "), gates: [answers.row] };
    const judged = await this.evaluateGates(i);
    return { ...judged, gates: [answers.row, ...(judged.gates ?? [])] };
  }

  /** a step's gates on its window (--traffic), or why there is nothing to judge them on */
  private async evaluateGates(i: number): Promise<GateResult> {
    const live = this.live;
    if (live === undefined) {
      // no calls: a step's gates have no evidence to decide on
      return {
        verdict: "none",
        detail: `${this.steps[i]!.gates.join(", ")}: migrate places no calls without --traffic, so there is no evidence to judge them on`,
      };
    }
    // the last mirrored messages of the window are in before it is judged: a packet Kamailio
    // captured 20 ms after now was read (its workers mirror in about that order), or all is quiet
    await live.capture.settleUntil(Date.now() + EVALUATE_SETTLE_MS, 50, 1000);
    // and the audio of the calls answered so far is counted (each call's comes after its BYE)
    await live.settleMedia(i);
    return live.gates.evaluate(i);
  }

  /** the step's record exists (with its profile file) before its apply starts; a step is applied only when the destinations it sends calls to answer */
  private async beforeApply(i: number): Promise<void> {
    const s = this.steps[i]!;
    this.results.steps.push(newStep(s, i));
    this.write(s.profileFile, renderProfile(s.runner.profile));
    const answers = await checkDestinations(this.target, s.weightNew, this.probe);
    if (!answers.ok) {
      this.results.steps[i]!.reason = `not applied: ${answers.lines.join("; ")}`;
      throw destinationsDownError(this.steps, i, answers.down, answers.lines);
    }
  }

  private onApplied(i: number, out: ApplyOutcome): void {
    this.live?.open(i);
    const step = this.results.steps[i]!;
    Object.assign(step, {
      verdict: "pass",
      changed: out.changed,
      reload: out.reload,
      runtimeBefore: out.runtimeBefore,
      runtime: out.runtime,
      timings: out.timings,
    });
    step.appliedFile = this.steps[i]!.appliedFile;
    this.write(step.appliedFile, out.appliedText);
    if (this.fleetRouting) step.fleet = this.fleetStep(`step ${i + 1} ${step.label}`);
    if (this.o.plan === undefined)
      this.say(
        `apply ${step.label}: verified in ${out.timings.totalMs.toFixed(1)} ms; runtime ${out.runtime.map((d) => d.uri).join(", ")}`,
      );
  }

  private onApplyFailed(i: number, err: unknown): void {
    const step = this.results.steps[i]!;
    if (this.fleetRouting) step.fleet = this.fleetStep(`step ${i + 1} ${step.label}`);
    if (err instanceof ApplyRolledBackError) {
      const f = err.failure;
      Object.assign(step, {
        reason: `${f.stage}: ${f.reason}`,
        reload: f.reload,
        runtime: f.runtime,
        restoredRuntime: f.restore.runtime,
        timings: f.timings,
      });
    } else {
      step.reason = err instanceof Error ? err.message : String(err);
    }
  }

  private onRolledBack(to: number, out: ApplyOutcome): void {
    if (this.results.fleet) this.results.fleet.rollback = this.fleetStep(`rollback to ${out.label}`);
    if (this.o.plan === undefined) return;
    const file = migrateFiles.rollbackApplied(to < 0 ? undefined : to + 1);
    this.write(file, out.appliedText);
    const results = this.results;
    results.rollback = { ...(results.rollback ?? emptyRollback), appliedFile: file, runtime: out.runtime };
  }

  /** 5. final state (new only, in the file and at runtime), and 6. Kamailio's own listing, as the seed captured it */
  private async checkFinalState(): Promise<void> {
    const { results, target, steps } = this;
    const finalWeight = steps.at(-1)!.runner.weightNew;
    results.final = await finalCheck(target, finalWeight);
    if (this.o.fleet && results.fleet) {
      const byNode = await Promise.all(
        this.o.fleet.map(async (m) => [m.name, await finalCheck(m.target, finalWeight)] as const),
      );
      results.fleet.final = Object.fromEntries(byNode);
      const bad = byNode.filter(([, f]) => f.verdict !== "pass");
      if (bad.length > 0)
        results.final = {
          ...results.final,
          verdict: "fail",
          reason: bad.map(([name, f]) => `node ${name}: ${f.reason}`).join("; "),
        };
    }
    const present = (b: boolean): string => (b ? "present" : "absent");
    this.say(
      `final: file new ${present(results.final.file.newPresent)}, old ${present(results.final.file.oldPresent)}; ` +
        `runtime new ${present(results.final.runtime.newPresent)}, old ${present(results.final.runtime.oldPresent)}`,
    );
    // 6. Kamailio's own listing, as the seed captured it (a target without kamcmd here: the RPC's reply)
    const argv = target.kamcmdArgv?.("dispatcher.list");
    const k =
      argv === undefined
        ? await target.rpc.call("dispatcher.list").then(
            (r) => ({ code: 0, stdout: JSON.stringify(r, null, 2) + "\n", stderr: "" }),
            (err: unknown) => ({ code: 1, stdout: "", stderr: err instanceof Error ? err.message : String(err) }),
          )
        : await run(argv);
    this.write(migrateFiles.kamcmd, k.stdout + (k.code === 0 ? "" : k.stderr));
    results.kamcmd = {
      argv: argv ?? [target.rpc.endpoint, "dispatcher.list"],
      exitCode: k.code,
      file: migrateFiles.kamcmd,
    };
    if (k.code !== 0 || /^error:/m.test(k.stdout + k.stderr)) {
      results.warnings.push(
        `kamcmd dispatcher.list did not print the listing (exit ${k.code}): ${(k.stderr || k.stdout).trim().split("\n")[0]}`,
      );
    }
    if (results.final.verdict !== "pass") {
      throw new VerificationError(
        `final state is not ${finalWeight === 100 ? "new only" : `the last step's (${steps.at(-1)!.runner.label})`}: ${results.final.reason}`,
      );
    }
  }

  /** 7. drain: new calls all go to new now; the old backend's calls end as their callers hang up */
  private async drain(): Promise<void> {
    const { control, target, o, session, results } = this;
    control.setStage("draining");
    const timeoutMs = o.drainTimeoutMs ?? 0;
    const d = await waitForDrain({
      rpc: target.rpc,
      backend: "old",
      backendUri: target.backends.old.uri,
      timeoutMs,
      signal: AbortSignal.any([session.signal, control.abortSignal]),
      events: this.events,
      log: (line) => this.say(line),
      profile: target.dialogProfile,
      // a fleet: old's calls summed over every node
      nodes: this.o.fleet?.map((m) => ({ name: m.name, rpc: m.target.rpc })),
      // a real FreeSWITCH as old: its own channels must end too (asked once, however many nodes front it)
      pbx: target.pbx?.old,
    });
    results.drain = d;
    control.setStage("ending");
    if (d.state === "aborted" && session.signal.aborted) throw session.signal.reason as Error;
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
    if (d.pbx?.channels === null)
      results.warnings.push(`drain: ${d.pbx.label}'s channel count unknown: ${d.pbx.error ?? "no answer"}`);
  }
}

/** A backend's probe as one log line: status, round trip, who answered. */
function probeLine(p: BackendProbe): string {
  const r = p.probe;
  const rtt = r.rttMs !== undefined ? ` in ${r.rttMs.toFixed(1)} ms` : "";
  const who =
    r.server !== undefined
      ? `${r.serverHeader ?? "Server"}: ${r.server}`
      : (r.error ?? "no Server or User-Agent header");
  return `probe ${p.role} ${p.uri}: ${r.status ?? "no answer"}${rtt} (${who})`;
}

/** What the probes of two reachable backends warn about: the same Server header, an answer other than 200. */
function probeWarnings(probes: readonly BackendProbe[]): string[] {
  const [po, pn] = probes;
  const warnings: string[] = [];
  if (po!.probe.server !== undefined && po!.probe.server === pn!.probe.server) {
    warnings.push(
      `old and new answer OPTIONS with the same ${po!.probe.serverHeader ?? "Server"} header (${po!.probe.server}); make sure they are really different PBXs`,
    );
  }
  for (const p of probes) {
    if (p.probe.status !== 200)
      warnings.push(`${p.role} backend answered OPTIONS with ${p.probe.status} ${p.probe.reason ?? ""}`.trim());
  }
  return warnings;
}

/** A step as migrate runs it: the runner's step (label: old, both, new or new=10%), its files and gates. */
interface MigrateStep {
  profileFile: string;
  appliedFile: string;
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
    profileFile: migrateFiles.profile(m),
    appliedFile: migrateFiles.applied(m),
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
 * Calls that carry audio: every step also gets the media gates (MEDIA_STEP_GATES) on a metric it does
 * not gate already. Calls without audio: a plan gating on audio is refused (exit 2, nothing started).
 */
function withMediaGates(steps: MigrateStep[], media: boolean, source: string | undefined): MigrateStep[] {
  if (!media) {
    refuseAudioGates(
      steps.map((s) => ({ gates: s.gateSpecs })),
      source,
      "give the lab background calls with audio (--traffic RATE, --media on, the default on the native lab)",
    );
    return steps;
  }
  return steps.map((s) => {
    const gateSpecs = withMediaStepGates(s.gateSpecs);
    if (gateSpecs.length === s.gateSpecs.length) return s;
    return {
      ...s,
      gateSpecs,
      gates: gateSpecs.map(gateName),
      runner: { ...s.runner, machine: { ...s.runner.machine, hasGates: true } },
    };
  });
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
  const dry = dryRunTargetOf(target, algorithm);
  return plan.steps.map((s, i) => ({
    profileFile: migrateFiles.stepProfile(i + 1, s.weightNew),
    appliedFile: migrateFiles.stepApplied(i + 1, s.weightNew),
    gates: s.gates.map(gateName),
    runner: {
      label: stepLabel(s, algorithm === 4),
      weightNew: s.weightNew,
      profile: profileFor(target, stepProfile(s, dry)),
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
      : `step ${i} (${prev.runner.label}) stays in place` +
        still.map((d) => `, and it still sends ${share(d.role, prev.weightNew)}% of new calls to ${d.role}`).join("");
  return new VerificationError(
    `step ${i + 1}/${steps.length} (${steps[i]!.runner.label}) was not applied: ${down.map(destinationName).join(" and ")} ${down.length === 1 ? "does" : "do"} not answer; ${inPlace}`,
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

/** results.json's record of step i (0-based) as its apply starts: failed until it is applied. */
function newStep(s: MigrateStep, i: number): StepResult {
  return {
    index: i + 1,
    label: s.runner.label,
    weightNew: s.runner.weightNew,
    holdS: s.runner.machine.holdMs / 1000,
    profileFile: s.profileFile,
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
      // a refusal no retry changes (credentials, a TLS certificate, an SSH host key): at once
      if (err instanceof EnvironmentError) throw err;
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

/** a backend on a loaded machine (a SIPp stand-in starved for over a second at load 17) still answers in this */
const BACKEND_OPTIONS_TIMEOUT_MS = 3000;

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
    probe = await probeOptions({ address, port }, BACKEND_OPTIONS_TIMEOUT_MS);
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
