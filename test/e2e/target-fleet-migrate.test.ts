/**
 * migrate --target on a fleet: three "production" nodes (test/support/production-node.ts), each with
 * its own list file, all in front of the same two PBXs and all mirroring to the one collector the
 * target file names; SIPp users call through every node. Each step lands on every node (all or
 * nothing); the gates judge the fleet's calls and each node's own (a call is the node's whose SIP
 * socket it went through). Healthy PBXs: the plan passes, every node ends on new, each node's calls
 * are judged. One node's path to the new PBX broken (its calls to new refused, the others' answered):
 * the gates fail naming that node, new is taken out of selection on every node, and the whole fleet
 * is put back on the last good step, verified on every node.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type CliResult } from "../support/lab-fixture.js";
import {
  freeUdpPort,
  startCallers,
  startProductionNode,
  UAS_503_WHEN_MARKED,
  writeFleetTargetFile,
  type Callers,
  type NodeAuth,
  type ProductionNode,
} from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";

const AUTH: NodeAuth = { basic: { user: "cutover", password: "pw-fleet-migrate-Qx4" } };
const RATE_PER_NODE = 40;
const NAMES = ["kam1", "kam2", "kam3"] as const;

interface GateRecord {
  verdict: string;
  detail: string;
  window: { routed: { old: number; new: number } };
}
interface FleetStep {
  ok: boolean;
  label: string;
  changed?: boolean;
  skew?: { skewMs: number; boundMs: number };
  nodes: { name: string; result: string; routing: string }[];
  consistent?: boolean;
}
interface Results {
  status: string;
  exitCode: number;
  steps: {
    label: string;
    verdict: string;
    gates?: GateRecord;
    gatesByNode?: Record<string, GateRecord>;
    fleet?: FleetStep;
  }[];
  rollback?: { from: number; to: number; ok: boolean; takeOut?: { ok: boolean } };
  drain?: { state: string; detail: string; byNode?: Record<string, number> };
  fleet?: {
    nodes: string[];
    rollback?: FleetStep;
    takeOut?: { name: string; ok: boolean }[];
    final?: Record<string, { verdict: string }>;
  };
}

interface Run {
  nodes: ProductionNode[];
  dir: string;
  file: string;
  r: CliResult;
  res: Results;
  callers: Callers[];
  statuses: CliResult[];
  /** a second migrate on the same fleet while the first ran, and kam2's lock file then */
  second: CliResult | undefined;
  lockSeen: string | undefined;
}

async function fleetMigrate(brokenOn: number | undefined): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-e2e-fleet-migrate-"));
  const hep = { address: "127.0.0.1", port: await freeUdpPort() };
  const common = {
    auth: AUTH,
    algorithm: 9 as const,
    hep,
    initialList: (u: { old: string }) => `1 ${u.old} 0 0 duid=old-pbx\n`,
  };
  const nodes: ProductionNode[] = [];
  const callers: Callers[] = [];
  try {
    nodes.push(await startProductionNode({ ...common, scenarios: { new: UAS_503_WHEN_MARKED } }));
    for (let i = 1; i < 3; i++)
      nodes.push(
        await startProductionNode({
          ...common,
          sharedBackends: nodes[0]!.backends,
          brokenPathToNew: brokenOn === i,
        }),
      );
    const file = writeFleetTargetFile(
      nodes.map((node, i) => ({ name: NAMES[i]!, node })),
      dir,
      AUTH,
      { algorithm: 9, lines: { old: { attrs: "duid=old-pbx" } } },
    );
    for (const n of nodes) callers.push(startCallers(n, dir, RATE_PER_NODE));
    const migrate = runCli(
      ["migrate", "--target", file, "--artifacts-dir", path.join(dir, "art"), "--steps", "0,10,50,100"],
      { cwd: dir, timeoutMs: 240_000 },
    );
    // the control socket answers for the fleet while the plan runs
    let done = false;
    void migrate.finally(() => (done = true));
    const statuses: CliResult[] = [];
    while (!done && !statuses.some((s) => s.code === 0)) {
      statuses.push(await runCli(["status", "--target", file, "--json"], { cwd: dir }));
      await new Promise((res) => setTimeout(res, 200));
    }
    // another operator's migrate on the same fleet while this one runs (from another state dir: another machine's)
    let second: CliResult | undefined;
    let lockSeen: string | undefined;
    if (!done && brokenOn === undefined) {
      lockSeen = readFileSync(`${nodes[1]!.listFile}.pbx-cutover.lock`, "utf8");
      const elsewhere = path.join(dir, "elsewhere");
      mkdirSync(elsewhere);
      const other = readFileSync(file, "utf8").replace(/^stateDir: .*$/m, `stateDir: ${path.join(elsewhere, "state")}`);
      writeFileSync(path.join(elsewhere, "target.yaml"), other);
      for (const f of ["rpc.secret"]) copyFileSync(path.join(dir, f), path.join(elsewhere, f));
      second = await runCli(
        [
          "migrate",
          "--target",
          path.join(elsewhere, "target.yaml"),
          "--artifacts-dir",
          path.join(elsewhere, "art"),
          "--steps",
          "0,100",
        ],
        { cwd: elsewhere, timeoutMs: 60_000 },
      );
    }
    const r = await migrate;
    const res = JSON.parse(readFileSync(path.join(runDirOf(r), "results.json"), "utf8")) as Results;
    return { nodes, dir, file, r, res, callers, statuses, second, lockSeen };
  } catch (err) {
    await Promise.all(callers.map((c) => c.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function dispose(run: Run | undefined): Promise<void> {
  if (!run) return;
  await Promise.all(run.callers.map((c) => c.stop()));
  await Promise.all(run.nodes.map((n) => n.stop()));
  rmSync(run.dir, { recursive: true, force: true });
}

const entries = (n: ProductionNode): string[] =>
  readFileSync(n.listFile, "utf8")
    .split("\n")
    .filter((l) => /^\d/.test(l));

interface RuntimeReply {
  RECORDS?: { SET: { TARGETS: { DEST: { URI: string; FLAGS: string } }[] } }[];
}
const runtimeOf = async (n: ProductionNode): Promise<string[]> =>
  ((await n.rpc("dispatcher.list")) as RuntimeReply)
    .RECORDS!.flatMap((r) => r.SET.TARGETS.map((t) => `${t.DEST.URI} ${t.DEST.FLAGS}`))
    .sort();

describe("migrate --target on a fleet of three nodes: healthy PBXs, users calling through every node", () => {
  let run: Run | undefined;
  before(async () => {
    run = await fleetMigrate(undefined);
  });
  after(() => dispose(run));

  test("every step applied on every node and passed on the fleet's calls and each node's; new only everywhere", async () => {
    const { r, res, nodes } = run!;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /fleet: 3 nodes \(kam1, kam2, kam3\); each step all or nothing/);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "pass"],
        ["new=50%", "pass"],
        ["new", "pass"],
      ],
    );
    for (const s of res.steps.slice(1)) {
      const f = s.fleet!;
      assert.deepEqual(
        f.nodes.map((n) => [n.name, n.result, n.routing]),
        NAMES.map((name) => [name, "applied", s.label]),
        s.label,
      );
      assert.ok(f.skew && f.skew.skewMs >= 0 && f.skew.boundMs >= f.skew.skewMs, JSON.stringify(f.skew));
    }
    // the step at 50 %: each node's calls judged on their own, and together they are the fleet's
    const half = res.steps[2]!;
    const byNode = half.gatesByNode!;
    assert.deepEqual(Object.keys(byNode).sort(), [...NAMES]);
    for (const name of NAMES) {
      const w = byNode[name]!.window.routed;
      assert.ok(w.old > 0 && w.new > 0, `${name}: ${JSON.stringify(w)}`);
    }
    const sum = (b: "old" | "new"): number => NAMES.reduce((n, name) => n + byNode[name]!.window.routed[b], 0);
    assert.deepEqual(
      [sum("old"), sum("new")],
      [half.gates!.window.routed.old, half.gates!.window.routed.new],
      JSON.stringify({ fleet: half.gates!.window, byNode: NAMES.map((name) => byNode[name]!.window) }),
    );
    assert.deepEqual(
      Object.entries(res.fleet!.final!).map(([name, f]) => [name, f.verdict]),
      NAMES.map((name) => [name, "pass"]),
    );
    // the drain read old's calls on every node (the target's dialog profile) and summed them
    assert.ok(["drained", "remaining"].includes(res.drain?.state ?? ""), JSON.stringify(res.drain));
    assert.deepEqual(Object.keys(res.drain!.byNode ?? {}), [...NAMES], JSON.stringify(res.drain));
    assert.match(res.drain!.detail, /\(by node: kam1 \d+, kam2 \d+, kam3 \d+\)$/);
    const NEW = nodes[0]!.backends.new.uri;
    for (const n of nodes) {
      assert.deepEqual(entries(n), [`1 ${NEW} 0 0`]);
      assert.deepEqual(await runtimeOf(n), [`${NEW} AX`]);
    }
  });

  test("a second migrate on the fleet, from another state dir, is refused naming the holder; the lock is gone after the run", () => {
    const { second, lockSeen, statuses, nodes } = run!;
    assert.ok(second, "the first migrate ended before a second one could be started");
    assert.equal(second.code, 3, second.stdout + second.stderr);
    const pid = (JSON.parse(statuses.find((s) => s.code === 0)!.stdout) as { pid: number }).pid;
    assert.match(
      second.stderr,
      new RegExp(
        `the fleet is locked by another run: node kam1's lock \\S+dispatcher\\.list\\.pbx-cutover\\.lock is held by pid ${pid} on host ${os.hostname()} \\(pbx-cutover migrate\\), since \\S+Z`,
      ),
    );
    assert.doesNotMatch(second.stdout, /run folder/, "refused before any run started");
    const held = JSON.parse(lockSeen!) as { pid: number; host: string; tool: string };
    assert.deepEqual([held.tool, held.pid, held.host], ["pbx-cutover", pid, os.hostname()]);
    for (const n of nodes) assert.equal(existsSync(`${n.listFile}.pbx-cutover.lock`), false);
  });

  test("status --target on the fleet answered while the plan ran", () => {
    const ok = run!.statuses.find((s) => s.code === 0);
    assert.ok(ok, run!.statuses.map((s) => s.stdout + s.stderr).join("\n---\n"));
    const st = JSON.parse(ok.stdout) as { command: string; plan: { steps: unknown[] } };
    assert.equal(st.command, "pbx-cutover migrate");
    assert.equal(st.plan.steps.length, 4);
  });
});

describe("migrate --target on a fleet: kam2's path to the new PBX broken", () => {
  let run: Run | undefined;
  before(async () => {
    run = await fleetMigrate(1);
  });
  after(() => dispose(run));

  test("the gates fail naming kam2; new taken out on every node; the whole fleet back on step 1, verified", async (t) => {
    const { r, res, nodes } = run!;
    for (const l of r.stdout.split("\n").filter((l) => /gates fail|fleet|node kam|new out of|rolled back/.test(l)))
      t.diagnostic(l);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "fail"],
      ],
    );
    const failed = res.steps[1]!;
    assert.match(failed.gates!.detail, /node kam2's calls fail alone: kam2: /, failed.gates!.detail);
    assert.equal(failed.gatesByNode?.kam2?.verdict, "fail", JSON.stringify(failed.gatesByNode));
    for (const name of ["kam1", "kam3"])
      assert.notEqual(failed.gatesByNode?.[name]?.verdict, "fail", JSON.stringify(failed.gatesByNode?.[name]));
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
    assert.deepEqual(
      res.fleet!.takeOut!.map((t) => [t.name, t.ok]),
      NAMES.map((name) => [name, true]),
    );
    const back = res.fleet!.rollback!;
    assert.equal(back.ok, true, JSON.stringify(back));
    assert.deepEqual(
      back.nodes.map((n) => [n.name, n.routing]),
      NAMES.map((name) => [name, "old"]),
    );
    assert.match(r.stdout, /rollback to old on the fleet: every node verified/);
    const OLD = nodes[0]!.backends.old.uri;
    for (const n of nodes) {
      assert.deepEqual(entries(n), [`1 ${OLD} 0 0 duid=old-pbx`]);
      assert.deepEqual(await runtimeOf(n), [`${OLD} AX`]);
    }
  });
});
