/**
 * sim's call rows at the end of a run: every call's row to `calls.ndjson` in the run folder (one JSON
 * line each, written in chunks as the rows are made), and the list results.json keeps: every call up
 * to RESULTS_CALLS_MAX, above it only the calls that did not complete, the first
 * RESULTS_NOT_COMPLETED_MAX of them, with the cap said in `callsListed`.
 */
import { closeSync, writeSync } from "node:fs";
import { fileFault } from "../core/errors.js";
import { FileMode, openAppend, writeEmpty } from "../files/atomic-write.js";
import type { BackendRole } from "../core/backend-role.js";

export const CALL_ROWS_FILE = "calls.ndjson";
/** results.json lists every call up to this many */
export const RESULTS_CALLS_MAX = 10_000;
/** above it, at most this many calls that did not complete */
export const RESULTS_NOT_COMPLETED_MAX = 1_000;

/** What results.json's `calls` holds, and where the rest is. */
export interface CallsListed {
  total: number;
  /** calls whose INVITE reached each backend (a call on both counts for both) */
  byBackend: Record<BackendRole, number>;
  /** every row, one JSON line each */
  file: string;
  /** "every call", or "the calls that did not complete" (the run had more than RESULTS_CALLS_MAX) */
  listed: "every call" | "the calls that did not complete";
  inResults: number;
  notCompleted: number;
  /** set when more calls did not complete than results.json lists */
  capped?: { max: number; left: number };
}

const CHUNK = 256 * 1024;

/** Write every row to `file` and pick results.json's list (rows are made one at a time, never all at once). */
export function writeCallRows(
  rows: Iterable<Record<string, unknown>>,
  file: string,
  fileName = CALL_ROWS_FILE,
): { calls: Record<string, unknown>[]; listed: CallsListed } {
  writeEmpty(file, FileMode.public);
  const fd = openAppend(file, FileMode.public);
  const all: Record<string, unknown>[] = [];
  const notCompleted: Record<string, unknown>[] = [];
  const byBackend: Record<BackendRole, number> = { old: 0, new: 0 };
  let total = 0;
  let failed = 0;
  let chunk = "";
  const flush = (): void => {
    if (chunk.length === 0) return;
    try {
      writeSync(fd, chunk);
    } catch (err) {
      throw fileFault(err, file, "write");
    }
    chunk = "";
  };
  try {
    for (const r of rows) {
      total++;
      const at = typeof r["inviteBackend"] === "string" ? r["inviteBackend"].split("+") : [];
      for (const b of ["old", "new"] as const) if (at.includes(b)) byBackend[b]++;
      if (all.length < RESULTS_CALLS_MAX + 1) all.push(r);
      if (r["outcome"] !== "completed") {
        failed++;
        if (notCompleted.length < RESULTS_NOT_COMPLETED_MAX) notCompleted.push(r);
      }
      chunk += JSON.stringify(r) + "\n";
      if (chunk.length >= CHUNK) flush();
    }
    flush();
  } finally {
    closeSync(fd);
  }
  const every = total <= RESULTS_CALLS_MAX;
  const calls = every ? all : notCompleted;
  return {
    calls,
    listed: {
      total,
      byBackend,
      file: fileName,
      listed: every ? "every call" : "the calls that did not complete",
      inResults: calls.length,
      notCompleted: failed,
      ...(!every && failed > RESULTS_NOT_COMPLETED_MAX
        ? { capped: { max: RESULTS_NOT_COMPLETED_MAX, left: failed - RESULTS_NOT_COMPLETED_MAX } }
        : {}),
    },
  };
}
