/**
 * Benchmark: installing FusionPBX 5.3.0 and 5.5.7 in `lab up --backends freeswitch --fusionpbx`
 * (installer.ts), whole CLI processes on free ports in a temp dir, per slot as `lab up` reports it:
 *   cold     = a fresh lab dir and an empty install cache (schema, domain, app defaults, admin, permissions);
 *   restored = a fresh lab dir, the cache from the cold run (pg_restore of the finished install);
 *   kept     = the same lab dir again (its PostgreSQL data outlives lab down).
 * The cache is a temp dir (PBX_CUTOVER_FUSIONPBX_CACHE), never the user's. Needs `make real-services`.
 * Usage: node dist/bench/fusionpbx-install.bench.js [warm-iterations]   (one cold run: minutes)
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freeswitchFlags } from "../test/support/freeswitch-fixture.js";
import { freeTcpPort } from "../test/support/lab-fixture.js";
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

type Kind = "cold" | "restored" | "kept";

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 3);
  const cache = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-fusionpbx-cache-"));
  const env = { ...process.env, PBX_CUTOVER_FUSIONPBX_CACHE: cache };
  const f = await labFixture();
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freeTcpPort());
  const [oldHttp, newHttp, pg] = [...ports];
  const flags = [
    ...f.flags,
    ...(await freeswitchFlags()),
    "--fusionpbx",
    "--old-http-port",
    String(oldHttp),
    "--new-http-port",
    String(newHttp),
    "--postgres-port",
    String(pg),
    "--ready-timeout-ms",
    "60000",
  ];
  const slot: Record<Kind, Record<"old" | "new", number[]>> = {
    cold: { old: [], new: [] },
    restored: { old: [], new: [] },
    kept: { old: [], new: [] },
  };
  const whole: Record<Kind, number[]> = { cold: [], restored: [], kept: [] };
  const load: string[] = [];
  const run = async (kind: Kind): Promise<void> => {
    if (kind !== "kept") rmSync(f.labDir, { recursive: true, force: true });
    load.push(`${kind} ${os.loadavg()[0]!.toFixed(1)}`);
    const t = performance.now();
    const u = await f.cli(["lab", "up", ...flags], { env, timeoutMs: 30 * 60_000 });
    whole[kind].push(performance.now() - t);
    if (u.code !== 0) throw new Error(`lab up failed: ${u.stdout}${u.stderr}`);
    for (const role of ["old", "new"] as const) {
      const m = new RegExp(`FusionPBX ${role} \\S+ (\\w+) in ([\\d.]+) s`).exec(u.stdout);
      const how = { installed: "cold", restored: "restored", kept: "kept" }[m?.[1] ?? ""];
      if (how !== kind) throw new Error(`expected ${kind} for ${role}, lab up said: ${m?.[0] ?? u.stdout}`);
      slot[kind][role].push(Number(m![2]) * 1000);
    }
    const d = await f.cli(["lab", "down", ...f.flags], { env });
    if (d.code !== 0) throw new Error(`lab down failed: ${d.stderr}`);
  };
  try {
    await run("cold");
    for (let i = 0; i < n; i++) {
      await run("restored");
      await run("kept");
    }
  } finally {
    await f.dispose();
    rmSync(cache, { recursive: true, force: true });
  }
  const fmt = (xs: number[]): string =>
    xs.length === 1
      ? `${(xs[0]! / 1000).toFixed(1)} s`
      : `median ${(median(xs) / 1000).toFixed(1)} s (min ${(Math.min(...xs) / 1000).toFixed(1)}, max ${(Math.max(...xs) / 1000).toFixed(1)}, n=${xs.length})`;
  for (const kind of ["cold", "restored", "kept"] as const) {
    console.log(
      `${kind.padEnd(8)} install: old 5.3.0 ${fmt(slot[kind].old)}; new 5.5.7 ${fmt(slot[kind].new)}; whole lab up ${fmt(whole[kind])}`,
    );
  }
  console.log(`(1-minute load average at each start: ${load.join(", ")}; ${os.cpus().length} cores)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
