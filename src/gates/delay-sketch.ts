/**
 * A window's delays (SRD, SDD) in bounded memory (pure), for nearest-rank percentiles.
 *
 * Up to `exactUpTo` samples (default EXACT_SAMPLES) every delay is kept, sorted, and a percentile is
 * exact: the delay some call really had. Beyond that the samples go into logarithmic buckets (the
 * DDSketch mapping: bucket i holds (g^(i-1), g^i] with g = (1 + a) / (1 - a)), and a percentile is
 * its bucket's midpoint 2 g^i / (g + 1): within RELATIVE_ERROR (a = 0.5 %) of the exact nearest-rank
 * value, whatever the number of samples. Delays of about a microsecond or less share one bucket
 * (reported as the largest of them), delays over a day are counted as a day. Memory: at most
 * EXACT_SAMPLES numbers, then a fixed array of ~2,500 counters.
 */

/** delays kept one by one before the sketch takes over */
export const EXACT_SAMPLES = 10_000;
/** the sketch's bound on a percentile's relative error (0.5 %) */
export const RELATIVE_ERROR = 0.005;
/** delays up to about this share one bucket (a microsecond) */
const MIN_MS = 0.001;
/** longer delays are counted as this (a day) */
const MAX_MS = 86_400_000;

const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);
/** bucket index of MIN_MS (index 0 of the array holds everything at or under it) */
const OFFSET = Math.ceil(Math.log(MIN_MS) / LOG_GAMMA);
/** the upper end of bucket 0 */
const TINY_MS = GAMMA ** OFFSET;
const BUCKETS = Math.ceil(Math.log(MAX_MS) / LOG_GAMMA) - OFFSET + 1;

/** Insert into an ascending array, keeping it sorted (binary search). */
function insertSorted(xs: number[], x: number): void {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  xs.splice(lo, 0, x);
}

/** Nearest rank of percentile p among n samples (1-based). */
const rankOf = (p: number, n: number): number => Math.max(1, Math.ceil((p / 100) * n));

/** Nearest-rank percentile of ascending samples; undefined for none. */
export function sortedPercentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[rankOf(p, sorted.length) - 1];
}

export class DelaySketch {
  private sorted: number[] | undefined = [];
  private counts: Uint32Array | undefined;
  private n = 0;
  /** the largest delay in bucket 0 (its value) */
  private tinyMax = -Infinity;
  private lo = BUCKETS;
  private hi = -1;

  constructor(private readonly exactUpTo = EXACT_SAMPLES) {}

  get samples(): number {
    return this.n;
  }

  /** every sample is still kept: percentiles are exact */
  get exact(): boolean {
    return this.sorted !== undefined;
  }

  add(ms: number): void {
    this.n++;
    if (this.sorted !== undefined) {
      insertSorted(this.sorted, ms);
      if (this.sorted.length <= this.exactUpTo) return;
      const kept = this.sorted;
      this.sorted = undefined;
      this.counts = new Uint32Array(BUCKETS);
      for (const x of kept) this.bucket(x);
      return;
    }
    this.bucket(ms);
  }

  private bucket(ms: number): void {
    let i = 0;
    if (ms <= TINY_MS) {
      if (ms > this.tinyMax) this.tinyMax = ms;
    } else {
      i = Math.min(BUCKETS - 1, Math.max(1, Math.ceil(Math.log(ms) / LOG_GAMMA) - OFFSET));
    }
    this.counts![i]!++;
    if (i < this.lo) this.lo = i;
    if (i > this.hi) this.hi = i;
  }

  /** Nearest-rank percentile (exact, or within RELATIVE_ERROR once sketched); undefined for none. */
  percentile(p: number): number | undefined {
    if (this.n === 0) return undefined;
    if (this.sorted !== undefined) return sortedPercentile(this.sorted, p);
    const rank = rankOf(p, this.n);
    const counts = this.counts!;
    let seen = 0;
    for (let i = this.lo; i <= this.hi; i++) {
      seen += counts[i]!;
      if (seen >= rank) return i === 0 ? this.tinyMax : (2 * GAMMA ** (i + OFFSET)) / (GAMMA + 1);
    }
    return undefined;
  }
}
