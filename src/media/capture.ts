/**
 * The caller's RTP on loopback, captured by dumpcap (Wireshark's capture engine) to a pipe: a capture
 * filter keeps only the UDP ports the caller's media may use, so SIP and other traffic on the machine
 * stay out. dumpcap writes a classic pcap stream to its standard output; the tool reads it as it
 * comes into one reused buffer (os/pipe.ts), hands every packet to the count (so the count sees every
 * packet captured, whatever the file keeps) and writes the records to `media.pcap`, capped and
 * rotated like capture.pcap (capture-stream.ts). The file is the evidence (Wireshark, tshark's RTP
 * stream analysis). The pipe is read whenever it has data: a tool too slow to read it makes dumpcap
 * wait and the kernel drop, which dumpcap counts and the summary says.
 */
import { createSocket } from "node:dgram";
import { EnvironmentError } from "../core/errors.js";
import { delay } from "../core/scope.js";
import type { PcapKept } from "../hep/pcap.js";
import { openChildPipe } from "../os/pipe.js";
import { startSipp, type SippExit, type SippProcess } from "../sipp/runner.js";
import { CaptureStream } from "./capture-stream.js";
import type { RtpPacket } from "./rtp.js";

/** ports above the caller's -mp that SIPp may move its media sockets to when one is taken */
export const MEDIA_PORT_SPAN = 40;

export interface MediaCapture {
  /** the caller's media base port (SIPp -mp) */
  port: number;
  file: string;
  /** records captured so far (every one went to the count; the file may keep fewer) */
  readonly records: number;
  /** the capture broke off before stop (dumpcap gone, its stream cut or unreadable): why; undefined while it runs */
  readonly fault: string | undefined;
  /** stop capturing (after everything captured so far was read); resolves once the file is complete, never rejects */
  stop(): Promise<MediaCaptureSummary>;
}

export interface MediaCaptureSummary {
  /** records read from dumpcap's stream (every one counted), and of them RTP packets */
  records: number;
  packets: number;
  /** what the capture file kept under the cap */
  kept: PcapKept;
  /** what dumpcap says it dropped (the kernel's and its own), undefined when it said nothing */
  dropped: number | undefined;
  /** the capture broke off before it was stopped, or its file could not be written: why */
  fault: string | undefined;
}

/** dumpcap's kernel buffer (MiB): seconds of the caller's audio at production rates while the tool is busy */
const CAPTURE_BUFFER_MIB = 64;
/** the one buffer every read of dumpcap's stream goes into */
const READ_BUFFER_BYTES = 1024 * 1024;

/** A UDP port the kernel hands out on `address` now (SIPp moves on if it is taken by the time it binds). */
export async function freeUdpPort(address: string): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, address, () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  // SIPp takes an even port for RTP and the next for RTCP
  return port - (port % 2);
}

/** the last of a caller's media ports from `port` (its RTP and RTCP pairs; the capture's marker port) */
export const lastMediaPort = (port: number): number => Math.min(port + MEDIA_PORT_SPAN, 65535);

/** a caller's media ports as the capture filters them (`udp portrange`): "first-last" */
export const mediaPortRange = (port: number): string => `${port}-${lastMediaPort(port)}`;

export function dumpcapArgv(bin: string, port: number): string[] {
  return [
    bin,
    "-i",
    "lo",
    "-P",
    "-q",
    "-B",
    String(CAPTURE_BUFFER_MIB),
    "-f",
    `udp portrange ${mediaPortRange(port)}`,
    "-w",
    "-",
  ];
}

/** The packets dumpcap says it dropped, from its closing statistics ("received/dropped on interface 'lo': 10/2"). */
export function dumpcapDropped(lines: readonly string[]): number | undefined {
  let dropped: number | undefined;
  for (const l of lines) {
    const m = /received\/dropped on interface .*?: (\d+)\/(\d+)/.exec(l);
    if (m) dropped = (dropped ?? 0) + Number(m[2]);
  }
  return dropped;
}

/**
 * Start capturing the caller's media ports into `file` (at most `maxBytes` kept: the start and the
 * latest part), each RTP packet handed to `onPacket` as it is read; resolves once dumpcap has begun
 * its stream. A dumpcap that cannot start is exit 3; one that dies later, or a stream that ends or
 * breaks, is a `fault` said at once (`onFault`) and in the summary, never a hang.
 */
export async function startMediaCapture(o: {
  bin: string;
  address: string;
  file: string;
  cwd: string;
  signal: AbortSignal;
  maxBytes?: number;
  onPacket?: (p: RtpPacket) => void;
  onFault?: (why: string) => void;
  /** the caller's media base port, when the run picked it (port-ranges.ts); else a free one now */
  port?: number;
}): Promise<MediaCapture> {
  const port = o.port ?? (await freeUdpPort(o.address));
  const marker = lastMediaPort(port);
  const stream = new CaptureStream({
    file: o.file,
    markerPort: marker,
    ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
    onPacket: (p) => o.onPacket?.(p),
  });
  let fault: string | undefined;
  let stopping = false;
  let proc: SippProcess | undefined;
  let exit: SippExit | undefined;
  const broke = (why: string): void => {
    // an interrupted run stops dumpcap itself: no fault of the capture's
    if (fault !== undefined || stopping || o.signal.aborted) return;
    fault = why;
    // a capture that broke is stopped (no dumpcap left behind writing into nothing)
    void proc?.stop();
    o.onFault?.(why);
  };
  let streamEnded!: () => void;
  const ended = new Promise<void>((resolve) => (streamEnded = resolve));
  const pipe = openChildPipe(
    Buffer.allocUnsafe(READ_BUFFER_BYTES),
    (n, b) => {
      if (fault !== undefined) return;
      try {
        stream.push(b.subarray(0, n));
      } catch (e) {
        broke(`dumpcap's stream could not be read: ${(e as Error).message}`);
      }
    },
    (e) => {
      streamEnded();
      if (e) broke(`dumpcap's stream broke off: ${e.message}`);
      // dumpcap gone: its exit (a moment later) says why, this only if it does not come
      else if (!stopping)
        setTimeout(() => broke("dumpcap's stream ended before the capture was stopped"), 2000).unref();
    },
  );
  try {
    proc = startSipp(dumpcapArgv(o.bin, port), { cwd: o.cwd, signal: o.signal, stdout: pipe.writeFd });
  } finally {
    pipe.closeWriteEnd();
  }
  const running = proc;
  void running.done.then((x) => {
    exit = x;
    if (!stopping) broke(`dumpcap exited before the capture was stopped (${exitText(x)})`);
  });
  const deadline = performance.now() + 10_000;
  while (!stream.started) {
    if (exit !== undefined || fault !== undefined || performance.now() > deadline || o.signal.aborted) {
      stopping = true;
      await running.stop();
      pipe.socket.destroy();
      const x = await running.done;
      throw new EnvironmentError(
        `dumpcap did not start capturing the caller's media on lo (capturing needs root or dumpcap's capabilities; --media off places calls without audio): ${fault ?? (x.outputTail.join("; ") || "no output")}`,
      );
    }
    await delay(20);
  }
  /** wait (at most 5 s) until a marker sent now came through the stream: everything captured before it was read */
  const flushed = async (): Promise<void> => {
    const s = createSocket("udp4");
    s.on("error", () => undefined);
    stream.markerSeen = false;
    const until = performance.now() + 5000;
    try {
      for (let sent = 0; !stream.markerSeen && fault === undefined && performance.now() < until; sent++) {
        if (sent % 10 === 0) s.send(Buffer.alloc(12), marker, o.address);
        await delay(20);
      }
    } finally {
      s.close();
    }
  };
  let stopped: Promise<MediaCaptureSummary> | undefined;
  return {
    port,
    file: o.file,
    get records() {
      return stream.records;
    },
    get fault() {
      return fault;
    },
    stop() {
      stopped ??= (async () => {
        if (fault === undefined && exit === undefined) await flushed();
        stopping = true;
        await running.stop();
        const x = await running.done;
        // everything dumpcap wrote before it exited is read (its end of the pipe is closed: the end comes)
        const late = setTimeout(() => pipe.socket.destroy(), 5000);
        await ended;
        clearTimeout(late);
        pipe.socket.destroy();
        let fileFault: string | undefined;
        await stream.close().catch((e: unknown) => (fileFault = (e as Error).message));
        return {
          records: stream.records,
          packets: stream.packets,
          kept: stream.kept()!,
          dropped: dumpcapDropped(x.outputTail),
          fault: fault ?? fileFault,
        };
      })();
      return stopped;
    },
  };
}

/** "exit 2: <its last lines>" */
function exitText(x: SippExit): string {
  const how = x.signal ? `signal ${x.signal}` : x.code === null ? x.description : `exit ${x.code}`;
  return [how, ...x.outputTail.slice(-3)].join(": ");
}
