/**
 * live-metrics.csv: one row per tick. The seed's columns come first in the seed's order, then ours.
 */
import type { DashboardState } from "./state.js";

export const SEED_COLUMNS = [
  "timestamp",
  "phase",
  "status",
  "dispatcher_mode",
  "old_total",
  "new_total",
  "old_delta",
  "new_delta",
] as const;

export const EXTRA_COLUMNS = [
  "old_completed",
  "new_completed",
  "old_failed",
  "new_failed",
  "old_active",
  "new_active",
  "calls_per_second",
  "elapsed_seconds",
  "old_pbx_channels",
  "new_pbx_channels",
] as const;

export const CSV_HEADER = [...SEED_COLUMNS, ...EXTRA_COLUMNS].join(",") + "\n";

/** RFC 4180 quoting where a value needs it. */
function cell(v: string | number | undefined): string {
  const s = v === undefined ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row (with newline) for the state at its last tick; timestamp in ISO-8601 UTC. */
export function csvRow(s: DashboardState, at: number): string {
  const b = s.backends;
  return (
    [
      new Date(at).toISOString(),
      s.phase,
      s.status,
      s.mode,
      b.old.total,
      b.new.total,
      b.old.delta,
      b.new.delta,
      b.old.completed,
      b.new.completed,
      b.old.failed,
      b.new.failed,
      b.old.active,
      b.new.active,
      s.callsPerSecond.toFixed(2),
      ((at - s.startedAt) / 1000).toFixed(3),
      b.old.channels,
      b.new.channels,
    ]
      .map(cell)
      .join(",") + "\n"
  );
}
