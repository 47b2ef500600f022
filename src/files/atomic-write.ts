/**
 * The one way the tool writes a file: explicit mode whatever the umask, a temp file created
 * exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, random name, in the target's directory) so a symlink or
 * a file planted at the temp path is never followed or reused, then an atomic rename over the
 * target (rename replaces a symlink at the target itself; it never writes through it).
 * A failed write removes its temp file and throws a FileFaultError (exit 3) naming the path.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { fileFault } from "../core/errors.js";

/** File modes by kind: lists, logs and evidence are world-readable; locks and secrets are private. */
export const FileMode = {
  /** dispatcher lists, configs, evidence, logs, lab state */
  public: 0o644,
  /** locks and anything that may hold a secret */
  private: 0o600,
} as const;

export interface WriteOptions {
  mode: number;
  /** flush to the disk before the rename (dispatcher lists: a crash never leaves an empty list) */
  fsync?: boolean;
  /** the owner the file keeps (an operator's list replaced in place: async writer only) */
  owner?: { uid: number; gid: number };
}

const EXCL_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A temp path next to `file`: hidden, random, never predictable. */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${randomBytes(8).toString("hex")}`);
}

/**
 * Create `file` exclusively with `data` and `mode` (fails with EEXIST if anything, even a dangling
 * symlink, is there). Used for temp files and lock files.
 */
export function createExclusive(file: string, data: string | Uint8Array, mode: number, fsync = false): void {
  const fd = openSync(file, EXCL_FLAGS, mode);
  try {
    fchmodSync(fd, mode); // the umask only narrowed the open mode; set it exactly
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (fsync) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw err;
  }
  closeSync(fd);
}

/** Write `file` atomically with an explicit mode. Throws FileFaultError (exit 3) naming the path. */
export function writeFileAtomic(file: string, data: string | Uint8Array, o: WriteOptions): void {
  const tmp = tempPathFor(file);
  try {
    createExclusive(tmp, data, o.mode, o.fsync ?? false);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fileFault(err, file, "write");
  }
}

/** The same on the event loop (run output written while calls are up). */
export async function writeFileAtomicAsync(file: string, data: string | Uint8Array, o: WriteOptions): Promise<void> {
  const tmp = tempPathFor(file);
  try {
    const fh = await open(tmp, EXCL_FLAGS, o.mode);
    try {
      if (o.owner) await fh.chown(o.owner.uid, o.owner.gid);
      await fh.chmod(o.mode);
      await fh.writeFile(data);
      if (o.fsync === true) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fileFault(err, file, "write");
  }
}

/**
 * Open `file` for appending with an explicit mode, never through a symlink (O_NOFOLLOW). A file
 * that exists keeps its content; a new one gets `mode` whatever the umask. Returns the fd.
 */
export function openAppend(file: string, mode: number): number {
  try {
    const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, mode);
    try {
      fchmodSync(fd, mode);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return fd;
  } catch (err) {
    throw fileFault(err, file, "open");
  }
}

/** Append text to a file opened by `openAppend` semantics (one call: open, write, close). */
export function appendFileSafe(file: string, text: string, mode: number): void {
  const fd = openAppend(file, mode);
  try {
    writeSync(fd, text);
  } catch (err) {
    throw fileFault(err, file, "append to");
  } finally {
    closeSync(fd);
  }
}

/** Create (or truncate) a file with an explicit mode, atomically: an empty file. */
export function writeEmpty(file: string, mode: number): void {
  writeFileAtomic(file, "", { mode });
}

/** A file written a line at a time (created or truncated first); a failed write stops it and is kept as `fault`. */
export interface LineLog {
  readonly fault: unknown;
  append(line: string): void;
  close(): void;
}

export function openLineLog(file: string, mode: number = FileMode.public): LineLog {
  writeEmpty(file, mode);
  const fd = openAppend(file, mode);
  let open = true;
  let fault: unknown;
  return {
    get fault() {
      return fault;
    },
    append(line) {
      if (!open || fault !== undefined) return;
      try {
        writeSync(fd, line.endsWith("\n") ? line : `${line}\n`);
      } catch (err) {
        fault = fileFault(err, file, "write");
      }
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/**
 * Publish `file` whole, only if it does not exist: written to a temporary name, then hard-linked, so
 * nobody ever reads it half-written and of two creators exactly one wins. False when it already
 * exists; any other failure is a file fault naming `what` ("create the dispatcher lock").
 */
export function createIfAbsent(file: string, data: string, mode: number, what: string, fsync = false): boolean {
  const tmp = tempPathFor(file);
  try {
    createExclusive(tmp, data, mode, fsync);
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw err;
    }
    return true;
  } catch (err) {
    throw fileFault(err, file, what);
  } finally {
    rmSync(tmp, { force: true });
  }
}
