/**
 * Benchmark: `pbx-cutover lab up --backends freeswitch` (Kamailio + FreeSWITCH 1.10.3 + 1.10.12) to
 * ready, whole CLI processes, on free ports in temp dirs:
 *   cold = a fresh lab dir each time (the DTLS certificates are made first: openssl, 2048 bit);
 *   warm = the same lab dir again (certificates kept).
 * and `lab down` (FreeSWITCH's own shutdown after SIGTERM dominates it).
 * Needs `make real-services`. Usage: node dist/bench/freeswitch-lab.bench.js [iterations]
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { freeswitchFlags } from "../test/support/freeswitch-fixture.js";
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 5);
  const f = await labFixture();
  const fs = await freeswitchFlags();
  const runs: Record<"cold" | "warm", { cli: number[]; ready: number[] }> = {
    cold: { cli: [], ready: [] },
    warm: { cli: [], ready: [] },
  };
  const down: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      for (const kind of ["cold", "warm"] as const) {
        if (kind === "cold") rmSync(f.labDir, { recursive: true, force: true });
        let t = performance.now();
        const u = await f.cli(["lab", "up", ...f.flags, ...fs], { timeoutMs: 60_000 });
        runs[kind].cli.push(performance.now() - t);
        if (u.code !== 0) throw new Error(`lab up failed: ${u.stderr}`);
        runs[kind].ready.push(Number(/lab ready in (\d+) ms/.exec(u.stdout)?.[1]));
        t = performance.now();
        const d = await f.cli(["lab", "down", ...f.flags]);
        down.push(performance.now() - t);
        if (d.code !== 0) throw new Error(`lab down failed: ${d.stderr}`);
      }
    }
  } finally {
    await f.dispose();
  }
  const fmt = (xs: number[]): string =>
    `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
  console.log(`lab up --backends freeswitch, cold (fresh lab dir), CLI start to ready (n=${n}): ${fmt(runs.cold.cli)}`);
  console.log(`                                    cold, inside the process:           ${fmt(runs.cold.ready)}`);
  console.log(`lab up --backends freeswitch, warm (certs kept), CLI start to ready (n=${n}):  ${fmt(runs.warm.cli)}`);
  console.log(`                                    warm, inside the process:           ${fmt(runs.warm.ready)}`);
  console.log(`lab down (two FreeSWITCH + Kamailio), CLI start to exit (n=${down.length}): ${fmt(down)}`);
  console.log(
    `(lab dir ${path.basename(f.labDir)} under a temp dir; load average ${(await import("node:os"))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
