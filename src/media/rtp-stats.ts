/**
 * One RTP stream's receive statistics as RFC 3550 defines them (pure), from the packets as they
 * arrived: sequence numbers extended over wrap-around (A.1), expected = highest - first + 1, lost =
 * expected - received (A.3; duplicates make it smaller, never below 0 here), and the interarrival
 * jitter J += (|D| - J) / 16 with D the difference of two packets' spacing in arrival and in RTP
 * timestamp units (6.4.1, A.8), reported in milliseconds.
 */

/** RTP timestamp units per millisecond: G.711's 8 kHz clock */
export const G711_UNITS_PER_MS = 8;

export interface RtpStreamFigures {
  received: number;
  /** highest extended sequence number - first + 1 (0 without packets) */
  expected: number;
  lost: number;
  /** lost / expected, percent (undefined without packets) */
  lossPercent: number | undefined;
  /** RFC 3550 interarrival jitter, ms (undefined below two packets) */
  jitterMs: number | undefined;
}

export class RtpStreamStats {
  private received = 0;
  private firstSeq = 0;
  private maxExt = 0;
  private cycles = 0;
  private maxSeq = 0;
  /** jitter in timestamp units */
  private jitter = 0;
  private lastTransit: number | undefined;

  constructor(private readonly unitsPerMs = G711_UNITS_PER_MS) {}

  /** one packet as it arrived: its sequence number, RTP timestamp and arrival time (ms) */
  add(seq: number, timestamp: number, arrivalMs: number): void {
    if (this.received === 0) {
      this.firstSeq = seq;
      this.maxSeq = seq;
      this.maxExt = seq;
    } else {
      const delta = (seq - this.maxSeq) & 0xffff;
      // ahead of the highest seen (by less than half the space): in order or after a gap
      if (delta !== 0 && delta < 0x8000) {
        if (seq < this.maxSeq) this.cycles += 0x10000;
        this.maxSeq = seq;
        this.maxExt = this.cycles + seq;
      }
    }
    this.received++;
    // transit in timestamp units; only differences between packets matter
    const transit = arrivalMs * this.unitsPerMs - timestamp;
    if (this.lastTransit !== undefined) {
      let d = transit - this.lastTransit;
      // RTP timestamps wrap at 2^32
      if (d > 2 ** 31) d -= 2 ** 32;
      else if (d < -(2 ** 31)) d += 2 ** 32;
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }

  figures(): RtpStreamFigures {
    if (this.received === 0) return { received: 0, expected: 0, lost: 0, lossPercent: undefined, jitterMs: undefined };
    const expected = this.maxExt - this.firstSeq + 1;
    const lost = Math.max(0, expected - this.received);
    return {
      received: this.received,
      expected,
      lost,
      lossPercent: (100 * lost) / expected,
      jitterMs: this.received < 2 ? undefined : this.jitter / this.unitsPerMs,
    };
  }
}
