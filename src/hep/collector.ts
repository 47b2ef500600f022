/**
 * The HEP collector: one UDP socket on loopback that receives what Kamailio's siptrace mirrors,
 * decodes each datagram (src/hep/decode.ts) and hands packets to its consumer. Malformed datagrams
 * are counted, never fatal; the kernel's drop counter for the socket is read from /proc/net/udp;
 * `forward` relays every datagram unchanged (to a Homer, another collector).
 */
import dgram from "node:dgram";
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { EnvironmentError } from "../core/errors.js";
import { describePortInUse, findPortOwner, udpSocketCounters } from "../os/ports.js";
import { Worker } from "node:worker_threads";
import { readInRounds } from "./collector-rounds.js";
import type { CollectorWorkerData, CollectorWorkerMessage } from "./collector-worker.js";
import { decodeHep, type HepMalformation, type HepMalformationReason, type HepPacket } from "./decode.js";
import type { HepForwardTarget } from "./forward-target.js";

/**
 * Receive buffer asked for: the lab's knee (1000 calls/s x ~14 mirrored messages) is ~14,000
 * datagrams/s, each costing ~2 KiB of kernel buffer (skb truesize for a 600-800 byte datagram on
 * loopback): 16 MiB rides out ~0.5 s without a read. Linux caps the request at net.core.rmem_max
 * (raise it to get more) and doubles what it grants; `stats().recvBufferBytes` says what we got.
 */
export const DEFAULT_RECV_BUFFER_BYTES = 16 * 1024 * 1024;

export interface HepCollectorOptions {
  /** loopback address to bind (the caller validates it) */
  address: string;
  /** UDP port; 0 = an ephemeral port (read `port` after start) */
  port: number;
  recvBufferBytes?: number;
  /** relay every datagram, valid or not, unchanged */
  forward?: HepForwardTarget;
  onPacket?: (packet: HepPacket, datagram: Buffer) => void;
  onMalformed?: (m: HepMalformation, datagram: Buffer) => void;
  /**
   * Read in rounds: once the socket's queue is empty, stop reading for this long (ms), so the
   * kernel gathers the next datagrams and one wake-up reads them all, instead of one wake-up of
   * this process per mirrored message (which Kamailio's sendto pays for too). 0 = read continuously.
   * The receive buffer holds far more than a round at the lab's knee (14,000 datagrams/s: ~70 per 5 ms).
   */
  readPauseMs?: number;
  /**
   * Read the socket on a thread of its own (src/hep/collector-worker.ts): the main thread still
   * decodes and hands over every datagram, in batches, but while it is busy (a collection, a phase's
   * verdicts) the socket is still read, so the kernel does not drop what arrives meanwhile.
   */
  thread?: boolean;
}

export interface HepCollectorStats {
  datagrams: number;
  packets: number;
  malformed: number;
  malformedByReason: Partial<Record<HepMalformationReason, number>>;
  /** the first malformation seen, for a report line */
  firstMalformation: HepMalformation | undefined;
  forwarded: number;
  forwardErrors: number;
  firstForwardError: string | undefined;
  /** errors the receiving socket reported after bind (rare on UDP) */
  socketErrors: number;
  /** datagrams the kernel dropped on this socket (buffer full); undefined when /proc cannot be read */
  kernelDrops: number | undefined;
  /** the receive buffer the kernel granted, in bytes */
  recvBufferBytes: number;
  /** time of the last datagram (performance.now()), undefined before the first */
  lastDatagramAt: number | undefined;
  /** the latest capture time (HEP timestamp, epoch µs) of a packet read so far */
  latestCaptureUs: number | undefined;
}

export interface HepCollector {
  readonly address: string;
  readonly port: number;
  stats(): HepCollectorStats;
  /**
   * Resolves once nothing has arrived for `quietMs` and the socket's receive queue is empty (or after
   * `maxMs`): the way to be sure the last mirrored messages were read.
   */
  settle(quietMs?: number, maxMs?: number): Promise<void>;
  /**
   * Resolves once a packet Kamailio captured at or after `captureMs` (epoch ms, HEP time) was read, or
   * the socket is settled (quiet and empty), or after `maxMs`: everything mirrored before `captureMs`
   * is in, also while traffic never pauses (settle would wait out its maxMs then).
   */
  settleUntil(captureMs: number, quietMs?: number, maxMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The pause between read rounds (see `readPauseMs`). */
export const DEFAULT_READ_PAUSE_MS = 5;

/** A bound socket, read here or on its own thread: hands every datagram to `onDatagram`. */
interface BoundSocket {
  port: number;
  recvBufferBytes: number;
  start(onDatagram: (d: Buffer) => void, onError: () => void): void;
  /** true when every datagram the socket received was handed to onDatagram */
  handedOver(): boolean;
  close(): Promise<void>;
}

function bindFailed(opts: HepCollectorOptions, code: string | undefined, detail: string): EnvironmentError {
  if (code === "EADDRINUSE") {
    const owner = findPortOwner("udp", opts.address, opts.port);
    return new EnvironmentError(
      `HEP collector: ${describePortInUse({ proto: "udp", address: opts.address, port: opts.port, owner })}; nothing was started`,
      ["stop whatever holds it, or pick another port (--hep-port)"],
    );
  }
  return new EnvironmentError(
    `HEP collector: cannot bind ${opts.address}:${opts.port}/udp (${code ?? detail}); nothing was started`,
  );
}

/** The socket on this thread (read in rounds unless readPauseMs is 0). */
async function bindHere(opts: HepCollectorOptions): Promise<BoundSocket> {
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: false });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(opts.port, opts.address, () => {
        socket.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    socket.close();
    throw bindFailed(opts, (err as NodeJS.ErrnoException).code, String(err));
  }
  try {
    socket.setRecvBufferSize(opts.recvBufferBytes ?? DEFAULT_RECV_BUFFER_BYTES);
  } catch {
    /* the kernel refused the size: keep its default, stats() reports what we have */
  }
  const pause = opts.readPauseMs ?? DEFAULT_READ_PAUSE_MS;
  const rounds = pause > 0 ? readInRounds(socket, pause) : undefined;
  return {
    port: socket.address().port,
    recvBufferBytes: socket.getRecvBufferSize(),
    start(onDatagram, onError) {
      socket.on("error", onError);
      socket.on("message", onDatagram);
      if (rounds) socket.on("message", rounds.onDatagram);
    },
    handedOver: () => true,
    close() {
      rounds?.stop();
      return new Promise<void>((r) => socket.close(() => r()));
    },
  };
}

/** The socket on a thread of its own (collector-worker.ts): batches of datagrams posted to this thread. */
async function bindThread(opts: HepCollectorOptions): Promise<BoundSocket> {
  const counters = new SharedArrayBuffer(4);
  const received = new Int32Array(counters);
  let handed = 0;
  const data: CollectorWorkerData = {
    address: opts.address,
    port: opts.port,
    recvBufferBytes: opts.recvBufferBytes ?? DEFAULT_RECV_BUFFER_BYTES,
    readPauseMs: opts.readPauseMs ?? DEFAULT_READ_PAUSE_MS,
    counters,
  };
  const worker = new Worker(new URL("./collector-worker.js", import.meta.url), { workerData: data });
  const exited = new Promise<void>((r) => worker.once("exit", () => r()));
  let onDatagram: ((d: Buffer) => void) | undefined;
  let onError: (() => void) | undefined;
  const first = await new Promise<CollectorWorkerMessage>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", resolve);
  });
  if (first.kind !== "bound") {
    await worker.terminate();
    const e = first.kind === "bind-error" ? first : { code: undefined, message: first.kind };
    throw bindFailed(opts, e.code, e.message);
  }
  worker.on("message", (m: CollectorWorkerMessage) => {
    if (m.kind === "socket-error") onError?.();
    if (m.kind !== "batch") return;
    const all = Buffer.from(m.data);
    let at = 0;
    for (const n of m.lengths) {
      const d = all.subarray(at, at + n);
      at += n;
      handed++;
      onDatagram?.(d);
    }
  });
  // an error after bind (it should not happen) is counted like a socket's
  worker.on("error", () => onError?.());
  return {
    port: first.port,
    recvBufferBytes: first.recvBufferBytes,
    start(d, e) {
      onDatagram = d;
      onError = e;
    },
    handedOver: () => handed >= Atomics.load(received, 0),
    async close() {
      worker.postMessage("close");
      // the socket closed and its last batch posted, then the thread ends; at most a second
      const timer = setTimeout(() => void worker.terminate(), 1000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Forward {
  /** relays one datagram unchanged; `done` gets the send's error, or null */
  send(datagram: Buffer, done: (err: Error | null) => void): void;
  onError(handler: (err: Error) => void): void;
  close(): Promise<void>;
}

/** The socket `--hep-forward` relays through; a host that does not resolve is exit 3. */
async function openForward(target: HepForwardTarget): Promise<Forward> {
  let resolved: { address: string; family: number };
  try {
    resolved = await lookup(target.host);
  } catch (err) {
    throw new EnvironmentError(
      `--hep-forward ${target.host}:${target.port}: cannot resolve ${target.host} (${(err as Error).message}); nothing was started`,
      ["give an address, or a name this machine resolves"],
    );
  }
  const socket = dgram.createSocket(resolved.family === 6 ? "udp6" : "udp4");
  let closed: Promise<void> | undefined;
  return {
    send(datagram, done) {
      // a datagram the collector's thread hands over while the run stops: counted as not forwarded,
      // never a send on a closed socket (which throws)
      if (closed) return done(new Error("received after the forward socket closed"));
      try {
        socket.send(datagram, target.port, resolved.address, done);
      } catch (err) {
        done(err instanceof Error ? err : new Error(String(err)));
      }
    },
    onError(handler) {
      socket.on("error", handler);
    },
    close() {
      closed ??= new Promise<void>((r) => socket.close(() => r()));
      return closed;
    },
  };
}

/** Bind the collector; a taken fixed port is exit 3 naming its owner, a forward host that does not resolve too. */
export async function startHepCollector(opts: HepCollectorOptions): Promise<HepCollector> {
  const forward = opts.forward ? await openForward(opts.forward) : undefined;

  let bound: BoundSocket;
  try {
    bound = opts.thread === true ? await bindThread(opts) : await bindHere(opts);
  } catch (err) {
    void forward?.close();
    throw err;
  }
  const port = bound.port;
  const s: HepCollectorStats = {
    datagrams: 0,
    packets: 0,
    malformed: 0,
    malformedByReason: {},
    firstMalformation: undefined,
    forwarded: 0,
    forwardErrors: 0,
    firstForwardError: undefined,
    socketErrors: 0,
    kernelDrops: undefined,
    recvBufferBytes: bound.recvBufferBytes,
    lastDatagramAt: undefined,
    latestCaptureUs: undefined,
  };
  const onForwarded = (err: Error | null): void => {
    if (err) {
      s.forwardErrors++;
      s.firstForwardError ??= err.message;
    } else {
      s.forwarded++;
    }
  };
  forward?.onError(onForwarded);

  const onDatagram = (datagram: Buffer): void => {
    s.datagrams++;
    s.lastDatagramAt = performance.now();
    forward?.send(datagram, onForwarded);
    const r = decodeHep(datagram);
    if (r.ok) {
      s.packets++;
      const us = r.packet.tsSec * 1_000_000 + r.packet.tsUsec;
      if (s.latestCaptureUs === undefined || us > s.latestCaptureUs) s.latestCaptureUs = us;
      opts.onPacket?.(r.packet, datagram);
    } else {
      s.malformed++;
      s.malformedByReason[r.malformation.reason] = (s.malformedByReason[r.malformation.reason] ?? 0) + 1;
      s.firstMalformation ??= r.malformation;
      opts.onMalformed?.(r.malformation, datagram);
    }
  };
  // after bind, socket errors are counted and reported, never thrown
  bound.start(onDatagram, () => s.socketErrors++);

  const kernel = (): ReturnType<typeof udpSocketCounters> => {
    try {
      return udpSocketCounters(readFileSync("/proc/net/udp", "utf8"), opts.address, port);
    } catch {
      return undefined;
    }
  };
  let closed = false;
  return {
    address: opts.address,
    port,
    stats() {
      const k = closed ? undefined : kernel();
      if (k) s.kernelDrops = k.drops;
      return { ...s, malformedByReason: { ...s.malformedByReason } };
    },
    async settle(quietMs = 50, maxMs = 3000) {
      const deadline = performance.now() + maxMs;
      for (;;) {
        const now = performance.now();
        const quiet = s.lastDatagramAt === undefined || now - s.lastDatagramAt >= quietMs;
        if ((quiet && bound.handedOver() && (kernel()?.rxQueueBytes ?? 0) === 0) || now >= deadline) return;
        await new Promise((r) => setTimeout(r, Math.min(quietMs, 20)));
      }
    },
    async settleUntil(captureMs: number, quietMs = 50, maxMs = 3000) {
      const deadline = performance.now() + maxMs;
      for (;;) {
        const now = performance.now();
        if ((s.latestCaptureUs ?? 0) >= captureMs * 1000 || now >= deadline) return;
        const quiet = s.lastDatagramAt === undefined || now - s.lastDatagramAt >= quietMs;
        if (quiet && bound.handedOver() && (kernel()?.rxQueueBytes ?? 0) === 0) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async close() {
      if (closed) return;
      // the last figure from the kernel before the socket goes away
      const k = kernel();
      if (k) s.kernelDrops = k.drops;
      closed = true;
      // the receiving side first: what it still hands over is forwarded before the forward socket goes
      await bound.close();
      await forward?.close();
    },
  };
}
