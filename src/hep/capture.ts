/**
 * One run's HEP capture: the collector on the lab's HEP port, every packet into the run's
 * `HepEvidence` (unless `book: false`: a sim judges from its own evidence book and only counts the
 * calls here) and `capture.pcap`, and whatever else the run subscribes (its evidence book).
 * `stop()` waits until the last mirrored messages were read, closes the file and returns the
 * counters for results.json. Register `stop` with the run's Scope.
 */
import { UsageError } from "../core/errors.js";
import { startHepCollector, type HepCollectorStats } from "./collector.js";
import type { HepPacket } from "./decode.js";
import { endpointKey, HepEvidence, type EndpointKey, type HepCall } from "./evidence.js";
import type { HepForwardTarget } from "./forward-target.js";
import { openPcapWriter, type PcapKept } from "./pcap.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { readSipHeadOf, type SipHead } from "../sip/message.js";

/** Does Kamailio mirror right now (`siptrace.status check`)? undefined: it does not answer (not running yet). */
export async function kamailioMirrors(rpc: Pick<RpcClient, "call">): Promise<boolean | undefined> {
  try {
    return String(await rpc.call("siptrace.status", ["check"])) === "Enabled";
  } catch {
    return undefined;
  }
}

export interface HepCaptureOptions {
  /** where Kamailio mirrors to (the lab's `hep` settings); port 0 = ephemeral */
  address: string;
  port: number;
  /** Kamailio's SIP sockets */
  proxy: readonly EndpointKey[];
  /** capture.pcap's path */
  pcapPath: string;
  /**
   * the capture's files together at most this many MB (DEFAULT_CAPTURE_MAX_MB when not given; 0: no
   * cap): the run's start and its latest part are kept (src/hep/pcap.ts)
   */
  captureMaxMb?: number;
  forward?: HepForwardTarget;
  /**
   * false: no `HepEvidence` is kept (the proxy's per-call book, which migrate's live gates read);
   * only the distinct Call-IDs are counted for the summary. A sim books the same packets into its
   * own evidence book through `onPacket`; keeping both costs the collector twice the bookkeeping.
   */
  book?: boolean;
  /** the collector's pause between read rounds (default DEFAULT_READ_PAUSE_MS; 0 = read continuously) */
  readPauseMs?: number;
  /** the collector's socket read on a thread of its own (default true: a busy run loses no datagram to the kernel) */
  thread?: boolean;
  /**
   * every packet, with its payload's SIP head (read once per packet for every consumer; undefined: not
   * SIP) and the call it touched in the capture's evidence (already added; undefined without a book)
   */
  onPacket?: (p: HepPacket, head: SipHead | undefined, call: HepCall | undefined) => void;
}

/**
 * A capture's files together at most this many MB unless the run says otherwise: every message of a
 * run up to ~2 min at 500 calls/s (~3.7 MB/s mirrored), the start and the latest minutes of longer ones.
 */
export const DEFAULT_CAPTURE_MAX_MB = 512;

/** the flag's help, the same for every command that captures */
export const CAPTURE_MAX_MB_HELP = `cap capture.pcap, and with audio media.pcap, at this many MB each (default ${DEFAULT_CAPTURE_MAX_MB}; 0: no cap): a longer run keeps its start (capture.pcap, media.pcap) and its latest part (capture.N.pcap, media.N.pcap), every media packet still counted; results.json and the output say what was let go`;

/** `--capture-max-mb MB`: a whole number of MB, 0 for no cap (UsageError, exit 2). */
export function parseCaptureMaxMb(raw: string): number {
  const t = raw.trim();
  const n = /^\d{1,7}$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n)) {
    throw new UsageError(
      `--capture-max-mb must be a whole number of MB (0: no cap), got ${JSON.stringify(raw)}; nothing was started`,
      [`e.g. --capture-max-mb ${DEFAULT_CAPTURE_MAX_MB} (the default)`],
    );
  }
  return n;
}

export interface HepCaptureSummary {
  address: string;
  port: number;
  datagrams: number;
  packets: number;
  malformed: number;
  malformedByReason: HepCollectorStats["malformedByReason"];
  firstMalformation: string | undefined;
  kernelDrops: number | undefined;
  recvBufferBytes: number;
  forwarded: number | undefined;
  forwardErrors: number | undefined;
  /** records: every record written; kept: the files kept under the cap and what was let go */
  pcap: { path: string; records: number; kept: PcapKept };
  calls: number;
}

export interface HepCapture<E extends HepEvidence | undefined = HepEvidence> {
  readonly port: number;
  /** the proxy's per-call book; undefined when started with `book: false` */
  readonly evidence: E;
  summary(): HepCaptureSummary;
  /** wait until the mirrored messages so far were read (nothing new for `quietMs`, empty socket queue; at most `maxMs`) */
  settle(quietMs?: number, maxMs?: number): Promise<void>;
  /** wait until a packet captured at or after `captureMs` was read (or settled, or `maxMs`): see HepCollector.settleUntil */
  settleUntil(captureMs: number, quietMs?: number, maxMs?: number): Promise<void>;
  /** settle (nothing new for 100 ms and an empty socket queue, at most 3 s), close, summarize */
  stop(): Promise<HepCaptureSummary>;
}

export async function startHepCapture(o: HepCaptureOptions & { book: false }): Promise<HepCapture<undefined>>;
export async function startHepCapture(o: HepCaptureOptions): Promise<HepCapture>;
export async function startHepCapture(o: HepCaptureOptions): Promise<HepCapture<HepEvidence | undefined>> {
  const evidence = o.book === false ? undefined : new HepEvidence(o.proxy);
  // without the book: the distinct Call-IDs of SIP messages through the proxy, for the summary
  const proxy = new Set(o.proxy);
  const callIds = new Set<string>();
  const maxMb = o.captureMaxMb ?? DEFAULT_CAPTURE_MAX_MB;
  const pcap = openPcapWriter(o.pcapPath, maxMb > 0 ? { maxBytes: maxMb * 1024 * 1024 } : {});
  let collector;
  try {
    collector = await startHepCollector({
      address: o.address,
      port: o.port,
      ...(o.forward ? { forward: o.forward } : {}),
      ...(o.readPauseMs !== undefined ? { readPauseMs: o.readPauseMs } : {}),
      thread: o.thread ?? true,
      onPacket: (p) => {
        const head = readSipHeadOf(p.payload);
        let call: HepCall | undefined;
        if (evidence) call = evidence.add(p, head);
        else if (
          head?.callId !== undefined &&
          (p.protocolType === undefined || p.protocolType === 1) &&
          (proxy.has(endpointKey(p.src)) || proxy.has(endpointKey(p.dst)))
        ) {
          callIds.add(head.callId);
        }
        pcap.write(p);
        o.onPacket?.(p, head, call);
      },
    });
  } catch (err) {
    await pcap.close().catch(() => undefined);
    throw err;
  }
  const c = collector;
  const summary = (): HepCaptureSummary => {
    const s = c.stats();
    return {
      address: c.address,
      port: c.port,
      datagrams: s.datagrams,
      packets: s.packets,
      malformed: s.malformed,
      malformedByReason: s.malformedByReason,
      firstMalformation: s.firstMalformation
        ? `${s.firstMalformation.reason}: ${s.firstMalformation.detail}`
        : undefined,
      kernelDrops: s.kernelDrops,
      recvBufferBytes: s.recvBufferBytes,
      forwarded: o.forward ? s.forwarded : undefined,
      forwardErrors: o.forward ? s.forwardErrors : undefined,
      pcap: { path: pcap.path, records: pcap.records, kept: pcap.kept() },
      calls: evidence ? evidence.lifecycle.calls : callIds.size,
    };
  };
  let stopped: Promise<HepCaptureSummary> | undefined;
  return {
    port: c.port,
    evidence,
    summary,
    settle: (quietMs = 100, maxMs = 3000) => c.settle(quietMs, maxMs),
    settleUntil: (captureMs, quietMs = 50, maxMs = 3000) => c.settleUntil(captureMs, quietMs, maxMs),
    stop() {
      stopped ??= (async () => {
        await c.settle(100, 3000);
        await c.close();
        await pcap.close();
        return summary();
      })();
      return stopped;
    },
  };
}
