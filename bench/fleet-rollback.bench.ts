/**
 * Benchmark: the automatic rollback's reaction on a fleet of three harness nodes
 * (test/support/target-fleet.ts: algorithm 9, all in front of the same two PBXs, all mirroring to one
 * collector; each its own list file, or with --shared-table every node reading one dispatcher table in
 * the first node's PostgreSQL) with SIPp users calling through every node, RATE calls/s in all (a third
 * through each). The new PBX refuses every fifth call (uas-503-one-in-five.xml), so
 * `pbx-cutover migrate --target FLEET --steps 0,10` fails step 2's gates and goes back to step 1 on
 * every node: new out of selection on every node first (set_state; traffic stopped once the last node
 * read back without it), then the verified all-or-nothing restore (routing restored once every node
 * read back old; on the table: one transaction, every node reloaded in parallel). Each run starts
 * fresh nodes. Run with the nodes' reload_delta 0 and Kamailio's default 5 s.
 *
 * Usage: node dist/bench/fleet-rollback.bench.js [runs per setting] [rate in all] [reload_delta,...] [--shared-table]
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "../test/support/lab-fixture.js";
import type { NodeAuth } from "../test/support/production-node.js";
import { targetFleet, type TargetFleet } from "../test/support/target-fleet.js";
import { median } from "./support/median.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-bench" };

interface Rollback {
  ok: boolean;
  reason?: string;
  durationMs: number;
  reloadWaitedMs?: number;
  reaction?: {
    reactionMs: number;
    stopMs?: number;
    routed: number;
    failed: number;
    untilStopped?: { routed: number; failed: number };
    afterStopped?: { routed: number; failed: number };
  };
}
interface Results {
  rollback?: Rollback;
  fleet?: { takeOut?: { name: string; ok: boolean; durationMs: number }[]; rollback?: { ok: boolean } };
}

const fmt = (xs: number[], unit = "ms", digits = 0): string =>
  `median ${median(xs).toFixed(digits)} ${unit} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)}, n=${xs.length})`;

/** a run that never reached its gate: a destination check's OPTIONS went unanswered under the load */
const NOT_ANSWERED = /does not answer|do not answer/;

async function oneRun(reloadDelta: number, rate: number, i: number, sharedTable: boolean): Promise<Results | string> {
  let f: TargetFleet | undefined;
  try {
    f = await targetFleet({
      prefix: "bench-fleet-rb",
      auth: AUTH,
      sharedTable,
      node: (k) => ({ reloadDelta, ...(k === 0 ? { scenarios: { new: "uas-503-one-in-five.xml" } } : {}) }),
    });
    f.callers(Math.round(rate / 3));
    const r = await runCli(
      ["migrate", "--target", f.file, "--artifacts-dir", path.join(f.dir, "art"), "--steps", "0,10"],
      {
        cwd: f.dir,
        timeoutMs: 180_000,
      },
    );
    const runDir = /run folder (\S+)/.exec(r.stdout)?.[1];
    if (r.code !== 1 || runDir === undefined)
      throw new Error(`run ${i}: expected exit 1 (rollback), got ${r.code}: ${r.stderr}${r.stdout}`);
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
    if (!res.rollback?.reaction && NOT_ANSWERED.test(res.rollback?.reason ?? "")) return res.rollback!.reason!;
    if (!res.rollback?.ok || !res.rollback.reaction || res.fleet?.rollback?.ok !== true)
      throw new Error(`run ${i}: no verified fleet rollback with a reaction: ${JSON.stringify(res.rollback)}`);
    return res;
  } finally {
    await f?.dispose();
  }
}

async function bench(reloadDelta: number, runs: number, rate: number, sharedTable: boolean): Promise<void> {
  const rows: Results[] = [];
  const skipped: string[] = [];
  const load = [os.loadavg()[0]!];
  for (let i = 0; rows.length < runs && i < runs * 2; i++) {
    const r = await oneRun(reloadDelta, rate, i, sharedTable);
    if (typeof r === "string") skipped.push(r);
    else rows.push(r);
    load.push(os.loadavg()[0]!);
  }
  if (rows.length === 0) throw new Error(`no run reached its gate: ${skipped.join("; ")}`);
  const rb = rows.map((x) => x.rollback!);
  const stopped = rb.filter((x) => x.reaction!.stopMs !== undefined);
  console.log(
    `3 nodes (${sharedTable ? "one shared PostgreSQL table" : "a list file each"}), reload_delta ${reloadDelta} s, ${rate} calls/s in all, new=10 % refusing 1 in 5 (${runs} runs):`,
  );
  if (skipped.length > 0)
    console.log(
      `  ${skipped.length} run(s) left out, ended before the gate (a destination check): ${skipped.join("; ")}`,
    );
  if (stopped.length < rb.length) console.log(`  not taken out first in ${rb.length - stopped.length} run(s)`);
  if (stopped.length > 0)
    console.log(
      `  traffic stopped (first failing call's INVITE -> new out of selection on every node): ${fmt(stopped.map((x) => x.reaction!.stopMs!))}`,
    );
  console.log(
    `  routing restored (first failing call's INVITE -> every node read back old):        ${fmt(rb.map((x) => x.reaction!.reactionMs))}`,
  );
  console.log(
    `    of which the rollback's all-or-nothing verified restore: ${fmt(
      rb.map((x) => x.durationMs),
      "ms",
      1,
    )}`,
  );
  console.log(`    of which waiting out the reload guard: ${fmt(rb.map((x) => x.reloadWaitedMs ?? 0))}`);
  const takeOuts = rows.flatMap((x) => x.fleet?.takeOut ?? []).filter((t) => t.ok);
  if (takeOuts.length > 0)
    console.log(
      `  a node's take-out (set_state d + read back): ${fmt(
        takeOuts.map((t) => t.durationMs),
        "ms",
        1,
      )}`,
    );
  console.log(
    `  calls new received until stopped: ${fmt(
      stopped.map((x) => x.reaction!.untilStopped?.routed ?? 0),
      "calls",
    )}; after: ${stopped.map((x) => x.reaction!.afterStopped?.routed ?? 0).join("/")}`,
  );
  console.log(
    `  per run (stopped ms / restored ms): ${rb.map((x) => `${x.reaction!.stopMs?.toFixed(0) ?? "-"}/${x.reaction!.reactionMs.toFixed(0)}`).join(", ")}`,
  );
  console.log(
    `  load average (1 min) during the runs: ${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`,
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sharedTable = args.includes("--shared-table");
  const [runs, rate, deltas] = args.filter((a) => a !== "--shared-table");
  for (const d of (deltas ?? "0,5").split(",").map(Number))
    await bench(d, Number(runs ?? 5), Number(rate ?? 500), sharedTable);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
