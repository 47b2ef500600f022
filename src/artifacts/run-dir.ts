import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import path from "node:path";
import { ensureUserDir } from "../files/ensure-dir.js";
import { tempPathFor } from "../files/atomic-write.js";
import { fileFault } from "../core/errors.js";

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
  ensureUserDir(artifactsDir, "the artifacts directory", "--artifacts-dir");
  const base = `${prefix}-${runStamp(now)}`;
  let name = base;
  for (let i = 2; ; i++) {
    try {
      mkdirSync(path.join(artifactsDir, name));
      chmodSync(path.join(artifactsDir, name), 0o755); // explicit, whatever the umask
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fileFault(err, path.join(artifactsDir, name), "create the run folder");
      name = `${base}-${i}`;
    }
  }
  const latest = path.join(artifactsDir, "latest");
  // a random, exclusive temp name (symlink() never follows or replaces what is there), then rename
  const tmp = tempPathFor(latest);
  try {
    symlinkSync(name, tmp);
    renameSync(tmp, latest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fileFault(err, latest, "update");
  }
  return path.join(artifactsDir, name);
}
