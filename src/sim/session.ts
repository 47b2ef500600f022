/**
 * One whole `sim` run as the commands use it (sim, and the dashboard on top of the same stream):
 * validate knobs and flags (exit 2 before anything starts), create the run folder, own the lab
 * (start it if needed, stop what was started unless --keep-lab), verified applies, the simulation,
 * the summary lines. The run has one Target, built here from the flags: the simulation's applies,
 * calls and evidence and every subscriber's observations use that same object. Extra subscribers
 * (the dashboard's view, its CSV writer) attach through `onRun` before the run starts; each gets a
 * last look at Kamailio (`settle`) after the run's last call ended and before the lab goes away.
 */
import path from "node:path";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { assetPath } from "../core/assets.js";
import { withScope } from "../core/scope.js";
import { EnvironmentError, FileFaultError } from "../core/errors.js";
import { formatRuntime } from "../dispatcher/runtime.js";
import { readRuntime } from "../kamailio/dispatcher-rpc.js";
import type { RunEvents } from "../events/run-events.js";
import { requireBinaries } from "../lab/binaries.js";
import type { EnsureUpResult } from "../drivers/lab-control.js";
import type { Driver, TargetChoice } from "../drivers/driver.js";
import { driverFor } from "../drivers/select.js";
import type { Target } from "../target/target.js";
import { RunSession, startLiveServer } from "../run/session.js";
import type { WebAddress } from "../web/web-address.js";
import type { HepForwardTarget } from "../hep/forward-target.js";
import { pcapKeptText } from "../hep/pcap.js";
import { DEFAULT_CAPTURE_MAX_MB } from "../hep/capture.js";
import type { SimKnobs } from "./knobs.js";
import { failureLine, type SimResults } from "./report.js";
import { attachRunFiles } from "./run-files.js";
import { runSimulation, type SimOutcome } from "./run-sim.js";
import { injectFault, thawFrozenBackends, type TestFault } from "./test-faults.js";
import type { SimPlan } from "./sim-plan.js";
import type { EvidencePlan } from "./evidence-mode.js";
import { SimHep } from "./sim-hep.js";
import { watchPbxChannels } from "../evidence/pbx-watch.js";

/** One sim run's input, resolved from the flags once by the command (src/cli/sim-options.ts). */
export interface SimRequest {
  knobs: SimKnobs;
  faults: TestFault[];
  webAddress?: WebAddress;
  /** the target: driver, lab settings (a running lab's adopted), docker's flags */
  choice: TargetChoice;
  /** a native lab of real FreeSWITCH: no message logs, HEP plus the event sockets are the evidence */
  realPbx: boolean;
  evidence: EvidencePlan;
  /** calls carry audio and media-both-ways judges each phase */
  media: boolean;
  forward?: HepForwardTarget;
  /** capture.pcap and its segments together at most this many MB (--capture-max-mb; 0: no cap) */
  captureMaxMb?: number;
  artifactsDir: string;
  keepLab: boolean;
  quiet: boolean;
  /** the plan sim's routing phases run as (sim-plan.ts; the seed's old -> both -> new) */
  plan: SimPlan;
}

/** What a subscriber of one run gets: its folder, its event stream and its one Target. */
export interface RunContext {
  runDir: string;
  events: RunEvents;
  /** the Target the simulation runs on (same RPC, same backends and URIs) */
  target: Target;
}

export interface RunSubscriber {
  /** the run's last call has ended (run-finished was emitted) and the lab is still up */
  settle?(signal: AbortSignal): Promise<void>;
  /** detach; called by the run's scope at the end, whatever happened */
  close(): void;
}

export interface SessionHooks {
  /** where log lines go besides simulation.stdout.log (default: stdout; --quiet: only the result) */
  echo?: (line: string) => void;
  /** called once the run folder exists, before anything runs: attach subscribers here */
  onRun?: (run: RunContext) => RunSubscriber | undefined;
}

/** Run the whole simulation for a resolved request; resolves to the exit code (0 or 1), throws CutoverErrors. */
export async function runSimSession(
  req: SimRequest,
  hooks: SessionHooks = {},
): Promise<{ exitCode: number; outcome: SimOutcome }> {
  const { knobs, faults, webAddress, choice, realPbx, artifactsDir, plan } = req;
  const settings = choice.settings;
  const driver = driverFor(choice);
  const lab = driver.lab();
  const { sipp } = requireBinaries(["sipp"]);
  const dumpcap = req.media ? requireBinaries(["dumpcap"]).dumpcap : undefined;
  const defaultEcho = (line: string): void => void process.stdout.write(line + "\n");
  const echo = hooks.echo ?? defaultEcho;
  const echoAll = !req.quiet;
  return withScope(async (scope) => {
    // --web: listening before anything else starts (a port in use is exit 3 with nothing started)
    const web = await startLiveServer(scope, webAddress);
    // the run's one Target (docker: exit 3 here when Docker does not answer, before any folder exists)
    const target = await driver.openTarget();
    scope.defer("target", () => target.close());
    // a run-folder file that cannot be written ends the run with exit 3 naming it and where calls go now
    let labEnd = "the run ended before it touched the lab (nothing applied)";
    return sayRoutingOnFileFault(
      target,
      () => labEnd,
      async () => {
        const session = RunSession.open(scope, {
          command: "pbx-cutover sim",
          artifactsDir,
          folderPrefix: "call-cutover",
          target,
          web,
        });
        const { runDir, events } = session;
        let resultPhase = false;
        scope.defer(
          "run files",
          attachRunFiles(events, runDir, (l) => (echoAll || resultPhase ? echo(l) : undefined)),
        );
        const subscriber = hooks.onRun?.({ runDir, events, target });
        if (subscriber) scope.defer("run subscribers", () => subscriber.close());
        const log = (line: string): void => events.emit({ kind: "log", at: Date.now(), line });
        if (web) log(`web: live view at ${web.url} (read-only)`);
        events.emit({ kind: "phase", at: Date.now(), phase: "stack-start" });
        // before the run starts, a failure says so in status.txt too (after it, run-finished does)
        const beforeRun = async <T>(step: () => T | Promise<T>): Promise<T> => {
          try {
            return await step();
          } catch (err) {
            writeFileAtomic(path.join(runDir, "status.txt"), "failed\n", { mode: FileMode.public });
            throw err;
          }
        };
        const hep = new SimHep(session, settings.hep, req.evidence, req.forward, req.captureMaxMb);
        // HEP: the collector binds before the lab starts (a taken port is known before anything runs);
        // a target whose Kamailio mirrors to a fixed address (the Docker lab: its bridge's gateway, which
        // exists once the lab network does) gets its collector right after the lab is up
        if (target.hepCollector === undefined) await beforeRun(() => hep.start());
        const own = await beforeRun(() => session.ownLab(lab, req.keepLab));
        log(labLine(own.up, driver, req.keepLab));
        // after the lab's cleanup is registered: a collector that cannot bind still stops a lab this run started
        if (target.hepCollector !== undefined) await beforeRun(() => hep.start());
        labEnd =
          own.up.startedFromNothing && !req.keepLab
            ? "the lab this run started is stopped now"
            : "the lab is left running";
        // a lab that was already running may have had its mirroring switched off at runtime
        await hep.checkMirroring();
        const evidence = hep.inUse();
        log(hep.describe(realPbx));
        // a lab of real FreeSWITCH: each one's own account of the calls, from its event socket
        const pbx = realPbx ? await watchPbxChannels(settings, runDir, scope, log) : undefined;
        // one apply at a time on the target: the run holds the lock for all its applies (the plan's and the in-flight check's)
        const lock = await beforeRun(() => session.lockApplies());
        // test faults: a frozen backend is resumed before anything else is stopped
        if (faults.length > 0) scope.defer("frozen backends", thawFrozenBackends);
        let outcome: SimOutcome;
        try {
          outcome = await runSimulation({
            target,
            knobs,
            runDir,
            events,
            signal: scope.signal,
            plan,
            lock,
            sippBin: sipp,
            scenario: assetPath("sipp", "uac-call.xml"),
            faults,
            evidence,
            logCopyMaxBytes: logCopyMaxBytes(req.captureMaxMb),
            ...(dumpcap !== undefined
              ? {
                  media: {
                    dumpcapBin: dumpcap,
                    // each burst's media pcap like a stand-in's phase copy: an eighth of the cap
                    maxBytes: logCopyMaxBytes(req.captureMaxMb),
                    ...(driver.mediaRelay ? { relay: driver.mediaRelay } : {}),
                  },
                }
              : {}),
            ...(hep.capture && evidence.mode !== "sipp" ? { hep: { capture: hep.capture, feed: hep.feed } } : {}),
            ...(pbx ? { pbx } : {}),
            injectFault: (f) => injectFault(f, target, settings.labDir, hep.feed),
            finished: (end) => session.finish(end),
          });
        } finally {
          // every call of the run has ended; the lab is still up: subscribers take their last look
          if (!scope.signal.aborted) await subscriber?.settle?.(scope.signal);
        }
        resultPhase = true;
        for (const line of resultLines(outcome.results, plan, path.relative(process.cwd(), runDir) || runDir))
          log(line);
        return { exitCode: outcome.exitCode, outcome };
      },
    );
  });
}

/**
 * Run `run`; a run-folder file it could not write (full, read-only, failing disk) ends it with exit 3
 * naming the file, followed by the dispatcher's runtime read back now, so the operator knows where
 * calls go, and whether the lab stays up.
 */
async function sayRoutingOnFileFault<T>(target: Target, labEnd: () => string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof FileFaultError)) throw err;
    const runtime = await readRuntime(target.rpc).then(formatRuntime, (e: unknown) => `not read back (${String(e)})`);
    throw new EnvironmentError(
      `${err.message}; the run's evidence is incomplete. Routing: the dispatcher's runtime at the run's end: ${runtime}; ${labEnd()}`,
      err.details,
    );
  }
}

/** How the run found the lab, and what happens to it at the end. */
/** each phase's copy of a stand-in's log: an eighth of the capture's cap (64 MB by default), none without a cap */
export function logCopyMaxBytes(captureMaxMb = DEFAULT_CAPTURE_MAX_MB): number {
  return captureMaxMb > 0 ? Math.floor((captureMaxMb * 1024 * 1024) / 8) : 0;
}

function labLine(up: EnsureUpResult, driver: Pick<Driver, "name" | "where">, keepLab: boolean): string {
  if (up.alreadyRunning)
    return `lab: already running (${driver.name} driver, ${driver.where}); left running at the end`;
  // a lab found partly running was someone's before this run: it stays up after it
  if (!up.startedFromNothing)
    return `lab: the previous lab had dead components (${(up.replacedDead ?? []).join(", ")}); restarted in ${Math.round(up.readyMs)} ms (${driver.where}); left running at the end (it was running before)`;
  return `lab: started in ${Math.round(up.readyMs)} ms (${driver.where}); ${keepLab ? "left running (--keep-lab)" : "stopped at the end"}`;
}

/** The run's last lines: time against the knobs' floor, where the evidence is, and the verdict (failures last). */
function resultLines(r: SimResults, plan: SimPlan, folder: string): string[] {
  const seconds = (ms: number): string => (ms / 1000).toFixed(1);
  const lines = [
    "== result",
    `wall time ${seconds(r.durationMs)} s, floor ${seconds(r.floorMs)} s (the call time the knobs impose), overhead ${seconds(r.durationMs - r.floorMs)} s`,
    `evidence: ${folder} (results.json, junit.xml, <phase>.assertions.txt, message logs${r.media?.pcap ? `, the caller's RTP in ${r.media.pcap}` : ""})`,
  ];
  const kept = r.evidence.hep?.pcap.kept;
  if (kept !== undefined && kept.dropped.files > 0) lines.push(`capture: ${pcapKeptText(kept)}`);
  const notPassed = r.verdicts.filter((a) => a.verdict !== "pass");
  if (notPassed.length === 0) {
    const phases = [...plan.steps.map((s) => s.phase), "in-flight cutover"].join(", ");
    return [...lines, `PASS: all ${r.verdicts.length} assertions passed (${phases})`];
  }
  // the failing assertions and their numbers are the last lines printed
  return [
    ...lines,
    `FAIL: ${notPassed.length} of ${r.verdicts.length} assertions did not pass:`,
    ...notPassed.flatMap((a) => [failureLine(a), ...a.offenders.map((off) => `    ${off}`)]),
  ];
}
