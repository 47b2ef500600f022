import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ensureDir } from "./ensure-dir.js";

test("creates missing levels and accepts an existing directory", () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "ensure-dir-"));
  try {
    const deep = path.join(tmp, "a", "b", "c");
    ensureDir(deep);
    assert.ok(statSync(deep).isDirectory());
    ensureDir(deep);
    writeFileSync(path.join(tmp, "file"), "");
    assert.throws(() => ensureDir(path.join(tmp, "file")), /ENOTDIR/);
    assert.throws(() => ensureDir(path.join(tmp, "file", "x")), /ENOTDIR/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("fails (does not hang) under /proc", () => {
  assert.throws(() => ensureDir("/proc/pbx-cutover-test/x"), /ENOENT|EACCES|EPERM/);
});
