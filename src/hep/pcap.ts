/**
 * HEP packets as a classic pcap file (the format Wireshark, tshark, tcpdump and sngrep open):
 * LINKTYPE_RAW, one record per mirrored SIP message, with an IPv4 (or IPv6) and UDP header
 * synthesized from the addresses, ports and capture time in the HEP packet. Encoding is pure;
 * `openPcapWriter` is the one place a file is written.
 */
import { createWriteStream } from "node:fs";
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

export interface PcapWriter {
  readonly path: string;
  write(p: HepPacket): void;
  /** records written so far */
  readonly records: number;
  /** flush and close; resolves when the file is complete (rejects on a write error) */
  close(): Promise<void>;
}

/**
 * Records are encoded straight into chunks of this size and each full chunk is one write (one write
 * per record, or a buffer per record joined later, costs more than the rest).
 */
const CHUNK_BYTES = 256 * 1024;
/** ...or after this long, so the file follows the capture while a run is live */
const FLUSH_MS = 250;

/** Create (truncate) `path` as a pcap file and append a record per packet; an unwritable path throws here. */
export function openPcapWriter(path: string): PcapWriter {
  // created empty with its mode (never through a symlink), then appended to
  writeFileAtomic(path, "", { mode: FileMode.public });
  const out = createWriteStream("", { fd: openAppend(path, FileMode.public) });
  let failure: Error | undefined;
  // a write error of the fd names no path: the fault names the file (exit 3)
  out.on("error", (err) => (failure ??= fileFault(err, path, "write") as Error));
  // the chunk being filled: `used` bytes of it are records not written yet (a written chunk is
  // handed to the stream and never touched again: the next one is a new buffer)
  let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = pcapGlobalHeader().copy(chunk, 0);
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (used === 0 || failure) return;
    out.write(chunk.subarray(0, used));
    chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    used = 0;
  };
  let records = 0;
  return {
    path,
    write(p) {
      if (failure) return;
      // a record is at most 16 + 40 + 8 + 65,535 bytes: always fits an empty chunk
      if (used + pcapRecordLength(p) > CHUNK_BYTES) flush();
      used = encodePcapRecord(p, chunk, used);
      timer ??= setTimeout(flush, FLUSH_MS).unref();
      records++;
    },
    get records() {
      return records;
    },
    close() {
      flush();
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
