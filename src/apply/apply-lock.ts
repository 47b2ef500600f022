/**
 * One apply at a time per target: a lock file holding {pid, startTime, command, startedAt, host},
 * mode 0600. Its content is written to an exclusive temp file first and then hard-linked into
 * place (link fails if the lock exists), so the lock is never seen empty or half-written, and a
 * full or read-only disk leaves no lock behind (exit 3 naming the path).
 * Stale, and taken over: a lock whose pid is dead or reused by another process (start time differs),
 * or whose content is empty/garbage (never written by a current pbx-cutover). A live holder makes
 * the second apply fail with EnvironmentError (exit 3: "busy", nothing was changed) naming it.
 */
import { linkSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { EnvironmentError, fileFault } from "../core/errors.js";
import { createIfAbsent, FileMode, tempPathFor } from "../files/atomic-write.js";
import { ensureDir } from "../files/ensure-dir.js";
import { isAlive } from "../os/process.js";
import { startTimeOf } from "../os/ownership.js";

export interface LockHolder {
  pid: number;
  /** /proc/<pid>/stat field 22 of the holder: a reused pid is not the holder */
  startTime?: string | undefined;
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

/** The holder in a lock file's text (pure); undefined for empty or garbage content. */
export function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder> | null;
    if (h === null || typeof h !== "object" || typeof h.pid !== "number" || !Number.isInteger(h.pid) || h.pid <= 0)
      return undefined;
    return {
      pid: h.pid,
      startTime: typeof h.startTime === "string" ? h.startTime : undefined,
      command: String(h.command ?? "?"),
      startedAt: String(h.startedAt ?? "?"),
      host: String(h.host ?? "?"),
    };
  } catch {
    return undefined;
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    return parseHolder(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} (${h.command}), since ${h.startedAt}${h.host !== os.hostname() ? ` on ${h.host}` : ""}`;
}

/** Why a lock is stale, or undefined when its holder may still be working. */
function staleReason(h: LockHolder | undefined): string | undefined {
  if (h === undefined) return "empty or unreadable content";
  if (h.host !== os.hostname()) return undefined; // cannot check another host's pids
  if (!isAlive(h.pid)) return `holder pid ${h.pid} is gone`;
  if (h.startTime !== undefined && startTimeOf(h.pid) !== h.startTime)
    return `pid ${h.pid} now belongs to another process`;
  return undefined;
}

function inode(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}

function tryCreate(file: string, holder: LockHolder): boolean {
  return createIfAbsent(file, JSON.stringify(holder) + "\n", FileMode.private, "create the dispatcher lock");
}

/**
 * Take the lock or throw EnvironmentError naming the holder. A stale lock is moved aside with an
 * atomic rename and checked to be the very file we judged (same inode: two takers cannot both win).
 */
export function acquireApplyLock(file: string, command: string): ApplyLock {
  try {
    ensureDir(path.dirname(file));
  } catch (err) {
    throw fileFault(err, path.dirname(file), "create the directory of the lock");
  }
  const holder: LockHolder = {
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    command,
    startedAt: new Date().toISOString(),
    host: os.hostname(),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, holder)) return lockHandle(file, holder);
    const judgedInode = inode(file);
    const current = readHolder(file);
    const stale = staleReason(current);
    if (stale === undefined) {
      throw new EnvironmentError(
        `another apply holds the dispatcher lock ${file}: ${current ? describeHolder(current) : "?"}; nothing was changed`,
        ["wait for it to finish and try again; if that process is gone, the lock is taken over automatically"],
      );
    }
    const aside = tempPathFor(`${file}.stale`);
    try {
      renameSync(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // someone else cleared it
      throw fileFault(err, file, "take over the stale dispatcher lock");
    }
    if (inode(aside) !== judgedInode) {
      // we moved a fresh lock that replaced the stale one between our read and rename: put it back
      try {
        linkSync(aside, file);
      } catch {
        /* a newer lock is in place already */
      }
    }
    rmSync(aside, { force: true });
  }
  const current = readHolder(file);
  throw new EnvironmentError(
    `could not take the dispatcher lock ${file}${current ? `: held by ${describeHolder(current)}` : ""}; nothing was changed`,
  );
}

/** the locks this process holds: one exit listener releases them all (a fleet holds one per node) */
const held = new Set<() => void>();
const releaseAll = (): void => {
  for (const release of [...held]) release();
};

function lockHandle(file: string, holder: LockHolder): ApplyLock {
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    held.delete(release);
    if (held.size === 0) process.off("exit", releaseAll);
    const now = readHolder(file);
    if (now && now.pid === holder.pid && now.startedAt === holder.startedAt) rmSync(file, { force: true });
  };
  // a last resort: whatever path the process takes to its end, the lock goes with it
  if (held.size === 0) process.once("exit", releaseAll);
  held.add(release);
  return { path: file, holder, release };
}
