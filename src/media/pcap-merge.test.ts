import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pcapHeaderOf } from "./pcap-format.js";
import { mergePcapFiles } from "./pcap-merge.js";
import { pcapOf, rtp, type Frame } from "./pcap-fixture.js";
import { rtpPacketsOf } from "./rtp.js";

const T0 = 1_700_000_000_000;
const frames = (port: number, ssrc: number, times: number[]): Frame[] =>
  times.map((ms, i) => ({
    src: ["127.0.0.1", port],
    dst: ["127.0.0.1", 6000],
    payload: rtp(ssrc, 0, i, i * 160),
    ms: T0 + ms,
  }));

function inDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "pcap-merge-"));
  return body(dir).finally(() => rmSync(dir, { recursive: true }));
}

test("mergePcapFiles: every record of every input once, in capture-time order, ties in input order, whatever the read size", () =>
  inDir(async (dir) => {
    // a: 0, 40, 80 ... ms; b: 20, 60 ... ms and one at 40 ms (tie with a's second); c: empty (a capture of nothing)
    const a = frames(30000, 1, [0, 40, 80, 120, 160]);
    const b = frames(31000, 2, [20, 40, 60, 100]);
    const files = ["a", "b", "c"].map((n) => path.join(dir, `${n}.pcap`));
    writeFileSync(files[0]!, pcapOf(a));
    writeFileSync(files[1]!, pcapOf(b));
    writeFileSync(files[2]!, pcapOf([]));
    const out = path.join(dir, "media.pcap");
    // a record is 230 bytes: 7, 100 and 229 cut records (and the 24-byte header) apart
    for (const chunk of [7, 100, 229, undefined]) {
      assert.equal(await mergePcapFiles(files, out, chunk), 9, `chunk ${chunk}`);
      const got = rtpPacketsOf(readFileSync(out)).map((p) => [Math.round(p.ms - T0), p.src, p.ssrc]);
      assert.deepEqual(
        got,
        [
          [0, "127.0.0.1:30000", 1],
          [20, "127.0.0.1:31000", 2],
          [40, "127.0.0.1:30000", 1],
          [40, "127.0.0.1:31000", 2],
          [60, "127.0.0.1:31000", 2],
          [80, "127.0.0.1:30000", 1],
          [100, "127.0.0.1:31000", 2],
          [120, "127.0.0.1:30000", 1],
          [160, "127.0.0.1:30000", 1],
        ],
        `chunk ${chunk}`,
      );
    }
    // the records are the inputs' bytes unchanged: the output is the header plus every input's records
    assert.equal(
      readFileSync(out).length,
      24 + (readFileSync(files[0]!).length - 24) + (readFileSync(files[1]!).length - 24),
    );
    assert.deepEqual(readdirSync(dir).sort(), ["a.pcap", "b.pcap", "c.pcap", "media.pcap"], "no temp file left");
  }));

test("mergePcapFiles: a last record cut short is left out; the snapshot length is the largest", () =>
  inDir(async (dir) => {
    const a = pcapOf(frames(30000, 1, [0, 20]));
    const b = Buffer.from(pcapOf(frames(31000, 2, [10])));
    b.writeUInt32LE(262_144, 16);
    const files = [path.join(dir, "a.pcap"), path.join(dir, "b.pcap")];
    writeFileSync(files[0]!, a.subarray(0, a.length - 50));
    writeFileSync(files[1]!, b);
    const out = path.join(dir, "media.pcap");
    assert.equal(await mergePcapFiles(files, out), 2);
    assert.equal(pcapHeaderOf(readFileSync(out), out).snaplen, 262_144);
  }));

test("mergePcapFiles: an input missing, not a pcap, corrupt or of another link type rejects naming it; the output is left as it was", () =>
  inDir(async (dir) => {
    const good = path.join(dir, "good.pcap");
    writeFileSync(good, pcapOf(frames(30000, 1, [0, 20])));
    const out = path.join(dir, "media.pcap");
    writeFileSync(out, "before");
    const bad = (name: string, bytes: Buffer): string => {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      return f;
    };
    const corrupt = Buffer.from(pcapOf(frames(31000, 2, [0])));
    corrupt.writeUInt32LE(0x7fffffff, 24 + 8);
    const raw = Buffer.from(pcapOf(frames(31000, 2, [0])));
    raw.writeUInt32LE(101, 20);
    const cases: [string, RegExp][] = [
      [path.join(dir, "missing.pcap"), /ENOENT/],
      [bad("short.pcap", Buffer.from("abc")), /short\.pcap: not a pcap file \(3 bytes\)/],
      [bad("text.pcap", Buffer.alloc(40, 0x41)), /text\.pcap: not a classic pcap file \(magic 0x41414141\)/],
      [bad("corrupt.pcap", corrupt), /corrupt\.pcap: corrupt record at byte 24/],
      [bad("raw.pcap", raw), /raw\.pcap: another byte order, timestamp resolution or link type than .*good\.pcap/],
    ];
    for (const [file, why] of cases) {
      await assert.rejects(mergePcapFiles([good, file], out), why, file);
      assert.equal(readFileSync(out, "utf8"), "before", file);
    }
    assert.ok(
      readdirSync(dir).every((n) => !n.includes(".tmp-")),
      readdirSync(dir).join(", "),
    );
    await assert.rejects(mergePcapFiles([], out), /no pcap file to merge/);
  }));
