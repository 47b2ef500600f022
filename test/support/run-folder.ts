/**
 * Reading a run folder in e2e tests: where a command's run went (its "run folder" line) and every
 * file of it as text (to grep for what must never be written, e.g. secrets).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { CliResult } from "./lab-fixture.js";

/** the run folder a command printed (`run folder DIR`); fails the test naming the output when absent */
export function runDirOf(r: CliResult | string): string {
  const out = typeof r === "string" ? r : r.stdout;
  const m = /run folder (\S+)/.exec(out);
  assert.ok(m, typeof r === "string" ? r : r.stdout + r.stderr);
  return m[1]!;
}

/** every file of a run folder, as text */
export function artifactsText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(path.join(e.parentPath, e.name), "latin1"))
    .join("\n");
}
