/**
 * Benchmark: the tool's own memory and CPU on long runs at production rates (CLI processes on a lab
 * of real Kamailio and SIPp stand-ins, as an operator runs them), sampled from /proc/<pid>/stat once a
 * second:
 *   1. hold: `migrate --plan` with one weighted step (new=10 %, algorithm 9) held HOLD seconds and
 *      `--traffic RATE` (default 500 calls/s): RSS after the warm-up (mean, spread around it, slope
 *      in MB per 100,000 calls), peak RSS, CPU cores while the traffic ran, the collector's kernel
 *      drops (/proc/net/udp) and the run's verdict;
 *   2. sim: `sim` at SIM_RATE calls/s (default 1000) with SIM_CALLS calls per phase (default 20,000):
 *      peak RSS, CPU cores over the run, kernel drops, status, exit code and verdict counts, the
 *      evidence used and why (results.json), the stand-in copies that reached their cap, the run
 *      folder's size.
 * Each curve row (hold: every HOLD/30 s, sim: every 5 s) has the RSS, the tool's cores, the whole
 * machine's busy cores (/proc/stat), the load average and the collector's kernel drops in that
 * interval. The hold's RSS band is given three ways: every sample around the mean (above and below),
 * each 30 s window's highest sample, and the first half's mean against the second's; with
 * --node-arg=--trace-gc also the heap in use after each full collection (what the process keeps),
 * its band and slope. The load average is printed with every figure (the machine may be shared).
 * A quiet-machine rerun: `node dist/bench/long-hold.bench.js --only hold --no-gates --hold-s 600
 * --node-arg=--trace-gc` and `node dist/bench/long-hold.bench.js --only sim --sim-arg=--media
 * --sim-arg=off` (media on is its own cost: bench/media.bench.ts).
 *
 * Usage: node dist/bench/long-hold.bench.js [--only hold|sim] [--hold-s 60] [--rate 500]
 *          [--warmup-s 60] [--sim-rate 1000] [--sim-calls 20000] [--node-arg=--cpu-prof ...]
 *          [--keep-records FILE] [--no-gates] [--sim-arg=ARG ...]
 *   --node-arg passes an option to the CLI's node (e.g. --node-arg=--cpu-prof
 *   --node-arg=--cpu-prof-dir=/tmp/prof); repeatable. --keep-records copies the hold's calls.ndjson.
 *   --no-gates holds the step without metric gates: on a loaded machine the collector's kernel drops
 *   lose answers, which can trip them and end the hold early (the split is still judged at the end).
 *   --sim-arg passes an argument to sim (e.g. --sim-arg=--evidence --sim-arg=both); repeatable.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CLI, labFixture, type LabFixture } from "../test/support/lab-fixture.js";
import {
  coresBetween,
  machineCoresBetween,
  rssFigures,
  sampleProcess,
  type ProcSample,
} from "./support/proc-sampler.js";

interface Args {
  only: "hold" | "sim" | undefined;
  holdS: number;
  rate: number;
  warmupS: number;
  simRate: number;
  simCalls: number;
  nodeArgs: string[];
  /** copy the hold's calls.ndjson here */
  keepRecords: string | undefined;
  /** the held step without metric gates (its split is still judged at the end) */
  noGates: boolean;
  /** more arguments for the sim command (e.g. --evidence hep) */
  simArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    only: undefined,
    holdS: 60,
    rate: 500,
    warmupS: 60,
    simRate: 1000,
    simCalls: 20_000,
    nodeArgs: [],
    keepRecords: undefined,
    noGates: false,
    simArgs: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === "--only") {
      const o = v();
      if (o !== "hold" && o !== "sim") throw new Error("--only hold|sim");
      a.only = o;
    } else if (k === "--hold-s") a.holdS = Number(v());
    else if (k === "--rate") a.rate = Number(v());
    else if (k === "--warmup-s") a.warmupS = Number(v());
    else if (k === "--sim-rate") a.simRate = Number(v());
    else if (k === "--sim-calls") a.simCalls = Number(v());
    else if (k === "--keep-records") a.keepRecords = v();
    else if (k === "--no-gates") a.noGates = true;
    else if (k.startsWith("--node-arg=")) a.nodeArgs.push(k.slice("--node-arg=".length));
    else if (k.startsWith("--sim-arg=")) a.simArgs.push(k.slice("--sim-arg=".length));
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  samples: ProcSample[];
  /** ms (sampler clock) when the output first matched `mark` */
  markMs: number | undefined;
  endMs: number;
  /** the CLI's own process.memoryUsage() once a second (bench/support/mem-report.ts), on the sampler's clock */
  mem: MemSample[];
}

/** one process.memoryUsage() of the CLI's main thread (MB), `tMs` on the sampler's clock */
interface MemSample {
  tMs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** the preload that reports the CLI's process.memoryUsage() (needs node --import: Node 20.6+) */
const MEM_REPORT = new URL("./support/mem-report.js", import.meta.url).pathname;

function readMem(file: string, t0Wall: number): MemSample[] {
  if (!existsSync(file)) return [];
  const mib = (x: number): number => x / 1024 / 1024;
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const m = JSON.parse(l) as {
        wallMs: number;
        rss: number;
        heapUsed: number;
        heapTotal: number;
        external: number;
        arrayBuffers: number;
      };
      return {
        tMs: m.wallMs - t0Wall,
        rss: mib(m.rss),
        heapUsed: mib(m.heapUsed),
        heapTotal: mib(m.heapTotal),
        external: mib(m.external),
        arrayBuffers: mib(m.arrayBuffers),
      };
    });
}

/** mean and range of each memoryUsage() field over the samples in [fromMs, toMs] */
function memLine(mem: readonly MemSample[], fromMs: number, toMs: number): string {
  const w = mem.filter((m) => m.tMs >= fromMs && m.tMs <= toMs);
  if (w.length === 0) return "process.memoryUsage(): no samples after the warm-up";
  const keys = ["rss", "heapTotal", "heapUsed", "external", "arrayBuffers"] as const;
  return (
    `process.memoryUsage() after the warm-up (${w.length} samples): ` +
    keys
      .map((k) => {
        const ys = w.map((m) => m[k]);
        return `${k} mean ${(ys.reduce((a, b) => a + b, 0) / ys.length).toFixed(0)} (${Math.min(...ys).toFixed(0)}-${Math.max(...ys).toFixed(0)})`;
      })
      .join(", ") +
    " MB"
  );
}

/** Run the CLI with node options, sampling its process; `mark` is a stdout line whose time is noted. */
function runSampled(
  f: LabFixture,
  nodeArgs: string[],
  args: string[],
  env: NodeJS.ProcessEnv,
  mark: RegExp,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const memFile = path.join(f.dir, `mem-${process.pid}-${Date.now()}.ndjson`);
    const t0Wall = Date.now();
    const child = spawn(process.execPath, [`--import=${MEM_REPORT}`, ...nodeArgs, CLI, ...args], {
      cwd: f.dir,
      env: { ...env, PBX_BENCH_MEM_FILE: memFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const sampler = sampleProcess(child.pid!, 1000, { address: "127.0.0.1", port: f.ports.hep });
    const t0 = performance.now();
    let stdout = "";
    let stderr = "";
    let markMs: number | undefined;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (markMs === undefined && mark.test(stdout)) markMs = performance.now() - t0;
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    // the last sample before the process is reaped: stop on 'exit'
    child.on("exit", () => sampler.stop());
    child.on("close", (code) =>
      resolve({
        code,
        stdout,
        stderr,
        samples: sampler.samples,
        markMs,
        endMs: performance.now() - t0,
        mem: readMem(memFile, t0Wall),
      }),
    );
  });
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

function largestFiles(dir: string, k: number): string {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => ({ name: e.name, mb: statSync(path.join(dir, e.name)).size / 1024 / 1024 }))
    .sort((x, y) => y.mb - x.mb)
    .slice(0, k)
    .map((x) => `${x.name} ${x.mb.toFixed(1)} MB`)
    .join(", ");
}

const runFolder = (out: string): string | undefined => /run folder (\S+)/.exec(out)?.[1];
const mb = (x: number): string => `${x.toFixed(0)} MB`;
const load = (xs: readonly ProcSample[]): string => {
  const l = xs.map((s) => s.load1);
  return `load1 ${Math.min(...l).toFixed(2)}-${Math.max(...l).toFixed(2)}`;
};

/**
 * The curve, one row per `everyS` seconds: t, RSS, the tool's cores in that interval, the whole
 * machine's busy cores (the tool, the lab and whatever else runs), the load average, and the kernel
 * drops at the collector in that interval.
 */
function curve(samples: readonly ProcSample[], everyS: number, mem: readonly MemSample[] = []): string {
  const rows: string[] = [];
  let prev: ProcSample | undefined;
  for (const s of samples) {
    if (prev !== undefined && s.tMs - prev.tMs < everyS * 1000 - 500) continue;
    const cores =
      prev === undefined
        ? ""
        : `  tool ${coresBetween(prev, s).toFixed(2)} cores, machine ${machineCoresBetween(prev, s).toFixed(2)} busy, load1 ${s.load1.toFixed(1)}`;
    const drops =
      prev !== undefined && s.udpDrops !== undefined && prev.udpDrops !== undefined
        ? `, drops +${s.udpDrops - prev.udpDrops}`
        : "";
    const m = nearest(mem, s.tMs);
    const heap =
      m === undefined
        ? ""
        : ` (heap ${m.heapUsed.toFixed(0)}/${m.heapTotal.toFixed(0)}, external ${m.external.toFixed(0)}, arrayBuffers ${m.arrayBuffers.toFixed(0)})`;
    rows.push(
      `    t=${(s.tMs / 1000).toFixed(0).padStart(4)} s  rss ${s.rssMb.toFixed(0).padStart(4)} MB${heap}${cores}${drops}`,
    );
    prev = s;
  }
  return rows.join("\n");
}

/** the memory sample nearest `tMs` (within 1.5 s) */
function nearest(mem: readonly MemSample[], tMs: number): MemSample | undefined {
  let best: MemSample | undefined;
  for (const m of mem) if (best === undefined || Math.abs(m.tMs - tMs) < Math.abs(best.tMs - tMs)) best = m;
  return best !== undefined && Math.abs(best.tMs - tMs) <= 1500 ? best : undefined;
}

/** A full collection's result from `--trace-gc` output: the heap in use after it (MB) at `tMs` (since the process started). */
interface FullGc {
  tMs: number;
  afterMb: number;
}

/**
 * The main isolate's mark-compact collections in `--trace-gc` output (`[pid:0xISOLATE] 1234 ms:
 * Mark-Compact 150.2 (160.5) -> 120.1 (165.0) MB, ...`): the heap in use after each, the memory the
 * process really keeps (RSS also counts what the collector has not given back yet). The isolate with
 * the largest heap is the main thread's (the collector's thread has its own, small).
 */
export function fullGcs(out: string): FullGc[] {
  const re =
    /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/gm;
  const by = new Map<string, FullGc[]>();
  for (const m of out.matchAll(re)) {
    const l = by.get(m[1]!) ?? [];
    l.push({ tMs: Number(m[2]), afterMb: Number(m[3]) });
    by.set(m[1]!, l);
  }
  let best: FullGc[] = [];
  for (const l of by.values())
    if (Math.max(...l.map((g) => g.afterMb)) > Math.max(0, ...best.map((g) => g.afterMb))) best = l;
  return best;
}

/** the live heap after full collections in [fromMs, toMs]: mean, band, slope per 100k calls, first and second half */
function heapLine(gcs: readonly FullGc[], fromMs: number, toMs: number, rate: number): string {
  const w = gcs.filter((g) => g.tMs >= fromMs && g.tMs <= toMs);
  if (w.length < 2) return `heap after full collections: ${w.length} in the window (run with --node-arg=--trace-gc)`;
  const ys = w.map((g) => g.afterMb);
  const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
  const mx = w.reduce((a, g) => a + g.tMs, 0) / w.length;
  let num = 0;
  let den = 0;
  for (const g of w) {
    num += (g.tMs - mx) * (g.afterMb - mean);
    den += (g.tMs - mx) ** 2;
  }
  const perMs = den === 0 ? 0 : num / den;
  const half = Math.floor(ys.length / 2);
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const halves = (100 * (avg(ys.slice(half)) - avg(ys.slice(0, half)))) / avg(ys.slice(0, half));
  return (
    `heap in use after each full collection (${w.length} after the warm-up): mean ${mean.toFixed(0)} MB, ` +
    `${Math.min(...ys).toFixed(0)}-${Math.max(...ys).toFixed(0)} MB (+${((100 * (Math.max(...ys) - mean)) / mean).toFixed(1)} % / -${((100 * (mean - Math.min(...ys))) / mean).toFixed(1)} %), ` +
    `slope ${(((perMs * 1000) / rate) * 100_000).toFixed(1)} MB per 100k calls, second half vs first ${halves >= 0 ? "+" : ""}${halves.toFixed(1)} %`
  );
}

/** the collector's drops over the run: the last figure the socket had (the sampler's, while it was bound) */
function lastDrops(samples: readonly ProcSample[]): number | undefined {
  const d = samples.map((s) => s.udpDrops).filter((x): x is number => x !== undefined);
  return d.length === 0 ? undefined : Math.max(...d);
}

async function hold(f: LabFixture, a: Args, lab: string[]): Promise<void> {
  const plan = path.join(f.dir, "long-hold.plan.yaml");
  const gates = a.noGates ? "    gates: []\n" : "";
  writeFileSync(plan, `steps:\n  - weightNew: 10\n    hold: { durationS: ${a.holdS} }\n${gates}`);
  const args = ["migrate", ...lab, "--artifacts-dir", path.join(f.dir, "art-hold"), "--plan", plan, "--traffic"];
  const r = await runSampled(f, a.nodeArgs, [...args, String(a.rate)], process.env, /^(migrate: )?traffic: \d/m);
  const dir = runFolder(r.stdout);
  console.log(`hold: pbx-cutover ${[...args, String(a.rate)].join(" ")} (hold ${a.holdS} s)`);
  if (r.markMs === undefined || dir === undefined) {
    console.log(r.stdout + r.stderr);
    throw new Error(`hold: no traffic started (exit ${r.code})`);
  }
  const res = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as {
    status: string;
    traffic?: { calls?: { total: number }; hep?: { kernelDrops?: number }; media?: Record<string, unknown> };
  };
  if (a.keepRecords !== undefined) copyFileSync(path.join(dir, "calls.ndjson"), a.keepRecords);
  const trafficEnd = r.markMs + a.holdS * 1000;
  const fromMs = r.markMs + a.warmupS * 1000;
  const fig = rssFigures(r.samples, fromMs, trafficEnd, a.rate);
  const inTraffic = r.samples.filter((s) => s.tMs >= r.markMs! && s.tMs <= trafficEnd);
  const cores = inTraffic.length >= 2 ? coresBetween(inTraffic[0]!, inTraffic[inTraffic.length - 1]!) : NaN;
  const drops = lastDrops(r.samples);
  const machine = inTraffic.length >= 2 ? machineCoresBetween(inTraffic[0]!, inTraffic[inTraffic.length - 1]!) : NaN;
  const w = fig.afterWarmup;
  console.log(
    `  exit ${r.code}, status ${res.status}, ${res.traffic?.calls?.total ?? "?"} calls, wall ${(r.endMs / 1000).toFixed(0)} s, ${load(r.samples)}`,
  );
  console.log(
    `  RSS peak ${mb(fig.peakMb)}; after ${a.warmupS} s of traffic: ` +
      (w === undefined
        ? "no samples (hold shorter than the warm-up)"
        : `mean ${mb(w.meanMb)}, ${mb(w.minMb)}-${mb(w.maxMb)} (+${w.abovePct.toFixed(1)} % / -${w.belowPct.toFixed(1)} %), slope ${fig.slopeMbPer100kCalls?.toFixed(1) ?? "?"} MB per 100k calls (${w.samples} samples); ` +
          `each ${w.peaks.bucketS} s window's highest: mean ${mb(w.peaks.meanMb)}, +${w.peaks.abovePct.toFixed(1)} % / -${w.peaks.belowPct.toFixed(1)} % (${w.peaks.n} windows); second half's mean vs first half's ${w.halvesPct >= 0 ? "+" : ""}${w.halvesPct.toFixed(1)} %`),
  );
  console.log(
    `  CPU while the traffic ran: the tool ${cores.toFixed(2)} cores (${((100 * cores) / os.cpus().length).toFixed(0)} % of the machine), the machine ${machine.toFixed(2)} of ${os.cpus().length} busy; kernel HEP drops ${drops ?? "?"} (results.json: ${res.traffic?.hep?.kernelDrops ?? "?"})`,
  );
  if (res.traffic?.media) console.log(`  media: ${JSON.stringify(res.traffic.media)}`);
  console.log(`  ${heapLine(fullGcs(r.stdout + r.stderr), fromMs, trafficEnd, a.rate)}`);
  console.log(`  ${memLine(r.mem, fromMs, trafficEnd)}`);
  console.log(`  run folder ${(dirBytes(dir) / 1024 / 1024).toFixed(0)} MB: ${largestFiles(dir, 4)}`);
  console.log(curve(r.samples, Math.max(5, Math.round(a.holdS / 30)), r.mem));
  if (r.code !== 0)
    console.log(
      (r.stdout + r.stderr)
        .trimEnd()
        .split("\n")
        .filter((l) => !/^\[\d+:0x/.test(l))
        .slice(-8)
        .join("\n"),
    );
}

async function sim(f: LabFixture, a: Args, lab: string[]): Promise<void> {
  const knobs = {
    CALL_RATE: String(a.simRate),
    CALLS_PER_PHASE: String(a.simCalls),
    CALL_DURATION_MS: "1000",
    LONG_CALL_MS: "5000",
    POST_CUTOVER_CALLS: "1000",
  };
  const args = ["sim", ...lab, "--quiet", "--artifacts-dir", path.join(f.dir, "art-sim"), ...a.simArgs];
  const r = await runSampled(f, a.nodeArgs, args, { ...process.env, ...knobs }, /^run folder /m);
  console.log(
    `sim: ${Object.entries(knobs)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")} pbx-cutover ${args.join(" ")}`,
  );
  const art = path.join(f.dir, "art-sim");
  const dir = (existsSync(art) ? readdirSync(art) : []).find((n) => n.startsWith("call-cutover-"));
  if (dir === undefined) throw new Error(`sim: no run folder (exit ${r.code}): ${r.stdout}${r.stderr}`);
  const runDir = path.join(f.dir, "art-sim", dir);
  const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as {
    status: string;
    calls: unknown[];
    callsListed?: { total: number };
    verdicts?: { verdict: string }[];
    evidence?: {
      mode?: string;
      why?: string;
      hep?: { kernelDrops?: number };
      logCopies?: { file: string; droppedBytes: number }[];
    };
  };
  const first = r.samples[0]!;
  const last = r.samples.at(-1)!;
  const peak = Math.max(...r.samples.map((s) => s.rssMb));
  const verdicts = new Map<string, number>();
  for (const v of res.verdicts ?? []) verdicts.set(v.verdict, (verdicts.get(v.verdict) ?? 0) + 1);
  console.log(
    `  exit ${r.code}, status ${res.status}, verdicts ${[...verdicts].map(([k, n]) => `${n} ${k}`).join(", ")}, ${res.callsListed?.total ?? res.calls.length} calls, wall ${(r.endMs / 1000).toFixed(0)} s, ${load(r.samples)}`,
  );
  console.log(
    `  evidence ${res.evidence?.mode ?? "?"}${res.evidence?.why !== undefined ? ` (${res.evidence.why})` : ""}`,
  );
  // the calls' part: from the first sample with traffic-like CPU to the end, whole run for the share
  console.log(
    `  RSS peak ${mb(peak)}; the tool's CPU ${(last.userS - first.userS).toFixed(1)} s user + ${(last.systemS - first.systemS).toFixed(1)} s system = ${coresBetween(first, last).toFixed(2)} cores over the run (${((100 * coresBetween(first, last)) / os.cpus().length).toFixed(0)} % of the machine); ` +
      `the machine ${machineCoresBetween(first, last).toFixed(2)} of ${os.cpus().length} cores busy; kernel HEP drops ${lastDrops(r.samples) ?? "?"} (results.json: ${res.evidence?.hep?.kernelDrops ?? "?"})`,
  );
  for (const c of res.evidence?.logCopies ?? [])
    console.log(`  ${c.file}: capped, ${(c.droppedBytes / 1024 / 1024).toFixed(1)} MB let go`);
  console.log(`  run folder ${(dirBytes(runDir) / 1024 / 1024).toFixed(0)} MB: ${largestFiles(runDir, 5)}`);
  console.log(curve(r.samples, 5, r.mem));
  if (r.code !== 0) console.log(r.stdout.trimEnd().split("\n").slice(-15).join("\n"));
}

/** A lab of its own for each part (hold: algorithm 9 for the weighted step; sim: round-robin). */
async function onLab(lab: string[], part: (f: LabFixture, lab: string[]) => Promise<void>): Promise<void> {
  const f = await labFixture();
  try {
    const up = await f.cli(["lab", "up", ...f.flags, ...lab]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    await part(f, [...f.flags, ...lab]);
  } finally {
    await f.dispose();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  console.log(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; node ${process.version}`,
  );
  if (a.only !== "sim") await onLab(["--dispatcher-alg", "9"], (f, lab) => hold(f, a, lab));
  if (a.only !== "hold") await onLab([], (f, lab) => sim(f, a, lab));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
