/**
 * How apply / rollback print an outcome (pure): one line a human reads, or the outcome as JSON.
 */
import type { ApplyOutcome } from "../apply/apply.js";
import { formatRuntime } from "../dispatcher/runtime.js";

export function formatOutcome(verb: string, o: ApplyOutcome): string {
  if (!o.changed) {
    return `${verb} ${o.label}: already active (file and runtime match; nothing written, no reload)\n  runtime: ${formatRuntime(o.runtime)}`;
  }
  const r = o.reload!;
  const reload =
    `reload ${r.attempts === 1 ? "accepted at once" : `accepted after ${r.attempts} attempts`}` +
    (r.ongoingRefusals > 0 ? ` (${r.ongoingRefusals}x "Ongoing reload", waited ${Math.round(r.waitedMs)} ms)` : "") +
    (r.unavailableRetries > 0 ? ` (${r.unavailableRetries} retries while the RPC was unreachable)` : "");
  return [
    `${verb} ${o.label}: verified in ${o.timings.totalMs.toFixed(1)} ms; ${reload}`,
    `  before:  ${formatRuntime(o.runtimeBefore)}`,
    `  runtime: ${formatRuntime(o.runtime)}`,
  ].join("\n");
}

/** The outcome as JSON for --json (timings rounded to 0.1 ms). */
export function outcomeJson(o: ApplyOutcome): string {
  return JSON.stringify(
    o,
    (_k, v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v),
    2,
  );
}
