import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { chunksOf, readRange } from "./read-range.js";

function tmp(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "read-range-"));
  return { dir, file: path.join(dir, "f.bin") };
}

test("readRange: at most maxBytes from pos, the size it saw; nothing for a file not there yet", async () => {
  const { dir, file } = tmp();
  try {
    assert.deepEqual(await readRange(file, 0, 4), { data: Buffer.alloc(0), from: 0, size: 0 });
    writeFileSync(file, "0123456789");
    const r = await readRange(file, 3, 4);
    assert.equal(r.data.toString(), "3456");
    assert.equal(r.from, 3);
    assert.equal(r.size, 10);
    assert.equal((await readRange(file, 8, 4)).data.toString(), "89");
    assert.equal((await readRange(file, 10, 4)).data.length, 0);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("readRange: a file shorter than pos (recreated) is read from 0", async () => {
  const { dir, file } = tmp();
  try {
    writeFileSync(file, "abc");
    const r = await readRange(file, 10, 2);
    assert.equal(r.from, 0);
    assert.equal(r.data.toString(), "ab");
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("chunksOf: the whole file in chunks of at most maxBytes, including what it gained while read", async () => {
  const { dir, file } = tmp();
  try {
    writeFileSync(file, "abcdefg");
    const seen: string[] = [];
    for await (const c of chunksOf(file, 1, 3)) {
      seen.push(c.toString());
      if (seen.length === 1) appendFileSync(file, "hij");
    }
    assert.deepEqual(seen, ["bcd", "efg", "hij"]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
