/**
 * Benchmark: one fleet step (every node checked, written, reloaded in parallel, read back) on N
 * "production" Kamailio nodes of the test harness (test/support/production-node.ts, reload_delta 0,
 * JSON-RPC over HTTP, a list file per node; with --shared-table every node reads one dispatcher table
 * in the first node's PostgreSQL, written once per step in one transaction), inside the process: the
 * step's apply+verify time and its skew (first to last accepted reload reply, and its bound from the
 * first request sent).
 * Usage: node dist/bench/fleet.bench.js [steps] [--shared-table] [N...]   (default: 20 steps, N = 1 3 10)
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fleetApply, type FleetMember } from "../src/fleet/fleet-apply.js";
import { productionTarget } from "../src/target/production-target.js";
import { readTargetFile } from "../src/target/target-file.js";
import {
  startProductionNode,
  writeFleetTargetFile,
  type NodeAuth,
  type ProductionNode,
} from "../test/support/production-node.js";
import { median } from "./support/median.js";

const AUTH: NodeAuth = { bearer: "bench-token" };

const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;

async function fleetOf(n: number, steps: number, sharedTable: boolean): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-bench-fleet-"));
  const nodes: ProductionNode[] = [];
  let members: FleetMember[] = [];
  try {
    const table = sharedTable ? { listSource: "db" as const } : {};
    nodes.push(await startProductionNode({ auth: AUTH, reloadDelta: 0, ...table }));
    for (let i = 1; i < n; i++)
      nodes.push(
        await startProductionNode({
          auth: AUTH,
          reloadDelta: 0,
          ...table,
          sharedBackends: nodes[0]!.backends,
          ...(sharedTable ? { sharedDb: nodes[0]!.db } : {}),
        }),
      );
    const file = writeFleetTargetFile(
      nodes.map((node, i) => ({ name: `kam${i + 1}`, node })),
      dir,
      AUTH,
    );
    const spec = readTargetFile(file);
    members = spec.nodes.map((node) => ({ name: node.name, target: productionTarget(spec, node) }));
    // warm up the keep-alive connections
    await fleetApply(members, "both");
    await fleetApply(members, "old");
    const total: number[] = [];
    const skew: number[] = [];
    const bound: number[] = [];
    for (let i = 0; i < steps; i++) {
      const o = await fleetApply(members, i % 2 === 0 ? "new" : "both");
      if (!o.changed || !o.skew) throw new Error("every step must change every node");
      total.push(o.totalMs);
      skew.push(o.skew.skewMs);
      bound.push(o.skew.boundMs);
    }
    process.stdout.write(
      `N=${n}${sharedTable ? " (one shared table)" : ""}: step apply+verify ${fmt(total)}; skew ${fmt(skew)}; mixed at most ${fmt(bound)} (${steps} steps)\n`,
    );
  } finally {
    for (const m of members) m.target.close();
    await Promise.all(nodes.map((x) => x.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const steps = Number(process.argv[2] ?? 20);
  const rest = process.argv.slice(3);
  const sharedTable = rest.includes("--shared-table");
  const sizes = rest.filter((a) => a !== "--shared-table").map(Number);
  for (const n of sizes.length > 0 ? sizes : [1, 3, 10]) await fleetOf(n, steps, sharedTable);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
