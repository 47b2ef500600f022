/**
 * Classic pcap files merged into one, every record kept, in capture-time order (what `mergecap`
 * does): sim's bursts each capture their caller's media ports, and the run keeps one `media.pcap`.
 * Each input is read in bounded chunks and held one record at a time, so memory does not grow with
 * the files. All inputs must share the byte order, timestamp resolution and link type (dumpcap on
 * `lo` writes the same header every time); the output takes the first one's header with the largest
 * snapshot length. It is written to a temporary file renamed over `output` once complete.
 */
import { closeSync, renameSync, rmSync, writeSync } from "node:fs";
import { stat } from "node:fs/promises";
import { chunksOf } from "../files/read-range.js";
import { createExclusive, FileMode, openAppend, tempPathFor } from "../files/atomic-write.js";
import { MAX_CAPLEN, PCAP_GLOBAL_HEADER, PCAP_RECORD_HEADER, pcapHeaderOf, type PcapHeader } from "./pcap-format.js";

const WRITE_CHUNK = 256 * 1024;

/** One record: its capture time (in the file's resolution: µs or ns since the epoch) and its bytes, header included. */
interface PcapRecord {
  at: bigint;
  bytes: Buffer;
}

/**
 * A pcap file's records one by one, read in bounded chunks; `header` gets the global header before the
 * first record. A last record cut short (the capture stopped mid-write) is left out.
 */
async function* recordsOf(
  file: string,
  header: (h: PcapHeader) => void,
  chunkBytes?: number,
): AsyncGenerator<PcapRecord, void> {
  // a missing file is an error of its own (chunksOf reads nothing from it)
  await stat(file);
  let pending: Buffer = Buffer.alloc(0);
  let h: PcapHeader | undefined;
  for await (const chunk of chunksOf(file, 0, chunkBytes)) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    if (!h) {
      if (pending.length < PCAP_GLOBAL_HEADER) continue;
      h = pcapHeaderOf(pending, file);
      header(h);
      at = PCAP_GLOBAL_HEADER;
    }
    const hh = h;
    const u32 = (o: number): number => (hh.littleEndian ? pending.readUInt32LE(o) : pending.readUInt32BE(o));
    const scale = hh.nanos ? 1_000_000_000n : 1_000_000n;
    while (pending.length - at >= PCAP_RECORD_HEADER) {
      const caplen = u32(at + 8);
      if (caplen > MAX_CAPLEN) throw new Error(`${file}: corrupt record at byte ${at} (captured length ${caplen})`);
      const len = PCAP_RECORD_HEADER + caplen;
      if (pending.length - at < len) break;
      yield { at: BigInt(u32(at)) * scale + BigInt(u32(at + 4)), bytes: Buffer.from(pending.subarray(at, at + len)) };
      at += len;
    }
    pending = pending.subarray(at);
  }
  if (!h) {
    pcapHeaderOf(pending, file);
  }
}

/**
 * Merge `inputs` into `output` (created or replaced; the inputs are left as they are). Records of equal
 * time keep the inputs' order. Resolves to the number of records written; rejects naming the file
 * when an input is missing, not a classic pcap, corrupt, or has another header than the first, and
 * then `output` is not touched. `chunkBytes`: how much of an input one read takes (default 4 MB).
 */
export async function mergePcapFiles(inputs: readonly string[], output: string, chunkBytes?: number): Promise<number> {
  if (inputs.length === 0) throw new Error("no pcap file to merge");
  const headers: PcapHeader[] = [];
  const sameAsFirst = (file: string) => (h: PcapHeader) => {
    const first = headers[0];
    if (first && (first.littleEndian !== h.littleEndian || first.nanos !== h.nanos || first.linktype !== h.linktype))
      throw new Error(`${file}: another byte order, timestamp resolution or link type than ${inputs[0]}`);
    headers.push(h);
  };
  const readers = inputs.map((f) => recordsOf(f, sameAsFirst(f), chunkBytes));
  const tmp = tempPathFor(output);
  let fd: number | undefined;
  try {
    const heads: (PcapRecord | undefined)[] = [];
    // the first records in input order, so each header is read (and checked) before anything is written
    for (const r of readers) heads.push(await nextOf(r));
    const out = Buffer.from(headers[0]!.bytes);
    const snaplen = Math.max(...headers.map((h) => h.snaplen));
    if (headers[0]!.littleEndian) out.writeUInt32LE(snaplen, 16);
    else out.writeUInt32BE(snaplen, 16);
    createExclusive(tmp, out, FileMode.public);
    fd = openAppend(tmp, FileMode.public);
    let written = 0;
    let buf: Buffer[] = [];
    let size = 0;
    for (;;) {
      let next = -1;
      for (let i = 0; i < heads.length; i++) if (heads[i] && (next < 0 || heads[i]!.at < heads[next]!.at)) next = i;
      if (next < 0) break;
      const rec = heads[next]!;
      buf.push(rec.bytes);
      size += rec.bytes.length;
      written++;
      if (size >= WRITE_CHUNK) {
        writeAll(fd, Buffer.concat(buf));
        buf = [];
        size = 0;
      }
      heads[next] = await nextOf(readers[next]!);
    }
    if (size > 0) writeAll(fd, Buffer.concat(buf));
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, output);
    return written;
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    await Promise.all(readers.map((r) => r.return(undefined)));
    throw err;
  }
}

async function nextOf(r: AsyncGenerator<PcapRecord, void>): Promise<PcapRecord | undefined> {
  const n = await r.next();
  return n.done ? undefined : n.value;
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
}
