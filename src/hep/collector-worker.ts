/**
 * The HEP collector's socket on a thread of its own (src/hep/collector.ts, `thread: true`): it binds,
 * reads in rounds and hands what it read to the main thread in batches, one message per turn of its
 * event loop (one transferred buffer: the datagrams back to back, with their lengths). The main
 * thread decodes and books them as before; what the main thread is busy with (a collection, a
 * phase's verdicts, results.json) no longer keeps the socket unread until the kernel drops.
 */
import dgram from "node:dgram";
import { parentPort, workerData } from "node:worker_threads";
import { readInRounds } from "./collector-rounds.js";

export interface CollectorWorkerData {
  address: string;
  port: number;
  recvBufferBytes: number;
  readPauseMs: number;
  /** Int32Array over a SharedArrayBuffer: [0] datagrams received by the socket so far */
  counters: SharedArrayBuffer;
}

export type CollectorWorkerMessage =
  | { kind: "bound"; port: number; recvBufferBytes: number }
  | { kind: "bind-error"; code: string | undefined; message: string }
  | { kind: "batch"; data: ArrayBuffer; lengths: Uint32Array }
  | { kind: "socket-error" };

const port = parentPort!;
const d = workerData as CollectorWorkerData;
const received = new Int32Array(d.counters);
const post = (m: CollectorWorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

const socket = dgram.createSocket({ type: "udp4", reuseAddr: false });
let batch: Buffer[] = [];
let bytes = 0;
let scheduled = false;

const flush = (): void => {
  scheduled = false;
  if (batch.length === 0) return;
  const data = new ArrayBuffer(bytes);
  const view = new Uint8Array(data);
  const lengths = new Uint32Array(batch.length);
  let at = 0;
  for (let i = 0; i < batch.length; i++) {
    const b = batch[i]!;
    view.set(b, at);
    lengths[i] = b.length;
    at += b.length;
  }
  batch = [];
  bytes = 0;
  post({ kind: "batch", data, lengths }, [data, lengths.buffer]);
};

socket.once("error", (err: NodeJS.ErrnoException) => {
  post({ kind: "bind-error", code: err.code, message: err.message });
});
socket.bind(d.port, d.address, () => {
  socket.removeAllListeners("error");
  socket.on("error", () => post({ kind: "socket-error" }));
  try {
    socket.setRecvBufferSize(d.recvBufferBytes);
  } catch {
    /* the kernel refused the size: keep its default, the main thread reports what we have */
  }
  const rounds = d.readPauseMs > 0 ? readInRounds(socket, d.readPauseMs) : undefined;
  socket.on("message", (datagram) => {
    batch.push(datagram);
    bytes += datagram.length;
    Atomics.add(received, 0, 1);
    rounds?.onDatagram();
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  port.on("message", (m: unknown) => {
    if (m !== "close") return;
    rounds?.stop();
    socket.close(() => {
      flush();
      port.close();
    });
  });
  post({ kind: "bound", port: socket.address().port, recvBufferBytes: socket.getRecvBufferSize() });
});
