/**
 * The caller's RTP on loopback, written by dumpcap (Wireshark's capture engine) to a classic pcap
 * file: a capture filter keeps only the UDP ports the caller's media may use, so SIP and other
 * traffic on the machine stay out. The file is the evidence (it opens in Wireshark and tshark's RTP
 * stream analysis) and what src/sim/media.ts counts.
 */
import { createSocket } from "node:dgram";
import { stat } from "node:fs/promises";
import { EnvironmentError } from "../core/errors.js";
import { readRange } from "../files/read-range.js";
import { delay } from "../core/scope.js";
import { startSipp, type SippProcess } from "../sipp/runner.js";

/** ports above the caller's -mp that SIPp may move its media sockets to when one is taken */
export const MEDIA_PORT_SPAN = 40;

export interface MediaCapture {
  /** the caller's media base port (SIPp -mp) */
  port: number;
  file: string;
  /** stop capturing; resolves once the file is complete */
  stop(): Promise<void>;
}

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

/**
 * Where the flush marker (a UDP datagram to `port` whose payload is 12 zero bytes: not RTP) sits in
 * raw capture bytes (the offset of its UDP header's destination port), or -1: destination port and
 * length 20, then the zeros (the checksum between them not compared).
 */
export function markerAt(bytes: Buffer, port: number): number {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(port, 0);
  head.writeUInt16BE(8 + 12, 2);
  for (let at = bytes.indexOf(head); at >= 0; at = bytes.indexOf(head, at + 1)) {
    const payload = at + 6;
    if (payload + 12 > bytes.length) return -1;
    if (bytes.subarray(payload, payload + 12).every((b) => b === 0)) return at;
  }
  return -1;
}

/**
 * Wait (at most 5 s) until everything captured so far is in the file: dumpcap hands packets over in
 * blocks, so a datagram sent now to the last captured port (not RTP: a version-0 payload) shows up in
 * the file after every earlier packet. Only what the file gains from now on is read, in bounded chunks.
 */
async function flushed(address: string, markerPort: number, file: string): Promise<void> {
  const s = createSocket("udp4");
  s.on("error", () => undefined);
  const deadline = performance.now() + 5000;
  let pos = await stat(file).then(
    (st) => st.size,
    () => 0,
  );
  // the last bytes of the previous chunk, for a marker split across two reads
  let tail = Buffer.alloc(0);
  const markerSeen = async (): Promise<boolean> => {
    for (;;) {
      const { data, from } = await readRange(file, pos);
      if (from !== pos || data.length === 0) return false;
      pos += data.length;
      const bytes = Buffer.concat([tail, data]);
      if (markerAt(bytes, markerPort) >= 0) return true;
      tail = Buffer.from(bytes.subarray(Math.max(0, bytes.length - 19)));
    }
  };
  try {
    for (let sent = 0; performance.now() < deadline; sent++) {
      if (sent % 10 === 0) s.send(Buffer.alloc(12), markerPort, address);
      if (await markerSeen()) return;
      await delay(50);
    }
  } finally {
    s.close();
  }
}

export function dumpcapArgv(bin: string, port: number, file: string): string[] {
  const last = Math.min(port + MEDIA_PORT_SPAN, 65535);
  return [bin, "-i", "lo", "-P", "-q", "-f", `udp portrange ${port}-${last}`, "-w", file];
}

/** Start capturing the caller's media ports; resolves once dumpcap has written the file's header. */
export async function startMediaCapture(o: {
  bin: string;
  address: string;
  file: string;
  cwd: string;
  signal: AbortSignal;
}): Promise<MediaCapture> {
  const port = await freeUdpPort(o.address);
  const proc: SippProcess = startSipp(dumpcapArgv(o.bin, port, o.file), { cwd: o.cwd, signal: o.signal });
  let exited = false;
  void proc.done.then(() => (exited = true));
  const deadline = performance.now() + 10_000;
  for (;;) {
    const size = await stat(o.file).then(
      (s) => s.size,
      () => 0,
    );
    if (size >= 24) break;
    if (exited || performance.now() > deadline) {
      await proc.stop();
      const tail = (await proc.done).outputTail.join("; ");
      throw new EnvironmentError(
        `dumpcap did not start capturing the caller's media on lo (capturing needs root or dumpcap's capabilities; --media off places calls without audio): ${tail || "no output"}`,
      );
    }
    await delay(20, o.signal);
  }
  const marker = Math.min(port + MEDIA_PORT_SPAN, 65535);
  return {
    port,
    file: o.file,
    async stop() {
      if (!exited) await flushed(o.address, marker, o.file);
      await proc.stop();
    },
  };
}
