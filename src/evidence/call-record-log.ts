/**
 * A run's call records as they conclude: one `CallRecord` per line of NDJSON (`calls.ndjson` in the
 * run folder), appended as each call ends, so a long run keeps none of them in memory; and read back,
 * line by line, by what needs them all (the reaction's calls, a report). Fields that are undefined are
 * left out of a line and read back as undefined.
 */
import { closeSync, createReadStream, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileFault } from "../core/errors.js";
import { FileMode, openAppend, writeEmpty } from "../files/atomic-write.js";
import type { CallRecord } from "./call-record.js";

export const CALL_RECORDS_FILE = "calls.ndjson";

export interface CallRecordLog {
  readonly path: string;
  /** records written */
  readonly written: number;
  /** the write that failed (the log stops there; the run goes on) */
  readonly fault: unknown;
  append(r: CallRecord): void;
  close(): void;
}

/** Create (or truncate) `file` and append records to it, one write each. */
export function openCallRecordLog(file: string): CallRecordLog {
  writeEmpty(file, FileMode.public);
  const fd = openAppend(file, FileMode.public);
  let written = 0;
  let fault: unknown;
  let open = true;
  return {
    path: file,
    get written() {
      return written;
    },
    get fault() {
      return fault;
    },
    append(r) {
      if (!open || fault !== undefined) return;
      try {
        writeSync(fd, JSON.stringify(r) + "\n");
        written++;
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

/** The records of a calls.ndjson, in the order they were written (a line that does not parse is skipped). */
export async function* readCallRecords(file: string): AsyncGenerator<CallRecord> {
  const lines = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length === 0) continue;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof r === "object" && r !== null && typeof (r as CallRecord).callId === "string") yield r as CallRecord;
  }
}
