import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import { CaptureStream } from "./capture-stream.js";
import { pcapOf, rtp } from "./pcap-fixture.js";
import type { RtpPacket } from "./rtp.js";

const CALLER: [string, number] = ["127.0.0.1", 30000];
const PBX: [string, number] = ["127.0.0.1", 6000];
const MARKER = 30040;

/** `n` RTP packets of 3 calls, 20 ms apart, as dumpcap's stream (a record is 16 + 14 + 20 + 8 + 172 = 230 bytes) */
const streamOf = (n: number, marker = false): Buffer =>
  pcapOf([
    ...Array.from({ length: n }, (_, i) => ({
      src: i % 2 ? PBX : CALLER,
      dst: i % 2 ? CALLER : PBX,
      payload: rtp(SIPP_BASE_SSRC + (i % 3), 0, i, i * 160),
      ms: 1_700_000_000_000 + 20 * i,
    })),
    ...(marker ? [{ src: CALLER, dst: ["127.0.0.1", MARKER] as [string, number], payload: Buffer.alloc(12) }] : []),
  ]);

/** push `bytes` in pieces of random sizes (1 byte to 8 KB) through one reused buffer */
function pushInPieces(s: CaptureStream, bytes: Buffer, seed: number): void {
  const buf = Buffer.alloc(8192);
  let x = seed;
  for (let at = 0; at < bytes.length;) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = bytes.copy(buf, 0, at, Math.min(bytes.length, at + 1 + (x % buf.length)));
    s.push(buf.subarray(0, n));
    buf.fill(0xee);
    at += n;
  }
}

test("CaptureStream under a cap: media.pcap and its segments stay under it, the start and the latest records kept byte for byte, every packet counted", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "capture-stream-"));
  try {
    const n = 20_000; // 4.6 MB of records
    const bytes = streamOf(n);
    const maxBytes = 1024 * 1024;
    const counted: RtpPacket[] = [];
    const s = new CaptureStream({
      file: path.join(dir, "media.pcap"),
      maxBytes,
      markerPort: MARKER,
      onPacket: (p) => counted.push(p),
    });
    pushInPieces(s, bytes, 7);
    await s.close();
    assert.equal(counted.length, n);
    assert.equal(s.records, n);
    assert.equal(s.packets, n);
    const k = s.kept()!;
    assert.equal(k.maxBytes, maxBytes);
    assert.ok(k.dropped.files > 0, "segments were let go");
    assert.equal(k.records + k.dropped.records, n);
    const onDisk = readdirSync(dir).sort();
    assert.deepEqual([...onDisk].sort(), [...k.files].sort());
    const total = onDisk.reduce((t, f) => t + statSync(path.join(dir, f)).size, 0);
    assert.equal(total, k.bytes);
    assert.ok(total <= maxBytes, `${total} bytes on disk, over the ${maxBytes} cap`);
    // the first file: the stream's own header and its first records; the last: its last record
    const first = readFileSync(path.join(dir, "media.pcap"));
    assert.ok(first.subarray(0, 24 + 230 * 10).equals(bytes.subarray(0, 24 + 230 * 10)));
    const last = readFileSync(path.join(dir, k.files.at(-1)!));
    assert.ok(last.subarray(0, 24).equals(bytes.subarray(0, 24)));
    assert.ok(last.subarray(last.length - 230).equals(bytes.subarray(bytes.length - 230)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CaptureStream without a cap keeps the stream as it came; the flush marker is seen and not counted as media", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "capture-stream-"));
  try {
    const bytes = streamOf(500, true);
    let counted = 0;
    const s = new CaptureStream({ file: path.join(dir, "media.pcap"), markerPort: MARKER, onPacket: () => counted++ });
    assert.equal(s.started, false);
    s.push(bytes.subarray(0, 24));
    assert.equal(s.started, true, "the file opens with the header");
    pushInPieces(s, bytes.subarray(24), 3);
    await s.close();
    assert.equal(counted, 500);
    assert.equal(s.records, 501);
    assert.equal(s.markerSeen, true);
    assert.ok(readFileSync(path.join(dir, "media.pcap")).equals(bytes));
    assert.equal(s.kept()!.dropped.files, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CaptureStream: bytes that are no pcap stream throw (the capture's fault), nothing counted", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "capture-stream-"));
  try {
    let counted = 0;
    const s = new CaptureStream({ file: path.join(dir, "media.pcap"), markerPort: MARKER, onPacket: () => counted++ });
    assert.throws(() => s.push(Buffer.from("Capturing on 'Loopback: lo'\nFile: -\n")), /not a classic pcap/);
    assert.equal(counted, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
