/**
 * events.ndjson: the run's event stream as written, one JSON event per line, in emission order.
 * A subscriber like run-files.ts: it records, it decides nothing. Each event is written with one
 * write(2) as it is emitted, so the file is complete up to the last event whatever ends the run.
 */
import { closeSync, writeSync } from "node:fs";
import { fileFault } from "../core/errors.js";
import { FileMode, openAppend, writeFileAtomic } from "../files/atomic-write.js";
import type { RunEvent, RunEvents } from "./run-events.js";

export const EVENT_LOG_FILE = "events.ndjson";

/** One event as its NDJSON line (with newline). */
export function eventLine(e: RunEvent): string {
  return JSON.stringify(e) + "\n";
}

/**
 * Append every event of `events` to `file` (created or truncated, mode 0644); returns the detach function.
 * A write that fails (full or read-only disk, I/O error) ends the log: `onFault` gets it as a
 * FileFaultError naming the file (exit 3), and the run goes on (a full disk must not stop a
 * rollback); without `onFault` that error is thrown to the emitter.
 */
export function attachEventLog(events: RunEvents, file: string, onFault?: (err: unknown) => void): () => void {
  // created empty (atomically, never through a symlink), then appended to
  writeFileAtomic(file, "", { mode: FileMode.public });
  const fd = openAppend(file, FileMode.public);
  let failed = false;
  const unsubscribe = events.subscribe((e) => {
    if (failed) return;
    try {
      writeSync(fd, eventLine(e));
    } catch (err) {
      failed = true;
      const fault = fileFault(err, file, "write");
      if (onFault === undefined) throw fault;
      onFault(fault);
    }
  });
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    unsubscribe();
    closeSync(fd);
  };
}
