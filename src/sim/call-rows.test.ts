import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { RESULTS_CALLS_MAX, RESULTS_NOT_COMPLETED_MAX, writeCallRows } from "./call-rows.js";

const row = (i: number, outcome = "completed"): Record<string, unknown> => ({
  callId: `c-${i}`,
  inviteBackend: i % 3 === 0 ? "new" : i % 7 === 0 ? "old+new" : "old",
  outcome,
});

function inDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), "call-rows-"));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = (file: string): Record<string, unknown>[] =>
  readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("up to the cap results.json lists every call, and calls.ndjson holds the same rows", () => {
  inDir((dir) => {
    const rows = Array.from({ length: 50 }, (_, i) => row(i, i === 7 ? "failed" : "completed"));
    const file = path.join(dir, "calls.ndjson");
    const { calls, listed } = writeCallRows(rows, file);
    assert.deepEqual(calls, rows);
    assert.deepEqual(lines(file), rows);
    assert.equal(listed.listed, "every call");
    assert.equal(listed.total, 50);
    assert.equal(listed.notCompleted, 1);
    assert.equal(listed.capped, undefined);
    const to = (b: string): number => rows.filter((r) => String(r["inviteBackend"]).split("+").includes(b)).length;
    assert.deepEqual(listed.byBackend, { old: to("old"), new: to("new") });
  });
});

test("above the cap results.json lists only the calls that did not complete, at most its own cap, and says so; every row is in calls.ndjson", () => {
  inDir((dir) => {
    const n = RESULTS_CALLS_MAX + 2_000;
    const bad = (i: number): boolean => i % 7 === 1; // ~1,714 calls, more than the list keeps
    let made = 0;
    const rows = (function* () {
      for (let i = 0; i < n; i++) {
        made++;
        yield row(i, bad(i) ? "failed" : "completed");
      }
    })();
    const file = path.join(dir, "calls.ndjson");
    const { calls, listed } = writeCallRows(rows, file);
    assert.equal(made, n);
    const failed = Array.from({ length: n }, (_, i) => i).filter(bad);
    assert.equal(listed.listed, "the calls that did not complete");
    assert.equal(listed.total, n);
    assert.equal(listed.notCompleted, failed.length);
    assert.equal(calls.length, RESULTS_NOT_COMPLETED_MAX);
    assert.ok(calls.every((c) => c["outcome"] === "failed"));
    assert.deepEqual(
      calls.map((c) => c["callId"]),
      failed.slice(0, RESULTS_NOT_COMPLETED_MAX).map((i) => `c-${i}`),
    );
    assert.deepEqual(listed.capped, {
      max: RESULTS_NOT_COMPLETED_MAX,
      left: failed.length - RESULTS_NOT_COMPLETED_MAX,
    });
    assert.equal(listed.inResults, RESULTS_NOT_COMPLETED_MAX);
    const all = lines(file);
    assert.equal(all.length, n);
    assert.deepEqual(all[n - 1], row(n - 1, bad(n - 1) ? "failed" : "completed"));
  });
});
