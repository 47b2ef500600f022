/**
 * Benchmark: wall time of a whole `pbx-cutover sim` (CLI process, lab already running) at
 *   1. the seed's defaults, next to the seed's lower bound for the same work: three 35 s gaps +
 *      three 3.2 s bursts + 1.4 s precheck + 25.2 s long call = 141.5 s (measured with real SIPp),
 *      as a ratio, and the overhead above the floor the knobs impose (the call time itself);
 *   2. CALL_RATE=50, LONG_CALL_MS=5000;
 *   3. load: CALL_RATE=500, CALLS_PER_PHASE=5000, CALL_DURATION_MS=1000 (LONG_CALL_MS=5000), which
 *      must pass with zero failed, lost or misrouted calls.
 * Targets: 1 under 40 s, 2 under 12 s, overhead under 2 s.
 * Usage: node dist/bench/sim.bench.js [--no-load]
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { labFixture, type LabFixture } from "../test/support/lab-fixture.js";
import { seedEnv } from "../test/support/sim-knobs.js";

const SEED_LOWER_BOUND_S = 141.5;

interface Results {
  durationMs: number;
  floorMs: number;
  status: string;
  calls: { outcome: string; burst: string; inviteBackend: string | null }[];
  verdicts: { phase: string; name: string; verdict: string; details: string }[];
}

async function runSim(
  f: LabFixture,
  label: string,
  knobs: Record<string, string>,
): Promise<{ wallS: number; r: Results }> {
  const env: NodeJS.ProcessEnv = { ...seedEnv(), ...knobs };
  const artifacts = path.join(f.dir, "artifacts", label);
  const t = performance.now();
  const out = await f.cli(["sim", ...f.flags, "--quiet", "--artifacts-dir", artifacts], { env, timeoutMs: 300_000 });
  const wallS = (performance.now() - t) / 1000;
  const run = readdirSync(artifacts).find((n) => n.startsWith("call-cutover-"));
  if (run === undefined) throw new Error(`${label}: no run folder (exit ${out.code}): ${out.stderr}`);
  const r = JSON.parse(readFileSync(path.join(artifacts, run, "results.json"), "utf8")) as Results;
  if (out.code !== 0) {
    console.log(out.stdout.trimEnd().split("\n").slice(-10).join("\n"));
    throw new Error(`${label}: sim exited ${out.code}`);
  }
  return { wallS, r };
}

function line(label: string, wallS: number, r: Results, targetS: number | undefined): string {
  const floorS = r.floorMs / 1000;
  const inRun = r.durationMs / 1000;
  const parts = [
    `${label}: wall ${wallS.toFixed(2)} s (CLI process; inside the run ${inRun.toFixed(2)} s)`,
    `floor ${floorS.toFixed(2)} s, overhead ${(wallS - floorS).toFixed(2)} s (inside the run ${(inRun - floorS).toFixed(2)} s)`,
  ];
  if (targetS !== undefined) parts.push(`target < ${targetS} s: ${wallS < targetS ? "met" : "MISSED"}`);
  return parts.join("; ");
}

async function main(): Promise<void> {
  const load = !process.argv.includes("--no-load");
  const f = await labFixture();
  try {
    const up = await f.cli(["lab", "up", ...f.flags]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);

    const seed = await runSim(f, "seed-defaults", {});
    console.log(line("seed defaults", seed.wallS, seed.r, 40));
    console.log(
      `  seed's lower bound for the same work ${SEED_LOWER_BOUND_S} s -> ${(SEED_LOWER_BOUND_S / seed.wallS).toFixed(2)}x faster ` +
        `(overhead target < 2 s: ${seed.wallS - seed.r.floorMs / 1000 < 2 ? "met" : "MISSED"})`,
    );

    const fast = await runSim(f, "rate50-long5000", { CALL_RATE: "50", LONG_CALL_MS: "5000" });
    console.log(line("CALL_RATE=50 LONG_CALL_MS=5000", fast.wallS, fast.r, 12));

    if (load) {
      const l = await runSim(f, "load-500", {
        CALL_RATE: "500",
        CALLS_PER_PHASE: "5000",
        CALL_DURATION_MS: "1000",
        LONG_CALL_MS: "5000",
      });
      const calls = l.r.calls.filter((c) => ["old", "both", "new"].includes(c.burst));
      const failed = calls.filter((c) => c.outcome !== "completed").length;
      const lost = calls.filter((c) => c.inviteBackend === null).length;
      const misrouted = l.r.verdicts.filter((v) => v.name === "routing" && v.verdict !== "pass").length;
      const split = l.r.verdicts.find((v) => v.phase === "both" && v.name === "split")?.details ?? "?";
      console.log(line("load CALL_RATE=500 CALLS_PER_PHASE=5000 hold 1 s", l.wallS, l.r, undefined));
      console.log(
        `  ${calls.length} phase calls: ${failed} failed, ${lost} lost, ${misrouted} routing verdicts failed; both: ${split}; status ${l.r.status}`,
      );
    }
  } finally {
    await f.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
