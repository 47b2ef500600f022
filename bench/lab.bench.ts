/**
 * Benchmark: `pbx-cutover lab up` to ready and `lab down`, whole CLI processes (Node start included),
 * on free ports in a temp dir. Prints medians. Usage: node dist/bench/lab.bench.js [iterations]
 * Target: up to ready under 1 s including the CLI's own start.
 */
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10);
  const f = await labFixture();
  const up: number[] = [];
  const inProcess: number[] = [];
  const down: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      const u = await f.cli(["lab", "up", ...f.flags]);
      up.push(performance.now() - t);
      if (u.code !== 0) throw new Error(`lab up failed: ${u.stderr}`);
      inProcess.push(Number(/lab ready in (\d+) ms/.exec(u.stdout)?.[1]));
      t = performance.now();
      const d = await f.cli(["lab", "down", ...f.flags]);
      down.push(performance.now() - t);
      if (d.code !== 0) throw new Error(`lab down failed: ${d.stderr}`);
    }
  } finally {
    await f.dispose();
  }
  const fmt = (xs: number[]): string =>
    `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`lab up, CLI start to ready (n=${n}):   ${fmt(up)}`);
  console.log(`lab up, inside the process (n=${n}):  ${fmt(inProcess)}`);
  console.log(`lab down, CLI start to exit (n=${n}): ${fmt(down)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
