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
import { createRunDir } from "../artifacts/run-dir.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { assetPath } from "../core/assets.js";
import { EnvironmentError } from "../core/errors.js";
import { withScope } from "../core/scope.js";
import { RunEvents } from "../events/run-events.js";
import { acquireApplyLock } from "../apply/apply-lock.js";
import { requireBinaries } from "../lab/binaries.js";
import type { TargetChoice } from "../drivers/driver.js";
import { driverFor } from "../drivers/select.js";
import { attachEventLog, EVENT_LOG_FILE } from "../events/event-log.js";
import { callPathOf, type Target } from "../target/target.js";
import type { SimKnobs } from "./knobs.js";
import { failureLine } from "./report.js";
import { attachRunFiles } from "./run-files.js";
import { LiveView } from "../web/live-view.js";
import { writeRunReport } from "../web/run-report.js";
import { WebServer } from "../web/server.js";
import type { WebAddress } from "../web/web-address.js";
import { runSimulation, type SimOutcome } from "./run-sim.js";
import { injectFault, thawFrozenBackends, type TestFault } from "./test-faults.js";
import type { SimPlan } from "./sim-plan.js";
import { kamailioMirrors, startHepCapture, type HepCapture } from "../hep/capture.js";
import type { HepForwardTarget } from "../hep/forward-target.js";
import { hepView } from "../hep/evidence-source.js";
import { CutoverError } from "../core/errors.js";
import { evidenceInUse, type EvidenceInUse, type EvidencePlan } from "./evidence-mode.js";
import { HepFeed } from "../evidence/hep-feed.js";
import { RateCounter } from "../hep/rate-counter.js";
import { startRateSampler } from "../hep/rate-events.js";
import { watchPbxChannels } from "./pbx-watch.js";

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
  forward?: HepForwardTarget;
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
  const { knobs, faults, webAddress, choice, realPbx, forward, artifactsDir, plan } = req;
  const settings = choice.settings;
  const evidencePlan = req.evidence;
  const driver = driverFor(choice);
  const lab = driver.lab();
  const { sipp } = requireBinaries(["sipp"]);
  const defaultEcho = (line: string): void => void process.stdout.write(line + "\n");
  const echo = hooks.echo ?? defaultEcho;
  const echoAll = !req.quiet;
  return withScope(async (scope) => {
    // --web: listening before anything else starts (a port in use is exit 3 with nothing started)
    const web = webAddress ? await WebServer.start(webAddress) : undefined;
    if (web) {
      scope.defer("web server", () => web.close());
      process.stderr.write(`pbx-cutover: live view at ${web.url} (read-only)\n`);
    }
    // the run's one Target (docker: exit 3 here when Docker does not answer, before any folder exists)
    const target = await driver.openTarget();
    scope.defer("target", () => target.close());
    const runDir = createRunDir(artifactsDir, "call-cutover");
    const events = new RunEvents();
    let resultPhase = false;
    scope.defer("event log", attachEventLog(events, path.join(runDir, EVENT_LOG_FILE)));
    scope.defer(
      "run files",
      attachRunFiles(events, runDir, (l) => (echoAll || resultPhase ? echo(l) : undefined)),
    );
    if (web) {
      const live = new LiveView(web, runDir).attach(events);
      scope.defer("web view", () => live.close());
    }
    // report.html from the folder's own files, whatever ended the run (before the event log closes)
    scope.defer("run report", () => void writeRunReport(runDir));
    const subscriber = hooks.onRun?.({ runDir, events, target });
    if (subscriber) scope.defer("run subscribers", () => subscriber.close());
    const log = (line: string): void => events.emit({ kind: "log", at: Date.now(), line });
    if (web) log(`web: live view at ${web.url} (read-only)`);
    events.emit({ kind: "phase", at: Date.now(), phase: "stack-start" });
    // HEP: the collector binds before the lab starts (a taken port is known before anything runs);
    // a target whose Kamailio mirrors to a fixed address (the Docker lab: its bridge's gateway, which
    // exists once the lab network does) gets its collector right after the lab is up
    const t = target;
    const cp = callPathOf(t).proxy;
    const proxy = `${cp.address}:${cp.port}`;
    const hepAt = t.hepCollector ?? { address: settings.hep.address, port: settings.hep.port };
    const view = hepView([proxy], {
      old: `${t.backends.old.address}:${t.backends.old.port}`,
      new: `${t.backends.new.address}:${t.backends.new.port}`,
    });
    const feed = new HepFeed(view);
    // live per-backend rates from the same packets (backend-rates events, whatever --evidence says)
    const rates = new RateCounter(view, Date.now());
    let capture: HepCapture<undefined> | undefined;
    let hepUnavailable: string | undefined;
    const startCapture = async (): Promise<void> => {
      if (t.hepCollector === undefined && settings.hep.mirror === "off" && (await labMirrors(t)) !== true) {
        hepUnavailable = `Kamailio's mirroring is off (lab setting hep.mirror / --hep-mirror off; \`siptrace.status on\` switches it on)`;
        return;
      }
      try {
        capture = await startHepCapture({
          address: hepAt.address,
          port: hepAt.port,
          proxy: [proxy],
          pcapPath: path.join(runDir, "capture.pcap"),
          ...(forward ? { forward } : {}),
          // the verdicts' HEP book is the feed's (below); the proxy's own book would be a second copy
          book: false,
          // with --evidence sipp the capture only writes capture.pcap (and counts the rates)
          onPacket:
            evidencePlan.mode !== "sipp"
              ? (p, head) => {
                  rates.add(p, head);
                  feed.push(p, head);
                }
              : (p, head) => rates.add(p, head),
        });
        const c = capture;
        scope.defer("hep capture", () => c.stop().then(() => undefined));
        scope.defer("hep rates", startRateSampler(rates, events));
      } catch (err) {
        if (!(err instanceof CutoverError)) throw err;
        hepUnavailable = err.message;
      }
    };
    const requireHep = (): void => {
      if (hepUnavailable !== undefined && evidencePlan.hepRequired) {
        writeFileAtomic(path.join(runDir, "status.txt"), "failed\n", { mode: FileMode.public });
        throw new EnvironmentError(
          `HEP evidence was asked for (--evidence ${evidencePlan.mode}) but is not available: ${hepUnavailable}`,
          [
            "free the HEP port or pick another (--hep-port), run the lab with mirroring on, or use --evidence sipp (the stand-ins' logs)",
          ],
        );
      }
    };
    if (t.hepCollector === undefined) {
      await startCapture();
      requireHep();
    }
    let up;
    try {
      up = await lab.ensureUp(scope);
    } catch (err) {
      writeFileAtomic(path.join(runDir, "status.txt"), "failed\n", { mode: FileMode.public });
      throw err;
    }
    if (up.alreadyRunning) {
      log(`lab: already running (${driver.name} driver, ${driver.where}); left running at the end`);
    } else if (!up.startedFromNothing) {
      // a lab found partly running was someone's before this run: it stays up after it
      log(
        `lab: the previous lab had dead components (${(up.replacedDead ?? []).join(", ")}); restarted in ${Math.round(up.readyMs)} ms (${driver.where}); left running at the end (it was running before)`,
      );
    } else {
      log(
        `lab: started in ${Math.round(up.readyMs)} ms (${driver.where}); ${req.keepLab ? "left running (--keep-lab)" : "stopped at the end"}`,
      );
      if (!req.keepLab) scope.defer("lab", () => lab.down());
    }
    // after the lab's cleanup is registered: a collector that cannot bind still stops a lab this run started
    if (t.hepCollector !== undefined) {
      await startCapture();
      requireHep();
    }
    // a lab that was already running may have had its mirroring switched off at runtime
    if (capture && (await labMirrors(t)) === false) {
      const why = "Kamailio's mirroring is off (`siptrace.status` says Disabled; `siptrace.status on` switches it on)";
      if (evidencePlan.hepRequired) {
        throw new EnvironmentError(
          `HEP evidence was asked for (--evidence ${evidencePlan.mode}) but is not available: ${why}`,
          ["switch it on, or use --evidence sipp"],
        );
      }
      hepUnavailable = why;
    }
    const evidence: EvidenceInUse = evidenceInUse(evidencePlan, hepUnavailable);
    if (hepUnavailable !== undefined) {
      log(`evidence: HEP is not available (${hepUnavailable}); verdicts from the stand-ins' logs only`);
    } else {
      log(
        `evidence: ${realPbx ? "HEP, cross-checked call by call by each FreeSWITCH's event socket (event-socket-agrees)" : evidence.mode === "hep" ? "HEP alone (the stand-ins' logs are not read)" : evidence.mode === "both" ? "the stand-ins' logs, cross-checked call by call by HEP (evidence-agrees)" : "the stand-ins' logs"}; ` +
          `HEP collector on ${hepAt.address}:${hepAt.port}${forward ? `, relayed to ${forward.host}:${forward.port}` : ""}, capture.pcap in the run folder`,
      );
    }
    // a lab of real FreeSWITCH: each one's own account of the calls, from its event socket
    const pbx = realPbx ? await watchPbxChannels(settings, runDir, scope, log) : undefined;
    // one apply at a time on the target: the run holds the lock for all its applies (the plan's and the in-flight check's)
    let lock;
    try {
      lock = acquireApplyLock(target.lockPath, "pbx-cutover sim");
    } catch (err) {
      writeFileAtomic(path.join(runDir, "status.txt"), "failed\n", { mode: FileMode.public });
      throw err;
    }
    scope.defer("apply lock", () => lock.release());
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
        ...(capture && evidence.mode !== "sipp" ? { hep: { capture, feed } } : {}),
        ...(pbx ? { pbx } : {}),
        injectFault: (f) => injectFault(f, target, settings.labDir, feed),
      });
    } finally {
      // every call of the run has ended; the lab is still up: subscribers take their last look
      if (!scope.signal.aborted) await subscriber?.settle?.(scope.signal);
    }
    const r = outcome.results;
    resultPhase = true;
    const rel = path.relative(process.cwd(), runDir) || runDir;
    const seconds = (ms: number): string => (ms / 1000).toFixed(1);
    log("== result");
    log(
      `wall time ${seconds(r.durationMs)} s, floor ${seconds(r.floorMs)} s (the call time the knobs impose), overhead ${seconds(r.durationMs - r.floorMs)} s`,
    );
    log(`evidence: ${rel} (results.json, junit.xml, <phase>.assertions.txt, message logs)`);
    const notPassed = r.verdicts.filter((a) => a.verdict !== "pass");
    if (notPassed.length === 0) {
      log(
        `PASS: all ${r.verdicts.length} assertions passed (${[...plan.steps.map((s) => s.phase), "in-flight cutover"].join(", ")})`,
      );
    } else {
      log(`FAIL: ${notPassed.length} of ${r.verdicts.length} assertions did not pass:`);
      // the failing assertions and their numbers are the last lines printed
      for (const a of notPassed) {
        log(failureLine(a));
        for (const off of a.offenders) log(`    ${off}`);
      }
    }
    return { exitCode: outcome.exitCode, outcome };
  });
}

/** Does the lab's Kamailio mirror right now? (src/hep/capture.ts) */
function labMirrors(t: Target): Promise<boolean | undefined> {
  return kamailioMirrors(t.rpc);
}
