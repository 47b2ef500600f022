/**
 * Benchmark: one verified apply (lock + backup + atomic write + dispatcher.reload + read-back of the
 * file and the runtime) inside the process, against a raw write + reload RPC; and a whole
 * `pbx-cutover migrate` (CLI process) on a running lab. Free ports, temp dir, lab reload_delta 0.
 * Usage: node dist/bench/apply.bench.js [applies] [migrates]
 * Target: one verified apply under 50 ms in-process (raw write + reload: 8-12 ms here).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { resolveLabSettings } from "../src/config/lab-config.js";
import { verifiedApply } from "../src/apply/apply.js";
import { nativeTarget } from "../src/lab/native-target.js";
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;

async function main(): Promise<void> {
  const nApply = Number(process.argv[2] ?? 60);
  const nMigrate = Number(process.argv[3] ?? 5);
  const f = await labFixture();
  try {
    const up = await f.cli(["lab", "up", ...f.flags]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    const s = resolveLabSettings(undefined, {
      labDir: f.labDir,
      sipPort: String(f.ports.sip),
      rpcPort: String(f.ports.rpc),
      oldPort: String(f.ports.old),
      newPort: String(f.ports.new),
    });
    const target = nativeTarget(s);
    try {
      // warm up the keep-alive connection and the code paths
      await verifiedApply(target, "both");
      await verifiedApply(target, "old");
      const raw: number[] = [];
      const bothText = readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8");
      for (let i = 0; i < nApply; i++) {
        const t = performance.now();
        await target.dispatcherList.writeAtomic(bothText);
        await target.rpc.call("dispatcher.reload");
        raw.push(performance.now() - t);
      }
      const wall: number[] = [];
      const inside: number[] = [];
      const stages = {
        lock: [] as number[],
        backup: [] as number[],
        write: [] as number[],
        reload: [] as number[],
        verify: [] as number[],
      };
      for (let i = 0; i < nApply; i++) {
        const t = performance.now();
        const o = await verifiedApply(target, i % 2 === 0 ? "new" : "both");
        wall.push(performance.now() - t);
        if (!o.changed) throw new Error("every apply must change the profile");
        inside.push(o.timings.totalMs);
        stages.lock.push(o.timings.lockMs);
        stages.backup.push(o.timings.backupMs);
        stages.write.push(o.timings.writeMs);
        stages.reload.push(o.timings.reloadMs);
        stages.verify.push(o.timings.verifyMs);
      }
      console.log(`raw write + dispatcher.reload RPC:        ${fmt(raw)}`);
      console.log(`verified apply, in-process (wall):        ${fmt(wall)}`);
      console.log(`verified apply, its own timings.totalMs:  ${fmt(inside)}`);
      console.log(
        `  stages (median ms): ${Object.entries(stages)
          .map(([k, v]) => `${k} ${median(v).toFixed(2)}`)
          .join(", ")}`,
      );
    } finally {
      target.close();
    }

    const mig: number[] = [];
    const migInside: number[] = [];
    for (let i = 0; i < nMigrate; i++) {
      const art = path.join(f.dir, "bench-artifacts");
      const t = performance.now();
      const r = await f.cli(["migrate", ...f.flags, "--artifacts-dir", art]);
      mig.push(performance.now() - t);
      if (r.code !== 0) throw new Error(`migrate failed: ${r.stderr}`);
      const results = JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as {
        durationMs: number;
      };
      migInside.push(results.durationMs);
    }
    console.log(`migrate on a running lab, CLI start to exit: ${fmt(mig)}`);
    console.log(`migrate on a running lab, results.durationMs: ${fmt(migInside)}`);
  } finally {
    await f.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
