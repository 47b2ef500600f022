/**
 * Live traffic and evidence: runs SIPp UAC bursts against the target's proxy and follows the
 * backends' and the UAC's message logs while they run, feeding the EvidenceBook and emitting
 * `call-routed` / `call-finished` events as the logs show them.
 */
import { readFile } from "node:fs/promises";
import { FileMode, writeFileAtomicAsync } from "../files/atomic-write.js";
import path from "node:path";
import { delay } from "../cli/scope.js";
import type { Backend, RunEvents, SimPhase } from "../events/run-events.js";
import type { Target } from "../lab/target.js";
import { MessageLogFollower, fileSize } from "../sip/message-log.js";
import { uacArgv } from "../sipp/argv.js";
import { parseTraceStat, type TraceStat } from "../sipp/results.js";
import { startSipp, type SippExit, type SippProcess } from "../sipp/runner.js";
import { callIdTag, EvidenceBook, type BurstLabel, type CallEvidence, type EvidenceFact } from "./evidence.js";
import { clockTime, LogWindow, recreationText } from "./log-window.js";

const POLL_MS = 25;

/** the UAC message log of each burst, by the seed's names where the seed has one */
export const UAC_LOG_NAMES: Record<BurstLabel, string> = {
  old: "old.uac.log",
  both: "both.uac.log",
  new: "new.uac.log",
  precheck: "inflight-precutover.uac.log",
  long: "inflight-long.uac.log",
  post: "inflight-post-cutover.uac.log",
};

export interface BurstSpec {
  label: BurstLabel;
  calls: number;
  rate: number;
  holdMs: number;
}

export interface BurstReport {
  label: BurstLabel;
  argv: string[];
  exit: SippExit;
  stats: TraceStat | undefined;
  uacLog: string;
}

export interface RunningBurst {
  label: BurstLabel;
  done: Promise<BurstReport>;
  stop(): Promise<void>;
}

export interface TrafficOptions {
  target: Target;
  runId: string;
  runDir: string;
  sippBin: string;
  scenario: string;
  callTimeoutMs: number;
  events: RunEvents;
  signal: AbortSignal;
  /** called for every fact (after the event is emitted); test faults hook in here */
  onFact?: (f: EvidenceFact) => Promise<void> | void;
}

export class Traffic {
  readonly book: EvidenceBook;
  private readonly followers: Partial<Record<Backend, MessageLogFollower>> = {};
  private backendPoll: Promise<void> = Promise.resolve();
  private readonly running = new Set<SippProcess>();
  /** the open phase window: what each backend's follower read while it is open */
  private window: { phase: SimPhase; logs: Record<Backend, LogWindow> } | undefined;

  constructor(private readonly o: TrafficOptions) {
    this.book = new EvidenceBook(o.runId);
  }

  /** true when both backends have message logs (the lab's SIPp stand-ins do; a real PBX does not) */
  get backendLogs(): boolean {
    return this.o.target.backends.old.messageLog !== undefined && this.o.target.backends.new.messageLog !== undefined;
  }

  /** Start following the backends' logs from their current end (earlier traffic is not this run's). */
  async begin(): Promise<void> {
    for (const b of ["old", "new"] as const) {
      const file = this.o.target.backends[b].messageLog;
      if (file !== undefined) this.followers[b] = new MessageLogFollower(file, await fileSize(file));
    }
  }

  /**
   * Open a phase's window: from here on, what the backends' followers read is kept for the phase's
   * artifacts, and, once everything written so far is read, messages of Call-IDs that are not this
   * run's are the phase's.
   */
  async openWindow(phase: SimPhase): Promise<void> {
    // what was written since the previous window closed goes into this one's artifact, but a
    // foreign message read now belongs to no phase
    this.window = { phase, logs: { old: new LogWindow(), new: new LogWindow() } };
    await this.pollBackends();
    this.book.openWindow(phase);
  }

  /** Read what is left and close the window: what each backend's follower read while it was open. */
  async closeWindow(): Promise<Record<Backend, LogWindow>> {
    await this.pollBackends();
    const w = this.window;
    this.window = undefined;
    this.book.openWindow(undefined);
    return w?.logs ?? { old: new LogWindow(), new: new LogWindow() };
  }

  /** Poll both backend logs (serialised: bursts running in parallel share the followers). */
  pollBackends(): Promise<void> {
    this.backendPoll = this.backendPoll.then(async () => {
      for (const b of ["old", "new"] as const) {
        const f = this.followers[b];
        if (!f) continue;
        const read = await f.read();
        this.window?.logs[b].add(read);
        if (read.recreated) {
          const r = read.recreated;
          this.book.noteInstance(b, r.generation, `its message log was recreated at ${clockTime(r.detectedAt)}; ${r.why}`);
          this.o.events.emit({
            kind: "log",
            at: Date.now(),
            line: `  the ${b} backend's message log was ${recreationText(r)}: a restarted backend; reading it from the start (instance ${r.generation})`,
          });
        }
        for (const rec of read.records) await this.deliver(this.book.addBackend(b, rec, read.generation));
      }
    });
    return this.backendPoll;
  }

  private async deliver(facts: EvidenceFact[]): Promise<void> {
    for (const f of facts) {
      const c = f.call;
      if (f.kind === "routed") {
        this.o.events.emit({ kind: "call-routed", at: Date.now(), callId: c.callId, phase: c.phase, backend: f.backend });
      } else {
        this.o.events.emit({
          kind: "call-finished",
          at: Date.now(),
          callId: c.callId,
          phase: c.phase,
          backend: firstBackend(c),
          completed: f.completed,
          ...(f.reason !== undefined ? { reason: f.reason } : {}),
        });
      }
      await this.o.onFact?.(f);
    }
  }

  /** Start a burst; its calls are evidenced live while it runs. */
  start(spec: BurstSpec): RunningBurst {
    const base = path.join(this.o.runDir, UAC_LOG_NAMES[spec.label]);
    const files = { messageLog: base, statFile: base.replace(/\.log$/, ".stat.csv"), errorFile: base.replace(/\.log$/, ".errors.log") };
    const argv = uacArgv(this.o.sippBin, this.o.scenario, {
      proxy: this.o.target.proxy,
      localAddress: this.o.target.proxy.address,
      service: "cutover",
      calls: spec.calls,
      rate: spec.rate,
      holdMs: spec.holdMs,
      callIdTag: callIdTag(this.o.runId, spec.label),
      recvTimeoutMs: this.o.callTimeoutMs,
      ...files,
    });
    const proc = startSipp(argv, { cwd: this.o.runDir, signal: this.o.signal });
    this.running.add(proc);
    const follower = new MessageLogFollower(files.messageLog);
    const pollUac = async (final: boolean): Promise<void> => {
      for (const rec of await follower.poll(final)) await this.deliver(this.book.addUac(spec.label, rec));
    };
    const done = (async (): Promise<BurstReport> => {
      let exited = false;
      void proc.done.then(() => (exited = true));
      // the UAC's log first, then the backends': whatever a backend did before the UAC saw its
      // answer is in the book when settle() concludes the call
      while (!exited) {
        await Promise.race([delay(POLL_MS), proc.done]);
        await pollUac(false);
        await this.pollBackends();
        await this.deliver(this.book.settle(spec.label));
      }
      const exit = await proc.done;
      this.running.delete(proc);
      await pollUac(true);
      await this.pollBackends();
      await this.deliver(this.book.settle(spec.label));
      await this.deliver(this.book.finishBurst(spec.label));
      let stats: TraceStat | undefined;
      try {
        stats = parseTraceStat(await readFile(files.statFile, "utf8"));
      } catch {
        stats = undefined;
      }
      return { label: spec.label, argv, exit, stats, uacLog: files.messageLog };
    })();
    return { label: spec.label, done, stop: () => proc.stop() };
  }

  /** Wait until `pred` holds for the evidence, or `until` settles; polls like a burst does. */
  async waitFor(pred: () => boolean, until: Promise<unknown>, timeoutMs: number): Promise<boolean> {
    let settled = false;
    void until.then(
      () => (settled = true),
      () => (settled = true),
    );
    const deadline = performance.now() + timeoutMs;
    while (!pred()) {
      if (settled || performance.now() > deadline) return pred();
      await delay(POLL_MS, this.o.signal);
    }
    return true;
  }

  /** Stop every burst still running (interrupt, failure). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((p) => p.stop()));
  }

  callsOf(label: BurstLabel): CallEvidence[] {
    return this.book.callsOf(label);
  }
}

function firstBackend(c: CallEvidence): Backend | undefined {
  if (c.invite.old) return "old";
  if (c.invite.new) return "new";
  return undefined;
}

/** Write a backend's window of evidence (the phase's artifact) from what was read. */
export async function writeWindow(src: string | undefined, window: LogWindow, dest: string): Promise<void> {
  if (src === undefined) {
    await writeFileAtomicAsync(dest, "(this backend has no message log: a real PBX, not the lab's SIPp stand-in)\n", { mode: FileMode.public });
    return;
  }
  await writeFileAtomicAsync(dest, window.render(path.basename(src)), { mode: FileMode.public });
}
