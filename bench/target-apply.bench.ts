/**
 * Benchmark: one verified apply on a production target per transport and list source (ms): JSON-RPC
 * over HTTP + the list file, kamcmd on the ctl socket + the file, kamcmd and the file over ssh (one
 * shared connection), HTTP + the dispatcher table in PostgreSQL (one transaction). A harness node
 * (test/support/production-node.ts) with reload_delta 0, so the guard does not enter the figure;
 * `runs` applies alternating old and both, median of each.
 *
 * Usage: node dist/bench/target-apply.bench.js [runs]
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { verifiedApply } from "../src/apply/apply.js";
import { productionTarget } from "../src/target/production-target.js";
import { readTargetFile } from "../src/target/target-file.js";
import { startProductionNode, writeTargetFile, type NodeAuth } from "../test/support/production-node.js";
import { median } from "./support/median.js";

const AUTH: NodeAuth = { bearer: "bench-token" };

async function bench(
  what: string,
  runs: number,
  o: { ssh?: boolean; listSource?: "db"; transport?: "http" | "kamcmd" | "kamcmd-ssh" },
): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-bench-tapply-"));
  const node = await startProductionNode({
    auth: AUTH,
    reloadDelta: 0,
    ...(o.ssh ? { ssh: true } : {}),
    ...(o.listSource ? { listSource: o.listSource } : {}),
  });
  const target = productionTarget(
    readTargetFile(writeTargetFile(node, dir, AUTH, { transport: o.transport ?? "http" }).file),
  );
  try {
    const total: number[] = [];
    const parts = { write: [] as number[], reload: [] as number[], verify: [] as number[] };
    for (let i = 0; i < runs; i++) {
      const out = await verifiedApply(target, i % 2 === 0 ? "both" : "old", { command: "bench" });
      total.push(out.timings.totalMs);
      parts.write.push(out.timings.backupMs + out.timings.writeMs);
      parts.reload.push(out.timings.reloadMs);
      parts.verify.push(out.timings.verifyMs);
    }
    const f = (xs: number[]): string => `${median(xs).toFixed(1)} ms`;
    console.log(
      `${what.padEnd(34)} total ${f(total)} (min ${Math.min(...total).toFixed(1)}, max ${Math.max(...total).toFixed(1)}); ` +
        `read+backup+write ${f(parts.write)}, reload ${f(parts.reload)}, read back ${f(parts.verify)} (n=${runs})`,
    );
  } finally {
    target.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 10);
  console.log(`load average (1 min) at the start: ${os.loadavg()[0]!.toFixed(2)}`);
  await bench("http JSON-RPC + list file", runs, {});
  await bench("kamcmd (ctl socket) + list file", runs, { transport: "kamcmd" });
  await bench("kamcmd + list file over ssh", runs, { ssh: true, transport: "kamcmd-ssh" });
  await bench("http JSON-RPC + PostgreSQL table", runs, { listSource: "db" });
  console.log(`load average (1 min) at the end: ${os.loadavg()[0]!.toFixed(2)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
