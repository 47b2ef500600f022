/**
 * RFC 6076 (Basic Telephony SIP End-to-End Performance Metrics) from per-call records (pure).
 *
 *   SER, section 4.6   Session Establishment Ratio
 *                      = INVITEs answered 2xx / (INVITEs - INVITEs answered 3xx) x 100
 *   ISA, section 4.8   Ineffective Session Attempts
 *                      = INVITEs answered 408, 500, 503 or 504, or never answered (timeout) / INVITEs x 100
 *   SRD, section 4.3   Session Request Delay: INVITE sent -> first non-100 provisional or final response
 *                      (4.3.1 successful and 4.3.2 failed setups alike); p50 and p95
 *   SDD, section 4.4   Session Disconnect Delay: BYE sent -> its final response; p50 and p95
 *
 * A ratio with a zero denominator is `undefined`, never 0 or 100. Percentiles are nearest-rank
 * (the smallest sample with at least p % of the samples at or below it), so a p95 is always a
 * delay some call really had.
 */
import type { Backend } from "../events/run-events.js";
import type { CallRecord } from "./call-record.js";

/** RFC 6076 section 4.8's ineffective final responses. */
export const INEFFECTIVE_STATUSES: readonly number[] = [408, 500, 503, 504];

export interface Ratio {
  numerator: number;
  denominator: number;
  /** percent, undefined when the denominator is 0 */
  percent: number | undefined;
}

export interface Delay {
  samples: number;
  p50Ms: number | undefined;
  p95Ms: number | undefined;
}

export interface BackendMetrics {
  backend: Backend;
  /** INVITEs in the window (one per Call-ID) */
  invites: number;
  answered2xx: number;
  redirected3xx: number;
  /** 408/500/503/504 or no final answer */
  ineffective: number;
  timedOut: number;
  ser: Ratio;
  isa: Ratio;
  srd: Delay;
  sdd: Delay;
}

export interface StepWindow {
  /** calls whose INVITE was sent at or after this time... */
  fromMs: number;
  /** ...and before this one (undefined: no end yet) */
  toMs: number | undefined;
}

function ratio(numerator: number, denominator: number): Ratio {
  return { numerator, denominator, percent: denominator === 0 ? undefined : (100 * numerator) / denominator };
}

/** Nearest-rank percentile of unsorted samples; undefined for none. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

function delay(samples: readonly number[]): Delay {
  return { samples: samples.length, p50Ms: percentile(samples, 50), p95Ms: percentile(samples, 95) };
}

const isFinal = (s: number | undefined): s is number => s !== undefined && s >= 200 && s <= 699;

/** The metrics of one backend's calls (records of other backends are ignored). Duplicate Call-IDs count once (the first). */
export function backendMetrics(records: readonly CallRecord[], backend: Backend): BackendMetrics {
  const seen = new Set<string>();
  const calls = records.filter((r) => {
    if (r.backend !== backend || seen.has(r.callId)) return false;
    seen.add(r.callId);
    return true;
  });
  // a call that timed out has no final answer, whatever else was recorded
  const final = (r: CallRecord): number | undefined => (!r.timedOut && isFinal(r.finalStatus) ? r.finalStatus : undefined);
  const answered2xx = calls.filter((r) => (final(r) ?? 0) >= 200 && (final(r) ?? 0) < 300).length;
  const redirected3xx = calls.filter((r) => (final(r) ?? 0) >= 300 && (final(r) ?? 0) < 400).length;
  const unanswered = (r: CallRecord): boolean => final(r) === undefined;
  const ineffective = calls.filter((r) => unanswered(r) || INEFFECTIVE_STATUSES.includes(final(r)!)).length;
  const srd = calls
    .filter((r) => r.firstProvisionalOrFinalMs !== undefined)
    .map((r) => r.firstProvisionalOrFinalMs! - r.inviteSentMs);
  const sdd = calls.filter((r) => r.byeSentMs !== undefined && r.byeFinalMs !== undefined).map((r) => r.byeFinalMs! - r.byeSentMs!);
  return {
    backend,
    invites: calls.length,
    answered2xx,
    redirected3xx,
    ineffective,
    timedOut: calls.filter((r) => r.timedOut).length,
    ser: ratio(answered2xx, calls.length - redirected3xx),
    isa: ratio(ineffective, calls.length),
    srd: delay(srd),
    sdd: delay(sdd),
  };
}

/** The records of a step window: INVITE sent in [fromMs, toMs). */
export function inWindow(records: readonly CallRecord[], w: StepWindow): CallRecord[] {
  return records.filter((r) => r.inviteSentMs >= w.fromMs && (w.toMs === undefined || r.inviteSentMs < w.toMs));
}

/** Both backends' metrics over one step window. */
export function windowMetrics(records: readonly CallRecord[], w: StepWindow): Record<Backend, BackendMetrics> {
  const calls = inWindow(records, w);
  return { old: backendMetrics(calls, "old"), new: backendMetrics(calls, "new") };
}
