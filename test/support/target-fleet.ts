/**
 * The opening the fleet e2e files share: three "production" nodes (production-node.ts) shaped like an
 * operator's (algorithm 9, Kamailio's default reload_delta, the old PBX alone in each list with the
 * operator's attrs), each with its own list file, all in front of the first node's two PBXs and all
 * mirroring HEP to one free port; a temp dir and the fleet's target file naming them kam1..kamN.
 * One node may be reached through a kamcmd that freezes its Kamailio (SIGSTOP on its process group)
 * just before the nth `dispatcher.reload` reaches it once armed: a node whose RPC stops answering
 * between the write and the reload, at exactly that moment, without a sleep.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  freeUdpPort,
  startCallers,
  startProductionNode,
  writeFleetTargetFile,
  type Callers,
  type NodeAuth,
  type ProductionNode,
  type ProductionNodeOptions,
} from "./production-node.js";
import { runDirOf } from "./run-folder.js";
import { startCli, type RunningCli } from "./running-cli.js";
import { OLD_ATTRS } from "./target-node.js";

export interface TargetFleet {
  nodes: ProductionNode[];
  /** kam1, kam2, ... as the target file names them */
  names: string[];
  dir: string;
  /** the fleet's target file */
  file: string;
  /** the collector address every node mirrors to (the target file's hep.collector) */
  hep: { address: string; port: number };
  /** the node reached through a freezing kamcmd (option `freeze`) */
  freezer: FreezingKamcmd | undefined;
  /** SIPp users calling through every node at `ratePerNode` calls/s until dispose() */
  callers(ratePerNode: number): Callers[];
  dispose(): Promise<void>;
}

export async function targetFleet(o: {
  prefix: string;
  auth: NodeAuth;
  count?: number;
  /** merged over node i's options (from 0) */
  node?: (i: number) => Partial<Omit<ProductionNodeOptions, "auth">>;
  /** node i is reached through a freezing kamcmd (1 s timeout) */
  freeze?: number;
  /** every node reads one dispatcher table, in the first node's PostgreSQL, instead of a list file each */
  sharedTable?: boolean;
}): Promise<TargetFleet> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `pbx-cutover-e2e-${o.prefix}-`));
  const hep = { address: "127.0.0.1", port: await freeUdpPort() };
  const nodes: ProductionNode[] = [];
  const started: Callers[] = [];
  let freezer: FreezingKamcmd | undefined;
  const dispose = async (): Promise<void> => {
    freezer?.thaw();
    await Promise.all(started.map((c) => c.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const common = {
      auth: o.auth,
      algorithm: 9 as const,
      hep,
      initialList: (u: { old: string }) => `1 ${u.old} 0 0 ${OLD_ATTRS}\n`,
    };
    const table = o.sharedTable ? { listSource: "db" as const } : {};
    nodes.push(await startProductionNode({ ...common, ...table, ...o.node?.(0) }));
    for (let i = 1; i < (o.count ?? 3); i++)
      nodes.push(
        await startProductionNode({
          ...common,
          ...table,
          ...o.node?.(i),
          sharedBackends: nodes[0]!.backends,
          ...(o.sharedTable ? { sharedDb: nodes[0]!.db } : {}),
        }),
      );
    const names = nodes.map((_, i) => `kam${i + 1}`);
    const frozen = o.freeze;
    freezer = frozen === undefined ? undefined : freezingKamcmd(dir, nodes[frozen]!);
    const file = writeFleetTargetFile(
      nodes.map((node, i) => ({
        name: names[i]!,
        node,
        ...(freezer && i === frozen ? { kamcmd: { binary: freezer.binary, timeoutMs: 1000 } } : {}),
      })),
      dir,
      o.auth,
      { algorithm: 9, lines: { old: { attrs: OLD_ATTRS } } },
    );
    return {
      nodes,
      names,
      dir,
      file,
      hep,
      freezer,
      callers: (rate) => {
        const c = nodes.map((n) => startCallers(n, dir, rate));
        started.push(...c);
        return c;
      },
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** A kamcmd for one node that freezes it at its first dispatcher.reload once armed. */
export interface FreezingKamcmd {
  binary: string;
  /** from now on, the nth dispatcher.reload (default the next) freezes the node, once */
  arm(nth?: number): void;
  /** the node was frozen */
  frozen(): boolean;
  /** SIGCONT (idempotent); disarmed, ready to be armed again */
  thaw(): void;
}

export function freezingKamcmd(dir: string, node: ProductionNode): FreezingKamcmd {
  const armed = path.join(dir, `freeze-${node.address}.armed`);
  const count = path.join(dir, `freeze-${node.address}.reloads`);
  const mark = path.join(dir, `frozen-${node.address}`);
  const binary = path.join(dir, `kamcmd-freezing-${node.address}`);
  writeFileSync(
    binary,
    [
      "#!/bin/sh",
      `if [ "$3" = dispatcher.reload ] && [ -e '${armed}' ]; then`,
      `  echo >> '${count}'`,
      `  if [ "$(wc -l < '${count}')" -eq "$(cat '${armed}')" ]; then`,
      `    kill -STOP -${node.kamailioGroup()}`,
      `    : > '${mark}'`,
      "  fi",
      "fi",
      'exec /usr/sbin/kamcmd "$@"',
      "",
    ].join("\n"),
  );
  chmodSync(binary, 0o755);
  return {
    binary,
    arm: (nth = 1) => {
      rmSync(count, { force: true });
      writeFileSync(armed, `${nth}\n`);
    },
    frozen: () => existsSync(mark),
    thaw: () => {
      rmSync(armed, { force: true });
      if (!existsSync(mark)) return;
      process.kill(-node.kamailioGroup(), "SIGCONT");
      rmSync(mark, { force: true });
    },
  };
}

interface RuntimeReply {
  RECORDS?: { SET: { TARGETS: { DEST: { URI: string } }[] } }[];
}

/** the node's runtime destinations' URIs, sorted (the test's own read) */
export const runtimeUris = async (node: ProductionNode): Promise<string[]> =>
  ((await node.rpc("dispatcher.list")) as RuntimeReply)
    .RECORDS!.flatMap((r) => r.SET.TARGETS.map((t) => t.DEST.URI))
    .sort();

/** What results.json says of a fleet step, as far as a failed step's checks read it. */
export interface FailedFleetStep {
  label: string;
  verdict: string;
  fleet?: {
    ok: boolean;
    consistent?: boolean;
    cause?: { node: string; stage: string };
    nodes: { name: string; routing: string; restore?: { verified: boolean } }[];
  };
}

/**
 * results.json's step `label` failed at `node`'s `stage`, and every node of `names` was put back on
 * old and verified there: the fleet consistent after the failure.
 */
export function assertStepPutBackOnOld(
  step: FailedFleetStep,
  label: string,
  cause: { node: string; stage: string },
  names: readonly string[],
): void {
  assert.deepEqual([step.label, step.verdict], [label, "fail"]);
  assert.deepEqual(
    [step.fleet?.ok, step.fleet?.consistent, step.fleet?.cause?.node, step.fleet?.cause?.stage],
    [false, true, cause.node, cause.stage],
  );
  assert.deepEqual(
    step.fleet!.nodes.map((n) => [n.name, n.routing, n.restore?.verified]),
    names.map((name) => [name, "old", true]),
  );
}

/** results.json's fleet rollback record (the per-node table of the put-back) */
export interface FleetRollbackRecord {
  ok: boolean;
  label: string;
  nodes: { name: string; routing: string; runtime?: string[] }[];
}

/** the rollback put every node back on `label`, each read back at runtime (the per-node table in results.json) */
export function assertFleetRolledBackTo(
  back: FleetRollbackRecord | undefined,
  label: string,
  names: readonly string[],
): void {
  assert.ok(back, "no fleet.rollback in results.json");
  assert.deepEqual([back.ok, back.label], [true, label], JSON.stringify(back));
  assert.deepEqual(
    back.nodes.map((n) => [n.name, n.routing, (n.runtime?.length ?? 0) > 0]),
    names.map((name) => [name, label, true]),
  );
}

/** a step a second and a few calls (users call through every node); step 2 held `HOLD` seconds */
const FAULT_PLAN = [
  "defaults:",
  "  hold: { durationS: 1, minCalls: 10 }",
  "steps:",
  "  - 0",
  "  - weightNew: 50",
  "    hold: { durationS: HOLD, minCalls: 10 }",
  "  - 100",
  "",
].join("\n");

/** `migrate --target` on the fleet with old, new=50% held `hold` s (as long as a fault needs), new */
export function migrateHoldingStep2(f: { dir: string; file: string }, hold: number, ...extra: string[]): RunningCli {
  const plan = path.join(f.dir, "plan.yaml");
  writeFileSync(plan, FAULT_PLAN.replace("HOLD", String(hold)));
  return startCli({ dir: f.dir }, [
    "migrate",
    "--target",
    f.file,
    "--artifacts-dir",
    path.join(f.dir, "art"),
    "--plan",
    plan,
    ...extra,
  ]);
}

/** waits for `ok` while `run` runs: fails naming its output when it ended first or took too long */
export async function untilWhileRunning(
  run: RunningCli,
  what: string,
  ok: () => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let closed = false;
  void run.closed.then(() => (closed = true));
  while (!ok()) {
    if (closed || Date.now() > end)
      throw new Error(
        `${what}: ${closed ? "the run ended first" : `not within ${timeoutMs} ms`}\n${run.out()}${run.err()}`,
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** the run's events so far (its run folder from the "run folder" line); [] before it exists */
export function eventsOf(run: RunningCli): { kind: string; label?: string; ok?: boolean }[] {
  if (!/run folder \S+/.test(run.out())) return [];
  const file = path.join(runDirOf(run.out()), "events.ndjson");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.endsWith("}"))
    .map((l) => JSON.parse(l) as { kind: string; label?: string; ok?: boolean });
}

/** the run's step `label` was applied (its apply event, ok) */
export const appliedIn = (run: RunningCli, label: string): boolean =>
  eventsOf(run).some((e) => e.kind === "apply" && e.label === label && e.ok === true);

/** the per-node table as the output prints it: every node of `names` on `routing` */
export function assertFleetTable(out: string, names: readonly string[], routing: string): void {
  for (const name of names)
    assert.match(out, new RegExp(`^(migrate: )? {2}node ${name} {2}routes by ${routing} `, "m"), `${name} in\n${out}`);
}
