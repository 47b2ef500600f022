import { mkdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { ensureDir } from "../files/ensure-dir.js";
import { UsageError } from "../cli/errors.js";

/** YYYYmmdd_HHMMSS in local time, as the seed's `date +%Y%m%d_%H%M%S`. */
export function runStamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Create `<artifactsDir>/<prefix>-YYYYmmdd_HHMMSS/` (suffix -2, -3 … if that second is taken)
 * and point `<artifactsDir>/latest` at it. `prefix` is "run" (migrate) or "call-cutover" (sim).
 */
export function createRunDir(artifactsDir: string, prefix: string, now = new Date()): string {
  try {
    ensureDir(artifactsDir);
  } catch (err) {
    throw new UsageError(`cannot create the artifacts directory ${artifactsDir}: ${(err as Error).message}`, [
      "pass a writable --artifacts-dir",
    ]);
  }
  const base = `${prefix}-${runStamp(now)}`;
  let name = base;
  for (let i = 2; ; i++) {
    try {
      mkdirSync(path.join(artifactsDir, name));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      name = `${base}-${i}`;
    }
  }
  const latest = path.join(artifactsDir, "latest");
  const tmp = `${latest}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  symlinkSync(name, tmp);
  renameSync(tmp, latest);
  return path.join(artifactsDir, name);
}
