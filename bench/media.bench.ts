/**
 * Benchmark: what media costs the lab's zero-failure call rate on the SIPp stand-ins. `pbx-cutover sim`
 * with `--media on` and `--media off` at rising call rates (calls held `hold` ms, `seconds` of calls per
 * phase); the knee is the last rate at which the whole run passes (every assertion, media-both-ways
 * included with media on). Each rate runs on a fresh lab.
 * Usage: node dist/bench/media.bench.js [seconds] [hold] [rates...]
 */
import os from "node:os";
import path from "node:path";
import { labFixture } from "../test/support/lab-fixture.js";

const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

async function simAt(media: "on" | "off", rate: number, seconds: number, hold: number): Promise<boolean> {
  const f = await labFixture();
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CALLS_PER_PHASE: String(Math.max(2, Math.round(rate * seconds))),
      CALL_RATE: String(rate),
      CALL_DURATION_MS: String(hold),
      LONG_CALL_MS: "2500",
      POST_CUTOVER_CALLS: "4",
    };
    const t = performance.now();
    const r = await f.cli(["sim", ...f.flags, "--media", media, "--artifacts-dir", path.join(f.dir, "art")], {
      env,
      timeoutMs: 600_000,
    });
    const fails = (r.stdout.match(/^\s*FAIL \S+ \S+: .*/gm) ?? []).slice(0, 3);
    console.log(
      `media ${media.padEnd(3)} rate ${String(rate).padStart(4)}/s: exit ${r.code} in ${((performance.now() - t) / 1000).toFixed(1)} s (load ${load()})${fails.length ? "\n    " + fails.join("\n    ") : ""}`,
    );
    return r.code === 0;
  } finally {
    await f.dispose();
  }
}

const [seconds = 5, hold = 1000, ...rates] = process.argv.slice(2).map(Number);
const ladder = rates.length > 0 ? rates : [50, 100, 200, 300, 400];
console.log(`machine: ${os.cpus().length} cores; ${seconds} s of calls per phase, held ${hold} ms; load ${load()}`);
for (const media of ["off", "on"] as const) {
  let knee = 0;
  for (const rate of ladder) {
    if (!(await simAt(media, rate, seconds, hold))) break;
    knee = rate;
  }
  console.log(`media ${media}: zero-failure up to ${knee} calls/s (of ${ladder.join(", ")})`);
}
