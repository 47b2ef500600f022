/**
 * A process's resident memory and CPU, sampled from /proc while a bench runs it, and the kernel's
 * drop counter of one UDP socket (the HEP collector's) from /proc/net/udp. `rssSlope` is the least
 * squares slope of RSS over the calls placed after a warm-up (MB per 100,000 calls).
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { udpSocketCounters } from "../../src/os/ports.js";

/** clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux) */
const TICKS_PER_S = 100;

export interface ProcSample {
  /** ms since the sampler started */
  tMs: number;
  rssMb: number;
  /** CPU seconds (user + system) of the process so far */
  cpuS: number;
  userS: number;
  systemS: number;
  /** the collector socket's kernel drops so far (undefined: socket not bound yet) */
  udpDrops: number | undefined;
  load1: number;
  /** the whole machine's busy CPU seconds so far (/proc/stat: all but idle and iowait), every core */
  machineBusyS: number;
}

/** busy CPU seconds of the whole machine from /proc/stat's first line (all but idle and iowait) */
export function machineBusySeconds(procStat: string): number {
  const f = procStat.slice(0, procStat.indexOf("\n")).trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / TICKS_PER_S;
}

/** utime and stime (seconds) and RSS (MB) of a /proc/<pid>/stat line. */
export function parseProcStat(stat: string, pageBytes = 4096): { userS: number; systemS: number; rssMb: number } {
  // the command name (field 2) may hold spaces and parentheses: count fields after its last ")"
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state): field n is rest[n - 3]
  const userS = Number(rest[14 - 3]) / TICKS_PER_S;
  const systemS = Number(rest[15 - 3]) / TICKS_PER_S;
  const rssMb = (Number(rest[24 - 3]) * pageBytes) / 1024 / 1024;
  return { userS, systemS, rssMb };
}

export interface Sampler {
  readonly samples: ProcSample[];
  stop(): ProcSample[];
}

/** Sample `pid` every `everyMs` until stopped (or the process is gone). */
export function sampleProcess(pid: number, everyMs: number, udp?: { address: string; port: number }): Sampler {
  const samples: ProcSample[] = [];
  const t0 = performance.now();
  const take = (): void => {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      return;
    }
    const s = parseProcStat(stat);
    let udpDrops: number | undefined;
    if (udp) {
      try {
        udpDrops = udpSocketCounters(readFileSync("/proc/net/udp", "utf8"), udp.address, udp.port)?.drops;
      } catch {
        udpDrops = undefined;
      }
    }
    let machineBusyS = NaN;
    try {
      machineBusyS = machineBusySeconds(readFileSync("/proc/stat", "utf8"));
    } catch {
      /* not Linux: NaN */
    }
    samples.push({
      machineBusyS,
      tMs: performance.now() - t0,
      rssMb: s.rssMb,
      cpuS: s.userS + s.systemS,
      userS: s.userS,
      systemS: s.systemS,
      udpDrops,
      load1: os.loadavg()[0]!,
    });
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/** Least squares slope of y over x; undefined under two points. */
export function slope(points: readonly { x: number; y: number }[]): number | undefined {
  if (points.length < 2) return undefined;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? undefined : num / den;
}

export interface RssFigures {
  peakMb: number;
  /**
   * after the warm-up: mean, lowest, highest, the spread around the mean in percent (the larger side),
   * above and below it; the same band over each `bucketS` window's highest sample (the memory the
   * process held, without the moments a collection had just given pages back); the change from the
   * first half's mean to the second half's (a drift shows there, noise does not)
   */
  afterWarmup:
    | {
        samples: number;
        meanMb: number;
        minMb: number;
        maxMb: number;
        spreadPct: number;
        abovePct: number;
        belowPct: number;
        peaks: { bucketS: number; n: number; meanMb: number; abovePct: number; belowPct: number };
        halvesPct: number;
      }
    | undefined;
  /** MB per 100,000 calls after the warm-up (calls = rate x time since the traffic started) */
  slopeMbPer100kCalls: number | undefined;
}

/** RSS figures of the samples taken in [fromMs, toMs] (the traffic's window after its warm-up). */
export function rssFigures(samples: readonly ProcSample[], fromMs: number, toMs: number, rate: number): RssFigures {
  const peakMb = Math.max(...samples.map((s) => s.rssMb));
  const w = samples.filter((s) => s.tMs >= fromMs && s.tMs <= toMs);
  if (w.length === 0) return { peakMb, afterWarmup: undefined, slopeMbPer100kCalls: undefined };
  const rss = w.map((s) => s.rssMb);
  const meanMb = rss.reduce((a, b) => a + b, 0) / rss.length;
  const minMb = Math.min(...rss);
  const maxMb = Math.max(...rss);
  const spreadPct = (100 * Math.max(maxMb - meanMb, meanMb - minMb)) / meanMb;
  const abovePct = (100 * (maxMb - meanMb)) / meanMb;
  const belowPct = (100 * (meanMb - minMb)) / meanMb;
  // the highest sample of each 30 s window
  const bucketS = 30;
  const byBucket = new Map<number, number>();
  for (const s of w) {
    const k = Math.floor((s.tMs - fromMs) / (bucketS * 1000));
    byBucket.set(k, Math.max(byBucket.get(k) ?? 0, s.rssMb));
  }
  const pk = [...byBucket.values()];
  const pkMean = pk.reduce((a, b) => a + b, 0) / pk.length;
  const peaks = {
    bucketS,
    n: pk.length,
    meanMb: pkMean,
    abovePct: (100 * (Math.max(...pk) - pkMean)) / pkMean,
    belowPct: (100 * (pkMean - Math.min(...pk))) / pkMean,
  };
  const half = Math.floor(rss.length / 2);
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const halvesPct = half > 0 ? (100 * (avg(rss.slice(half)) - avg(rss.slice(0, half)))) / avg(rss.slice(0, half)) : 0;
  // MB per ms -> MB per call (rate calls per s) -> MB per 100k calls
  const perMs = slope(w.map((s) => ({ x: s.tMs, y: s.rssMb })));
  const slopeMbPer100kCalls = perMs === undefined ? undefined : ((perMs * 1000) / rate) * 100_000;
  return {
    peakMb,
    afterWarmup: { samples: w.length, meanMb, minMb, maxMb, spreadPct, abovePct, belowPct, peaks, halvesPct },
    slopeMbPer100kCalls,
  };
}

/** CPU cores the whole machine was busy between two samples (every process, the tool too). */
export function machineCoresBetween(a: ProcSample, b: ProcSample): number {
  return (b.machineBusyS - a.machineBusyS) / ((b.tMs - a.tMs) / 1000);
}

/** CPU cores the process used between two samples. */
export function coresBetween(a: ProcSample, b: ProcSample): number {
  return (b.cpuS - a.cpuS) / ((b.tMs - a.tMs) / 1000);
}
