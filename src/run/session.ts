/**
 * One run session: the shell every command that runs (migrate, sim, dashboard) works inside. It
 * owns the run folder (`<prefix>-YYYYmmdd_HHMMSS`, `latest` pointing at it), the run's event stream
 * and its recorders (events.ndjson; the live page with --web), the lab's ownership (a lab the run
 * started from nothing is stopped at the end unless kept), the apply lock held across all the run's
 * applies, the run-finished event, and report.html built from the folder whatever ended the run.
 * With `recordFileFaults`, a run-folder file that cannot be written (full, read-only, failing disk)
 * is recorded in `faults` instead of thrown, so routing goes on as it would (migrate).
 * Everything it starts is registered with the command's Scope (cleanups in reverse, on success,
 * failure and Ctrl-C; the scope's signal is the run's). It decides nothing about the run itself.
 */
import path from "node:path";
import { createRunDir } from "../artifacts/run-dir.js";
import type { Scope } from "../core/scope.js";
import { attachEventLog, EVENT_LOG_FILE } from "../events/event-log.js";
import { RunEvents, type RunStatus } from "../events/run-events.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { RunFileFaults } from "../artifacts/run-faults.js";
import { acquireApplyLock, type ApplyLock } from "../apply/apply-lock.js";
import type { EnsureUpResult, LabControl } from "../drivers/lab-control.js";
import type { Target } from "../target/target.js";
import { LiveView } from "../web/live-view.js";
import { REPORT_FILE, writeRunReport } from "../web/run-report.js";
import { WebServer } from "../web/server.js";
import type { WebAddress } from "../web/web-address.js";

export interface RunSessionSpec {
  /** the command as the lock names its holder: "pbx-cutover migrate", "pbx-cutover sim" */
  command: string;
  artifactsDir: string;
  /** the run folder's name before its time stamp (the seed's: "run" for migrate, "call-cutover" for sim) */
  folderPrefix: string;
  /** the run's one Target: its applies, calls and evidence, and every subscriber's observations */
  target: Target;
  /** --web: the live page's server, already listening (startLiveServer) */
  web?: WebServer | undefined;
  /** run-folder files that cannot be written are recorded in `faults`, not thrown into the run */
  recordFileFaults?: boolean;
}

/** How the run found the lab and what it does with it at the end. */
export interface LabOwnership {
  up: EnsureUpResult;
  /** nothing of the lab ran before: this run started it */
  startedByThisRun: boolean;
  /** the lab is left running at the end (it was running before, or kept) */
  leftRunning: boolean;
}

/** How a run ended, as its run-finished event says. */
export interface RunEnd {
  status: RunStatus;
  exitCode: number;
  failures: string[];
}

/** --web: the live page listens before anything else starts (a port in use is exit 3, nothing started). */
export async function startLiveServer(scope: Scope, address: WebAddress | undefined): Promise<WebServer | undefined> {
  if (!address) return undefined;
  const web = await WebServer.start(address);
  scope.defer("web server", () => web.close());
  process.stderr.write(`pbx-cutover: live view at ${web.url} (read-only)\n`);
  return web;
}

export class RunSession {
  readonly events = new RunEvents();
  /** the run-folder files that could not be written (recordFileFaults) */
  readonly faults = new RunFileFaults();
  private ended = false;
  private closed = false;
  private detachLog: () => void = () => undefined;

  private constructor(
    readonly scope: Scope,
    readonly spec: RunSessionSpec,
    readonly runDir: string,
  ) {}

  /**
   * Create the run folder and its stream's recorders: events.ndjson from the first event, the live
   * page (--web), and report.html from the folder's own files when the scope closes (before the
   * event log does).
   */
  static open(scope: Scope, spec: RunSessionSpec): RunSession {
    const runDir = createRunDir(spec.artifactsDir, spec.folderPrefix);
    const s = new RunSession(scope, spec, runDir);
    const log = path.join(runDir, EVENT_LOG_FILE);
    s.detachLog = attachEventLog(s.events, log, spec.recordFileFaults ? (err) => s.faults.record(err, log) : undefined);
    if (spec.web) {
      const live = new LiveView(spec.web, runDir).attach(s.events);
      scope.defer("web view", () => live.close());
    }
    scope.defer("run record", () => s.close());
    return s;
  }

  get target(): Target {
    return this.spec.target;
  }

  get web(): WebServer | undefined {
    return this.spec.web;
  }

  /** aborted by Ctrl-C (SIGINT/SIGTERM): every wait of the run honours it */
  get signal(): AbortSignal {
    return this.scope.signal;
  }

  /**
   * The lab is up when this resolves. A lab this run started from nothing is stopped at the end
   * unless `keepLab`; a lab found running, even partly (dead components replaced), was someone's
   * before the run and is left running.
   */
  async ownLab(lab: LabControl, keepLab: boolean): Promise<LabOwnership> {
    const up = await lab.ensureUp(this.scope);
    const stops = up.startedFromNothing && !keepLab;
    if (stops) this.scope.defer("lab", () => lab.down());
    return { up, startedByThisRun: up.startedFromNothing, leftRunning: !stops };
  }

  /** One apply at a time on the target: the run holds the lock for all its applies, released at the end. */
  lockApplies(): ApplyLock {
    const lock = acquireApplyLock(this.target.lockPath, this.spec.command);
    this.scope.defer("apply lock", () => lock.release());
    return lock;
  }

  /** Write a file of the run folder (a fault is recorded with recordFileFaults, else thrown). */
  writeFile(name: string, text: string): void {
    const file = path.join(this.runDir, name);
    const write = (): void => writeFileAtomic(file, text, { mode: FileMode.public });
    if (this.spec.recordFileFaults) this.faults.write(file, write);
    else write();
  }

  /**
   * The run's record is complete: events.ndjson is closed and report.html is built from the folder's
   * own files. Once; the scope does it at the end when the run did not.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detachLog();
    if (this.spec.recordFileFaults)
      this.faults.write(path.join(this.runDir, REPORT_FILE), () => void writeRunReport(this.runDir));
    else writeRunReport(this.runDir);
  }

  /** The run's end on its stream (once; after results.json is written: the live page folds it in). */
  finish(end: RunEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.events.emit({ kind: "run-finished", at: Date.now(), ...end });
  }
}
