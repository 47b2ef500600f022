import { chmodSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import { EnvironmentError, FileFaultError, UsageError } from "../core/errors.js";

/**
 * mkdir -p, one level at a time. Node 20's `mkdirSync(p, { recursive: true })` spins forever on
 * some pseudo file systems (e.g. a path under /proc); this fails with the real error instead.
 */
export function ensureDir(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      if (!statSync(cur).isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${cur}'`), { code: "ENOTDIR", path: cur });
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      missing.push(cur);
      const parent = path.dirname(cur);
      if (parent === cur) break;
      cur = parent;
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
      chmodSync(d, 0o755); // explicit, whatever the umask
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

/** Faults of the machine rather than of the path the user gave: exit 3, not 2. */
const ENVIRONMENT_CODES = new Set(["EROFS", "ENOSPC", "EDQUOT", "EACCES", "EPERM", "EIO"]);

/**
 * ensureDir for a directory the user named (`--lab-dir`, `--artifacts-dir`): a read-only, full or
 * forbidden place is an environment fault (exit 3 naming the path); a path that cannot be a
 * directory at all (under /proc, through a file) is bad input (exit 2). Nothing was started either way.
 */
export function ensureUserDir(dir: string, what: string, flag: string): void {
  try {
    ensureDir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (ENVIRONMENT_CODES.has(code)) {
      const f = new FileFaultError((err as NodeJS.ErrnoException).path ?? dir, code, `create ${what}`);
      throw new EnvironmentError(`${f.message}; nothing was started`, [...f.details, `or pass another ${flag}`]);
    }
    throw new UsageError(`cannot create ${what} ${dir}: ${(err as Error).message}; nothing was started`, [
      `pass a writable ${flag}`,
    ]);
  }
}
