/**
 * Benchmark: `pbx-cutover lab up --backends freeswitch --fusionpbx` (Kamailio, FreeSWITCH 1.10.3 +
 * 1.10.12, PostgreSQL, FusionPBX 5.3.0 + 5.5.7 on PHP's server) to ready, whole CLI processes, on
 * free ports in a temp dir:
 *   cold = a fresh lab dir each time (initdb makes PostgreSQL's data dir, openssl FreeSWITCH's certificates);
 *   warm = the same lab dir again (data dir and certificates kept);
 * and `lab down`. Needs `make real-services`. Usage: node dist/bench/fusionpbx-lab.bench.js [iterations]
 */
import { rmSync } from "node:fs";
import os from "node:os";
import { freeswitchFlags } from "../test/support/freeswitch-fixture.js";
import { freeTcpPort } from "../test/support/lab-fixture.js";
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 3);
  const f = await labFixture();
  const flags = [
    ...f.flags,
    ...(await freeswitchFlags()),
    "--fusionpbx",
    "--old-http-port",
    String(await freeTcpPort()),
    "--new-http-port",
    String(await freeTcpPort()),
    "--postgres-port",
    String(await freeTcpPort()),
    "--ready-timeout-ms",
    "60000",
  ];
  const runs: Record<"cold" | "warm", { cli: number[]; ready: number[] }> = {
    cold: { cli: [], ready: [] },
    warm: { cli: [], ready: [] },
  };
  const down: number[] = [];
  const load: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      for (const kind of ["cold", "warm"] as const) {
        if (kind === "cold") rmSync(f.labDir, { recursive: true, force: true });
        load.push(os.loadavg()[0]!);
        let t = performance.now();
        const u = await f.cli(["lab", "up", ...flags], { timeoutMs: 30 * 60_000 });
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
  console.log(
    `lab up --fusionpbx, cold (fresh lab dir: initdb + certs), CLI start to ready (n=${n}): ${fmt(runs.cold.cli)}`,
  );
  console.log(`                     cold, inside the process:                        ${fmt(runs.cold.ready)}`);
  console.log(`lab up --fusionpbx, warm (data dir + certs kept), CLI start to ready (n=${n}): ${fmt(runs.warm.cli)}`);
  console.log(`                     warm, inside the process:                        ${fmt(runs.warm.ready)}`);
  console.log(
    `lab down (PHP x2, PostgreSQL, FreeSWITCH x2, Kamailio), CLI start to exit (n=${down.length}): ${fmt(down)}`,
  );
  console.log(
    `(1-minute load average at each start: ${load.map((l) => l.toFixed(1)).join(" ")}; ${os.cpus().length} cores)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
