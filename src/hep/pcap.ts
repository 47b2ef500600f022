/**
 * HEP packets as a classic pcap file (the format Wireshark, tshark, tcpdump and sngrep open):
 * LINKTYPE_RAW, one record per mirrored SIP message, with an IPv4 (or IPv6) and UDP header
 * synthesized from the addresses, ports and capture time in the HEP packet. Encoding is pure;
 * `openPcapWriter` is the one place a file is written.
 *
 * A long run's capture is capped (`maxBytes`): it is written in segments of an eighth of the cap,
 * `capture.pcap` (the run's start, always kept), then `capture.2.pcap`, `capture.3.pcap`, ...; once
 * the segments would exceed the cap the oldest after the first is deleted, so what is kept is the
 * start and the latest part of the run, and the writer says which files and how much it let go.
 */
import { createWriteStream, unlinkSync, type WriteStream } from "node:fs";
import path from "node:path";
import { fileFault } from "../core/errors.js";
import { FileMode, openAppend, writeFileAtomic } from "../files/atomic-write.js";
import type { HepPacket } from "./decode.js";

/** pcap's LINKTYPE_RAW: each record starts with an IPv4 or IPv6 header, no link layer */
export const LINKTYPE_RAW = 101;
const SNAPLEN = 65535;
const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const UDP_HEADER = 8;
const IPPROTO_UDP = 17;

/** The 24-byte pcap global header (microsecond timestamps, little-endian). */
export function pcapGlobalHeader(): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone: timestamps are UTC
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(SNAPLEN, 16);
  h.writeUInt32LE(LINKTYPE_RAW, 20);
  return h;
}

function writeIpv4(b: Buffer, at: number, a: string): void {
  let octet = 0;
  let i = at;
  for (let k = 0; k < a.length; k++) {
    const ch = a.charCodeAt(k);
    if (ch === 0x2e) {
      b[i++] = octet;
      octet = 0;
    } else {
      octet = octet * 10 + (ch - 0x30);
    }
  }
  b[i] = octet;
}

function ipv6Bytes(a: string): Buffer {
  const [head = "", tail] = a.split("::") as [string, string | undefined];
  const hg = head === "" ? [] : head.split(":");
  const tg = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? hg : [...hg, ...Array<string>(8 - hg.length - tg.length).fill("0"), ...tg];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return b;
}

/** One's-complement sum of 16-bit words, folded (the Internet checksum's core). */
function onesSum(b: Buffer, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let i = start; i + 1 < end; i += 2) sum += b.readUInt16BE(i);
  if ((end - start) % 2 === 1) sum += b[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One pcap record (16-byte record header + IP + UDP + payload) for a HEP packet. A message that
 * came over TCP is written as UDP too (the lab is UDP; the payload is what matters). A payload
 * too big for one IP packet is cut (the record's original length says how long it was).
 */
export function pcapRecord(p: HepPacket): Buffer {
  const b = Buffer.allocUnsafe(pcapRecordLength(p));
  encodePcapRecord(p, b, 0);
  return b;
}

function payloadCut(p: HepPacket): number {
  const v4 = p.ipFamily === "ipv4";
  return Math.min(p.payload.length, (v4 ? 65535 - IPV4_HEADER : 65535) - UDP_HEADER);
}

/** The bytes pcapRecord(p) takes. */
export function pcapRecordLength(p: HepPacket): number {
  return 16 + (p.ipFamily === "ipv4" ? IPV4_HEADER : IPV6_HEADER) + UDP_HEADER + payloadCut(p);
}

/** pcapRecord(p) written into `b` at `at` (pcapRecordLength(p) bytes from there); returns the offset after it. */
export function encodePcapRecord(p: HepPacket, b: Buffer, at: number): number {
  const v4 = p.ipFamily === "ipv4";
  const ipHeader = v4 ? IPV4_HEADER : IPV6_HEADER;
  const payloadLen = payloadCut(p);
  const udpLen = UDP_HEADER + payloadLen;
  const packetLen = ipHeader + udpLen;
  // headers zeroed, the payload part is overwritten by the copy below
  b.fill(0, at, at + 16 + ipHeader + UDP_HEADER);
  b.writeUInt32LE(p.tsSec, at);
  b.writeUInt32LE(p.tsUsec, at + 4);
  b.writeUInt32LE(packetLen, at + 8);
  b.writeUInt32LE(ipHeader + UDP_HEADER + p.payload.length, at + 12);
  const ip = at + 16;
  if (v4) {
    b[ip] = 0x45; // version 4, 5 words
    b.writeUInt16BE(packetLen, ip + 2);
    b.writeUInt16BE(0x4000, ip + 6); // don't fragment
    b[ip + 8] = 64; // TTL
    b[ip + 9] = IPPROTO_UDP;
    writeIpv4(b, ip + 12, p.src.address);
    writeIpv4(b, ip + 16, p.dst.address);
    b.writeUInt16BE(~onesSum(b, ip, ip + IPV4_HEADER) & 0xffff, ip + 10);
  } else {
    b.writeUInt32BE(0x60000000, ip); // version 6
    b.writeUInt16BE(udpLen, ip + 4);
    b[ip + 6] = IPPROTO_UDP;
    b[ip + 7] = 64; // hop limit
    ipv6Bytes(p.src.address).copy(b, ip + 8);
    ipv6Bytes(p.dst.address).copy(b, ip + 24);
  }
  const udp = ip + ipHeader;
  b.writeUInt16BE(p.src.port, udp);
  b.writeUInt16BE(p.dst.port, udp + 2);
  b.writeUInt16BE(udpLen, udp + 4);
  p.payload.copy(b, udp + UDP_HEADER, 0, payloadLen);
  if (!v4) {
    // IPv6 requires the UDP checksum: pseudo-header (addresses, length, next header) + datagram
    let sum = onesSum(b, ip + 8, ip + 40);
    sum = onesSum(b, udp, udp + udpLen, sum + udpLen + IPPROTO_UDP);
    b.writeUInt16BE(~sum & 0xffff || 0xffff, udp + 6);
  }
  // IPv4: UDP checksum 0 = none (allowed, and what Wireshark expects from synthesized packets)
  return udp + udpLen;
}

/** what a capped capture kept on disk and what it let go */
export interface PcapKept {
  /** the files kept, in capture order (base names, beside the first) */
  files: string[];
  /** records in the files kept */
  records: number;
  bytes: number;
  /** segments deleted to stay under the cap, and their records and bytes */
  dropped: { files: number; records: number; bytes: number };
  /** the cap (bytes); undefined: none */
  maxBytes: number | undefined;
}

/** HEP packets into a capped pcap file */
export type PcapWriter = PcapSegments<HepPacket>;

/**
 * Records are encoded straight into chunks of this size and each full chunk is one write (one write
 * per record, or a buffer per record joined later, costs more than the rest).
 */
const CHUNK_BYTES = 256 * 1024;
/** ...or after this long, so the file follows the capture while a run is live */
const FLUSH_MS = 250;
/** a capped capture is kept as at most this many segments: the first and the latest others */
export const PCAP_SEGMENTS = 8;
/** the smallest segment */
const MIN_SEGMENT_BYTES = 64 * 1024;

/** `capture.pcap` -> `capture.<n>.pcap` (n >= 2); segment 1 is the path itself */
export function pcapSegmentPath(file: string, n: number): string {
  if (n <= 1) return file;
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}.${n}${ext}`;
}

interface Segment {
  path: string;
  records: number;
  bytes: number;
}

/** How a segmented writer measures and encodes one record of its kind. */
export interface PcapRecordCodec<T> {
  /** the record's length in bytes (its 16-byte header included) */
  length(r: T): number;
  /** encode it at `at`; returns the offset after it */
  encode(r: T, b: Buffer, at: number): number;
}

/** A capture's segments: records of one kind appended, rotated under the cap. */
export interface PcapSegments<T> {
  readonly path: string;
  write(r: T): void;
  /** records written so far (kept or since dropped) */
  readonly records: number;
  /** the files kept and what was dropped so far */
  kept(): PcapKept;
  /** flush and close; resolves when the file is complete (rejects on a write error) */
  close(): Promise<void>;
}

/**
 * Create (truncate) `file` as a pcap file (each segment starts with `header`, by default ours:
 * LINKTYPE_RAW) and append a record per `write`; an unwritable path throws here. With `maxBytes` the
 * capture rotates through segments and stays under it (see above).
 */
export function openPcapSegments<T>(
  file: string,
  codec: PcapRecordCodec<T>,
  o: { maxBytes?: number; header?: Buffer } = {},
): PcapSegments<T> {
  const header = o.header ?? pcapGlobalHeader();
  const segmentMax =
    o.maxBytes === undefined ? Infinity : Math.max(MIN_SEGMENT_BYTES, Math.floor(o.maxBytes / PCAP_SEGMENTS));
  let failure: Error | undefined;
  const closing: Promise<void>[] = [];
  const segments: Segment[] = [];
  const dropped = { files: 0, records: 0, bytes: 0 };
  let out: WriteStream;
  let chunk: Buffer;
  let used: number;
  let current: Segment;
  const open = (n: number): void => {
    const p = pcapSegmentPath(file, n);
    // created empty with its mode (never through a symlink), then appended to
    writeFileAtomic(p, "", { mode: FileMode.public });
    const stream = createWriteStream("", { fd: openAppend(p, FileMode.public) });
    // a write error of the fd names no path: the fault names the file (exit 3)
    stream.on("error", (err) => (failure ??= fileFault(err, p, "write") as Error));
    out = stream;
    // the chunk being filled: `used` bytes of it are records not written yet (a written chunk is
    // handed to the stream and never touched again: the next one is a new buffer)
    chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    used = header.copy(chunk, 0);
    current = { path: p, records: 0, bytes: used };
    segments.push(current);
  };
  open(1);
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (used === 0 || failure) return;
    out.write(chunk.subarray(0, used));
    chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    used = 0;
  };
  const rotate = (): void => {
    flush();
    const done = out;
    closing.push(new Promise<void>((resolve) => done.end(() => resolve())));
    open(segments.length + dropped.files + 1);
    if (segments.length > PCAP_SEGMENTS) {
      const [gone] = segments.splice(1, 1);
      try {
        unlinkSync(gone!.path);
      } catch {
        // already gone: nothing to keep
      }
      dropped.files++;
      dropped.records += gone!.records;
      dropped.bytes += gone!.bytes;
    }
  };
  let records = 0;
  return {
    path: file,
    write(r) {
      if (failure) return;
      const len = codec.length(r);
      if (current.records > 0 && current.bytes + len > segmentMax) rotate();
      if (used + len > CHUNK_BYTES) flush();
      if (len > CHUNK_BYTES) {
        // bigger than a chunk (a foreign capture's record): written on its own
        const b = Buffer.allocUnsafe(len);
        codec.encode(r, b, 0);
        out.write(b);
      } else used = codec.encode(r, chunk, used);
      timer ??= setTimeout(flush, FLUSH_MS).unref();
      current.records++;
      current.bytes += len;
      records++;
    },
    get records() {
      return records;
    },
    kept() {
      return {
        files: segments.map((x) => path.basename(x.path)),
        records: segments.reduce((n, x) => n + x.records, 0),
        bytes: segments.reduce((n, x) => n + x.bytes, 0),
        dropped: { ...dropped },
        maxBytes: o.maxBytes,
      };
    },
    async close() {
      flush();
      await Promise.all(closing);
      return new Promise<void>((resolve, reject) => {
        if (failure) {
          out.destroy();
          reject(failure);
          return;
        }
        out.end(() => (failure ? reject(failure) : resolve()));
      });
    },
  };
}

/**
 * Create (truncate) `file` as a pcap file of HEP packets and append a record per packet; an
 * unwritable path throws here. With `maxBytes` the capture rotates through segments and stays under it.
 */
export function openPcapWriter(file: string, o: { maxBytes?: number } = {}): PcapWriter {
  return openPcapSegments(file, { length: pcapRecordLength, encode: encodePcapRecord }, o);
}

/** Records as they are (a capture's own, header included) into a pcap file of the same header. */
export const RAW_PCAP_RECORD: PcapRecordCodec<Buffer> = {
  length: (r) => r.length,
  encode: (r, b, at) => at + r.copy(b, at),
};

/** One line on what a capture kept: "capture.pcap (12.3 MB, 45,678 records)" or, capped, what was let go. */
export function pcapKeptText(k: PcapKept): string {
  const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MB`;
  const files = k.files.length === 1 ? k.files[0]! : `${k.files[0]} + ${k.files.slice(1).join(", ")}`;
  const kept = `${files} (${mb(k.bytes)}, ${k.records.toLocaleString("en-US")} records)`;
  if (k.dropped.files === 0) return kept;
  return (
    `${kept}: the run's start and its latest part, under the ${mb(k.maxBytes ?? 0)} cap; ` +
    `${k.dropped.files} segment(s) between them deleted (${mb(k.dropped.bytes)}, ${k.dropped.records.toLocaleString("en-US")} records)`
  );
}
