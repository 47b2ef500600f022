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
 *   media              per call, once its audio was counted (src/media/): whether it was one-way (the
 *                      media-both-ways rule) and the packets lost of those expected back, over the calls
 *                      whose caller's stream ran (the judged ones)
 *
 * A ratio with a zero denominator is `undefined`, never 0 or 100. Percentiles are nearest-rank
 * (the smallest sample with at least p % of the samples at or below it), so a p95 is a delay some
 * call really had; a tally's delays are kept in bounded memory (delay-sketch.ts): exact up to
 * EXACT_SAMPLES calls per backend, within RELATIVE_ERROR (0.5 %) of the exact value beyond.
 */
import type { BackendRole } from "../core/backend-role.js";
import type { CallAudio, CallRecord } from "../evidence/call-record.js";
import { DelaySketch, sortedPercentile } from "./delay-sketch.js";

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

/** One call's audio as the gates count it. */
export type MediaSample = CallAudio & { callId: string; backend: BackendRole };

/** A backend's calls' audio: calls judged, one-way among them, packets lost of those expected. */
export interface MediaMetrics {
  judged: number;
  oneWay: number;
  expected: number;
  lost: number;
  /** percent of the expected packets lost (undefined: no packet expected) */
  lossPercent: number | undefined;
}

export interface BackendMetrics {
  backend: BackendRole;
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
  media: MediaMetrics;
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
  return sortedPercentile(
    [...samples].sort((a, b) => a - b),
    p,
  );
}

const isFinal = (s: number | undefined): s is number => s !== undefined && s >= 200 && s <= 699;

/**
 * One backend's metrics built up call by call (a live window: each concluded call is added once, and
 * the metrics are read at any moment without going over the calls again). `backendMetrics` is the
 * same tally over a list, so the live and the final verdicts share one classification. Its memory
 * does not grow with the window: counts, two delay sketches, and the Call-IDs of calls not yet
 * `forget`-ten (a live window forgets a call once it is over).
 */
export class BackendTally {
  /** Call-IDs counted and not forgotten: a second add is ignored, a disconnect delay still taken */
  private readonly seen = new Set<string>();
  private invites = 0;
  private answered2xx = 0;
  private redirected3xx = 0;
  private ineffective = 0;
  private timedOut = 0;
  private readonly srd: DelaySketch;
  private readonly sdd: DelaySketch;
  private readonly disconnected = new Set<string>();
  private readonly media = { judged: 0, oneWay: 0, expected: 0, lost: 0 };

  /** @param exactDelays delays kept one by one before the sketch takes over (default EXACT_SAMPLES) */
  constructor(
    readonly backend: BackendRole,
    exactDelays?: number,
  ) {
    this.srd = new DelaySketch(exactDelays);
    this.sdd = new DelaySketch(exactDelays);
  }

  /** Count one call (another backend's record, or a Call-ID already counted, is ignored). */
  add(r: CallRecord): boolean {
    if (r.backend !== this.backend || this.seen.has(r.callId)) return false;
    this.seen.add(r.callId);
    this.invites++;
    // a call that timed out has no final answer, whatever else was recorded
    const final = !r.timedOut && isFinal(r.finalStatus) ? r.finalStatus : undefined;
    if (final !== undefined && final >= 200 && final < 300) this.answered2xx++;
    if (final !== undefined && final >= 300 && final < 400) this.redirected3xx++;
    if (final === undefined || INEFFECTIVE_STATUSES.includes(final)) this.ineffective++;
    if (r.timedOut) this.timedOut++;
    if (r.firstProvisionalOrFinalMs !== undefined) this.srd.add(r.firstProvisionalOrFinalMs - r.inviteSentMs);
    if (r.byeSentMs !== undefined && r.byeFinalMs !== undefined)
      this.addDisconnect(r.callId, r.byeFinalMs - r.byeSentMs);
    if (r.media) this.addMedia({ ...r.media, callId: r.callId, backend: r.backend });
    return true;
  }

  /** A counted call's session disconnect delay, once its BYE was answered (after the call was added). */
  addDisconnect(callId: string, ms: number): boolean {
    if (!this.seen.has(callId) || this.disconnected.has(callId)) return false;
    this.disconnected.add(callId);
    this.sdd.add(ms);
    return true;
  }

  /**
   * A call's audio (counted after the call ended; another backend's, or one whose caller's stream
   * never ran, is not counted). The caller makes sure each call's audio comes once.
   */
  addMedia(m: MediaSample): boolean {
    if (m.backend !== this.backend || !m.judged) return false;
    this.media.judged++;
    if (m.oneWay) this.media.oneWay++;
    this.media.expected += m.expected;
    this.media.lost += Math.max(0, Math.min(m.lost, m.expected));
    return true;
  }

  /** A counted call is over: its Call-ID is no longer kept (its numbers stay in the tally). */
  forget(callId: string): void {
    this.seen.delete(callId);
    this.disconnected.delete(callId);
  }

  metrics(): BackendMetrics {
    const delay = (xs: DelaySketch): Delay => ({
      samples: xs.samples,
      p50Ms: xs.percentile(50),
      p95Ms: xs.percentile(95),
    });
    return {
      backend: this.backend,
      invites: this.invites,
      answered2xx: this.answered2xx,
      redirected3xx: this.redirected3xx,
      ineffective: this.ineffective,
      timedOut: this.timedOut,
      ser: ratio(this.answered2xx, this.invites - this.redirected3xx),
      isa: ratio(this.ineffective, this.invites),
      srd: delay(this.srd),
      sdd: delay(this.sdd),
      media: {
        ...this.media,
        lossPercent: this.media.expected === 0 ? undefined : (100 * this.media.lost) / this.media.expected,
      },
    };
  }
}

/** The metrics of one backend's calls (records of other backends are ignored). Duplicate Call-IDs count once (the first). */
export function backendMetrics(records: readonly CallRecord[], backend: BackendRole): BackendMetrics {
  const t = new BackendTally(backend);
  for (const r of records) t.add(r);
  return t.metrics();
}

/** The records of a step window: INVITE sent in [fromMs, toMs). */
export function inWindow(records: readonly CallRecord[], w: StepWindow): CallRecord[] {
  return records.filter((r) => r.inviteSentMs >= w.fromMs && (w.toMs === undefined || r.inviteSentMs < w.toMs));
}

/** Both backends' metrics over one step window. */
export function windowMetrics(records: readonly CallRecord[], w: StepWindow): Record<BackendRole, BackendMetrics> {
  const calls = inWindow(records, w);
  return { old: backendMetrics(calls, "old"), new: backendMetrics(calls, "new") };
}
