/**
 * Live traffic and evidence: runs SIPp UAC bursts against the target's proxy and, while they run,
 * follows the evidence sources: the backends' and the UAC's message logs (the SIPp stand-ins) into
 * one EvidenceBook, HEP mirrored by Kamailio (src/evidence/hep-feed.ts) into another. The book the
 * verdicts rest on (`book`: HEP with `--evidence hep`, else the logs) emits `call-routed` /
 * `call-finished` events as the evidence shows them.
 */
import { readFile } from "node:fs/promises";
import { FileMode, writeFileAtomicAsync } from "../files/atomic-write.js";
import path from "node:path";
import { delay } from "../core/scope.js";
import type { RunEvents, SimPhase } from "../events/run-events.js";
import { callPathOf, type Target } from "../target/target.js";
import { MessageLogFollower, fileSize, parseMessageLogBuffer } from "../sip/message-log.js";
import { streamOrder } from "../sipp/media.js";
import { mediaScenarioFile } from "../media/scenario-file.js";
import { callMedia, callSignalsOf, type CallMedia, type RtpPacket } from "../media/rtp.js";
import { addRelayCounts } from "../media/relay-counts.js";
import type { NgAddress } from "../rtpengine/ng.js";
import { freeUdpPort, startMediaCapture, type MediaCapture, type MediaCaptureSummary } from "../media/capture.js";
import { MediaPortRanges } from "../media/port-ranges.js";
import { uacArgv } from "../sipp/argv.js";
import { parseTraceStat, type TraceStat } from "../sipp/results.js";
import { startSipp, type SippExit, type SippProcess } from "../sipp/runner.js";
import type { EvidenceSource } from "./evidence-mode.js";
import type { HepFeed } from "../evidence/hep-feed.js";
import { callIdTag, type BurstLabel } from "../evidence/call-id.js";
import { EvidenceBook, type EvidenceFact } from "../evidence/book.js";
import type { CallEvidence } from "../evidence/call.js";
import { backendLogRecord, uacLogRecord } from "../evidence/sipp-log.js";
import { clockTime, LogWindow, recreationText } from "./log-window.js";
import type { BackendRole } from "../core/backend-role.js";

const POLL_MS = 25;

/** the UAC message log of the in-flight check's bursts, by the seed's names */
const INFLIGHT_UAC_LOGS: Partial<Record<BurstLabel, string>> = {
  precheck: "inflight-precutover.uac.log",
  long: "inflight-long.uac.log",
  post: "inflight-post-cutover.uac.log",
};

/** the UAC message log of a burst: `<phase>.uac.log` for a step's (the seed's old, both, new), the seed's names in flight */
export function uacLogName(label: BurstLabel): string {
  return INFLIGHT_UAC_LOGS[label] ?? `${label}.uac.log`;
}

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
  /** media on: each call's packets per direction, or why they could not be counted */
  media?: { calls: CallMedia[] | undefined; why?: string; pcap: string };
  /**
   * media on: the caller's media base port (its capture watched it and the MEDIA_PORT_SPAN ports above)
   * and the capture's files kept, in capture order (names in the run folder)
   */
  mediaCapture?: { port: number; files: string[] };
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
  /** called for every fact of `book` (after the event is emitted); test faults hook in here */
  onFact?: (f: EvidenceFact) => Promise<void> | void;
  /** the sources in use: `sipp` (logs), `hep` (HEP alone: no log is read), `both` */
  evidence: EvidenceSource;
  /** the run's HEP capture, when `evidence` is hep or both */
  hep?: TrafficHep;
  /** media on: each call streams a tone and the caller's RTP is captured with this dumpcap; with a media relay, its ng control (each call's counters) */
  /** maxBytes: each burst's media pcap at most this big (0: no cap); the count sees every packet */
  media?: { dumpcapBin: string; relay?: NgAddress; maxBytes?: number };
  /** each phase's copy of a stand-in's log keeps at most this many bytes (undefined or 0: all) */
  logCopyMaxBytes?: number;
}

/** What Traffic needs of the run's HEP capture. */
export interface TrafficHep {
  feed: HepFeed;
  /** resolves once what Kamailio mirrored so far was received (src/hep/capture.ts's settle) */
  settle(): Promise<void>;
}

export class Traffic {
  /** the book the verdicts rest on */
  readonly book: EvidenceBook;
  /** the stand-ins' logs (undefined with --evidence hep) */
  readonly sippBook: EvidenceBook | undefined;
  /** HEP (undefined with --evidence sipp) */
  readonly hepBook: EvidenceBook | undefined;
  private readonly followers: Partial<Record<BackendRole, MessageLogFollower>> = {};
  private backendPoll: Promise<void> = Promise.resolve();
  private readonly running = new Set<SippProcess>();
  /** the open phase window: what each backend's follower read while it is open */
  private window: { phase: SimPhase; logs: Record<BackendRole, LogWindow> } | undefined;
  /** the window closed last */
  private closed: { phase: SimPhase; logs: Record<BackendRole, LogWindow> } | undefined;
  /** media on: the scenario with audio, written into the run folder once */
  private mediaScenario: Promise<string> | undefined;
  /** media on: each burst's caller ports, apart from every other burst's of the run */
  private readonly mediaPorts = new MediaPortRanges(() => freeUdpPort(callPathOf(this.o.target).localAddress));

  constructor(private readonly o: TrafficOptions) {
    if (o.evidence !== "sipp" && !o.hep) throw new Error(`--evidence ${o.evidence} without a HEP capture`);
    this.sippBook = o.evidence === "hep" ? undefined : new EvidenceBook(o.runId);
    this.hepBook = o.evidence === "sipp" ? undefined : new EvidenceBook(o.runId);
    this.book = (this.sippBook ?? this.hepBook)!;
  }

  /** true when both backends have message logs (the lab's SIPp stand-ins do; a real PBX does not) */
  get backendLogs(): boolean {
    return this.o.target.backends.old.messageLog !== undefined && this.o.target.backends.new.messageLog !== undefined;
  }

  /** true when the verdicts' book knows what the backends received and sent (logs read, or HEP) */
  get backendEvidence(): boolean {
    return this.o.evidence === "hep" || this.backendLogs;
  }

  private get books(): EvidenceBook[] {
    return [this.sippBook, this.hepBook].filter((b): b is EvidenceBook => b !== undefined);
  }

  /** Start following the backends' logs from their current end (earlier traffic is not this run's). */
  async begin(): Promise<void> {
    // HEP alone: the stand-ins' logs are not read at all
    if (!this.sippBook) return;
    for (const b of ["old", "new"] as const) {
      const file = this.o.target.backends[b].messageLog;
      if (file !== undefined) this.followers[b] = new MessageLogFollower(file, await fileSize(file));
    }
  }

  /**
   * Open a phase's window: from here on, what the backends' followers read is kept for the phase's
   * artifacts, and, once everything written so far is read, messages of Call-IDs that are not this
   * run's are the phase's. The phase that was the last one closed (a step held again) goes on with
   * what its window read so far.
   */
  async openWindow(phase: SimPhase): Promise<void> {
    // what was written since the previous window closed goes into this one's artifact, but a
    // foreign message read now belongs to no phase
    const again = this.closed?.phase === phase ? this.closed.logs : undefined;
    this.window = { phase, logs: again ?? this.newWindows() };
    await this.pollBackends();
    for (const b of this.books) b.openWindow(phase);
  }

  /** Read what is left and close the window: what each backend's follower read while it was open. */
  async closeWindow(): Promise<Record<BackendRole, LogWindow>> {
    await this.pollBackends();
    const w = this.window;
    this.window = undefined;
    this.closed = w;
    for (const b of this.books) b.openWindow(undefined);
    return w?.logs ?? this.newWindows();
  }

  private newWindows(): Record<BackendRole, LogWindow> {
    const cap = this.o.logCopyMaxBytes;
    return { old: new LogWindow(cap), new: new LogWindow(cap) };
  }

  /**
   * Poll both backend logs and what HEP queued (serialised: bursts running in parallel share the
   * followers and the queue).
   */
  pollBackends(): Promise<void> {
    this.backendPoll = this.backendPoll.then(async () => {
      if (this.hepBook) await this.deliver(this.o.hep!.feed.drain(this.hepBook), this.hepBook);
      const sipp = this.sippBook;
      if (!sipp) return;
      for (const b of ["old", "new"] as const) {
        const f = this.followers[b];
        if (!f) continue;
        const read = await f.read();
        this.window?.logs[b].add(read);
        if (read.recreated) {
          const r = read.recreated;
          sipp.noteInstance(b, r.generation, `its message log was recreated at ${clockTime(r.detectedAt)}; ${r.why}`);
          this.o.events.emit({
            kind: "log",
            at: Date.now(),
            line: `  the ${b} backend's message log was ${recreationText(r)}: a restarted backend; reading it from the start (instance ${r.generation})`,
          });
        }
        for (const rec of read.records) await this.deliver(backendLogRecord(sipp, b, rec, read.generation), sipp);
      }
    });
    return this.backendPoll;
  }

  /** HEP: wait until what Kamailio mirrored so far was received, then read it into the book */
  async readHep(): Promise<void> {
    if (!this.o.hep) return;
    await this.o.hep.settle();
    await this.pollBackends();
  }

  /** Facts of `from`: only the verdicts' book speaks on the event stream and to onFact. */
  private async deliver(facts: EvidenceFact[], from: EvidenceBook): Promise<void> {
    if (from !== this.book) return;
    for (const f of facts) {
      const c = f.call;
      if (f.kind === "routed") {
        this.o.events.emit({
          kind: "call-routed",
          at: Date.now(),
          callId: c.callId,
          phase: c.phase,
          backend: f.backend,
        });
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

  /** The UAC scenario with audio and its tone, in the run folder (written once per run). */
  private scenarioWithMedia(): Promise<string> {
    this.mediaScenario ??= mediaScenarioFile(this.o.scenario, this.o.runDir);
    return this.mediaScenario;
  }

  /** Start a burst; its calls are evidenced live while it runs. */
  start(spec: BurstSpec): RunningBurst {
    const base = path.join(this.o.runDir, uacLogName(spec.label));
    const files = {
      messageLog: base,
      statFile: base.replace(/\.log$/, ".stat.csv"),
      errorFile: base.replace(/\.log$/, ".errors.log"),
    };
    const localAddress = callPathOf(this.o.target).localAddress;
    const media = this.o.media;
    const mediaFiles = { pcap: base.replace(/\.log$/, ".media.pcap"), log: base.replace(/\.log$/, ".media.log") };
    let capture: MediaCapture | undefined;
    // the burst's RTP as the capture reads it (every packet, whatever the file keeps)
    const packets: RtpPacket[] = [];
    let stopped = false;
    const launch = async (): Promise<{ proc: SippProcess; argv: string[] }> => {
      const scenario = media ? await this.scenarioWithMedia() : this.o.scenario;
      if (media) {
        capture = await startMediaCapture({
          bin: media.dumpcapBin,
          address: localAddress,
          file: mediaFiles.pcap,
          cwd: this.o.runDir,
          signal: this.o.signal,
          ...(media.maxBytes ? { maxBytes: media.maxBytes } : {}),
          onPacket: (p) => packets.push(p),
          port: await this.mediaPorts.pick(),
        });
      }
      const argv = uacArgv(this.o.sippBin, scenario, {
        proxy: callPathOf(this.o.target).proxy,
        localAddress,
        service: "cutover",
        calls: spec.calls,
        rate: spec.rate,
        holdMs: spec.holdMs,
        callIdTag: callIdTag(this.o.runId, spec.label),
        recvTimeoutMs: this.o.callTimeoutMs,
        ...files,
        ...(capture ? { media: { port: capture.port, logFile: mediaFiles.log } } : {}),
      });
      this.o.signal.throwIfAborted();
      const proc = startSipp(argv, { cwd: this.o.runDir, signal: this.o.signal });
      this.running.add(proc);
      if (stopped) await proc.stop();
      return { proc, argv };
    };
    const launched = launch();
    const follower = new MessageLogFollower(files.messageLog);
    const sipp = this.sippBook;
    const pollUac = async (final: boolean): Promise<void> => {
      if (!sipp) return;
      for (const rec of await follower.poll(final)) await this.deliver(uacLogRecord(sipp, spec.label, rec), sipp);
    };
    const settle = async (): Promise<void> => {
      for (const b of this.books) await this.deliver(b.settle(spec.label), b);
    };
    const done = (async (): Promise<BurstReport> => {
      let proc: SippProcess;
      let argv: string[];
      try {
        ({ proc, argv } = await launched);
      } catch (e) {
        await capture?.stop();
        throw e;
      }
      let exited = false;
      void proc.done.then(() => (exited = true));
      // the UAC's log first, then the backends': whatever a backend did before the UAC saw its
      // answer is in the book when settle() concludes the call
      while (!exited) {
        await Promise.race([delay(POLL_MS), proc.done]);
        await pollUac(false);
        await this.pollBackends();
        await settle();
      }
      const exit = await proc.done;
      this.running.delete(proc);
      await capture?.stop();
      await pollUac(true);
      // the last mirrored messages of the burst are in the collector's socket by now, or on their way
      if (this.o.hep) await this.o.hep.settle();
      await this.pollBackends();
      await settle();
      for (const b of this.books) await this.deliver(b.finishBurst(spec.label), b);
      let stats: TraceStat | undefined;
      try {
        stats = parseTraceStat(await readFile(files.statFile, "utf8"));
      } catch {
        stats = undefined;
      }
      const report: BurstReport = { label: spec.label, argv, exit, stats, uacLog: files.messageLog };
      if (capture) report.mediaCapture = { port: capture.port, files: (await capture.stop()).kept.files };
      if (capture)
        report.media = await countMedia(
          files.messageLog,
          { ...mediaFiles, packets, capture: await capture.stop() },
          spec.holdMs,
          `${callIdTag(this.o.runId, spec.label)}-`,
          media?.relay,
        );
      return report;
    })().finally(() => follower.close());
    const stop = async (): Promise<void> => {
      stopped = true;
      const l = await launched.catch(() => undefined);
      await l?.proc.stop();
      await capture?.stop();
    };
    return { label: spec.label, done, stop };
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

  /** Let go of the backends' logs (the run is over). */
  async close(): Promise<void> {
    await Promise.all(Object.values(this.followers).map((f) => f.close()));
  }

  /** Stop every burst still running (interrupt, failure). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((p) => p.stop()));
  }

  callsOf(label: BurstLabel): CallEvidence[] {
    return this.book.callsOf(label);
  }
}

/** Each call's packets from the burst's media capture, its media log and the UAC's message log. */
async function countMedia(
  uacLog: string,
  files: { pcap: string; log: string; packets: RtpPacket[]; capture: MediaCaptureSummary },
  holdMs: number,
  callIdPrefix: string,
  relay: NgAddress | undefined,
): Promise<NonNullable<BurstReport["media"]>> {
  try {
    if (files.capture.fault !== undefined) throw new Error(`the capture broke off: ${files.capture.fault}`);
    const [log, messages] = await Promise.all([readFile(files.log, "utf8").catch(() => ""), readFile(uacLog)]);
    // the burst's own calls: a stranger's answer that reached the caller's SIP port is not one of them
    const sdp = new Map(
      [...callSignalsOf(parseMessageLogBuffer(messages).records)].filter(([id]) => id.startsWith(callIdPrefix)),
    );
    const calls = callMedia(streamOrder(log), sdp, files.packets, holdMs);
    if (relay) await addRelayCounts(relay, calls);
    return { calls, pcap: files.pcap };
  } catch (e) {
    return { calls: undefined, why: (e as Error).message, pcap: files.pcap };
  }
}

function firstBackend(c: CallEvidence): BackendRole | undefined {
  if (c.invite.old) return "old";
  if (c.invite.new) return "new";
  return undefined;
}

/** Write a backend's window of evidence (the phase's artifact) from what was read. */
export async function writeWindow(src: string | undefined, window: LogWindow, dest: string): Promise<void> {
  if (src === undefined) {
    await writeFileAtomicAsync(dest, "(this backend has no message log: a real PBX, not the lab's SIPp stand-in)\n", {
      mode: FileMode.public,
    });
    return;
  }
  await writeFileAtomicAsync(dest, window.render(path.basename(src)), { mode: FileMode.public });
}
