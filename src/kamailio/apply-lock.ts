/**
 * One apply at a time per target: an O_EXCL lock file holding {pid, command, startedAt, host}.
 * A lock whose pid is dead (on this host) is stale and is taken over; a live holder makes the
 * second apply fail with EnvironmentError (exit 3: "busy", nothing was changed) naming the holder.
 */
import { openSync, readFileSync, renameSync, rmSync, statSync, writeSync, closeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { EnvironmentError } from "../cli/errors.js";
import { isAlive } from "../lab/process.js";
import { ensureDir } from "../files/ensure-dir.js";

export interface LockHolder {
  pid: number;
  command: string;
  startedAt: string;
  host: string;
}

export interface ApplyLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** remove the lock file if it is still ours; idempotent */
  release(): void;
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, "utf8")) as Partial<LockHolder>;
    if (typeof h.pid !== "number") return undefined;
    return { pid: h.pid, command: String(h.command ?? "?"), startedAt: String(h.startedAt ?? "?"), host: String(h.host ?? "?") };
  } catch {
    return undefined;
  }
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} (${h.command}), since ${h.startedAt}${h.host !== os.hostname() ? ` on ${h.host}` : ""}`;
}

function isStale(file: string, h: LockHolder | undefined): boolean {
  if (h === undefined) {
    // unreadable: half-written by a process that died mid-write, or being written right now
    try {
      return Date.now() - statSync(file).mtimeMs > 2000;
    } catch {
      return true;
    }
  }
  return h.host === os.hostname() && !isAlive(h.pid);
}

function tryCreate(file: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(holder) + "\n");
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Take the lock or throw EnvironmentError naming the holder. A stale lock is moved aside with an
 * atomic rename and checked to be the stale one we judged (two takers cannot both win).
 */
export function acquireApplyLock(file: string, command: string): ApplyLock {
  ensureDir(path.dirname(file));
  const holder: LockHolder = { pid: process.pid, command, startedAt: new Date().toISOString(), host: os.hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, holder)) return lockHandle(file, holder);
    const current = readHolder(file);
    if (!isStale(file, current)) {
      throw new EnvironmentError(
        `another apply holds the dispatcher lock ${file}: ${current ? describeHolder(current) : "a process that is writing it right now"}; nothing was changed`,
        ["wait for it to finish and try again; if that process is gone, the lock is taken over automatically"],
      );
    }
    const aside = `${file}.stale-${process.pid}`;
    try {
      renameSync(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // someone else cleared it
      throw err;
    }
    const moved = readHolder(aside);
    if (current && moved && moved.pid !== current.pid) {
      // we moved a fresh lock that replaced the stale one between our read and rename: put it back
      renameSync(aside, file);
      continue;
    }
    rmSync(aside, { force: true });
  }
  const current = readHolder(file);
  throw new EnvironmentError(
    `could not take the dispatcher lock ${file}${current ? `: held by ${describeHolder(current)}` : ""}; nothing was changed`,
  );
}

function lockHandle(file: string, holder: LockHolder): ApplyLock {
  let released = false;
  return {
    path: file,
    holder,
    release() {
      if (released) return;
      released = true;
      const now = readHolder(file);
      if (now && now.pid === holder.pid && now.startedAt === holder.startedAt) rmSync(file, { force: true });
    },
  };
}
