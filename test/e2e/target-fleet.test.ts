/**
 * apply --target on a fleet: a target file naming three "production" Kamailio nodes
 * (test/support/production-node.ts), each with its own list file, all in front of the same two PBXs.
 * A step lands on every node or on none: every node switched and read back (the skew reported), a
 * node's RPC frozen (SIGSTOP) between the write and the reload puts every node back on the last good
 * step (verified), drift on one node before a step writes nothing anywhere.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../support/lab-fixture.js";
import { freezingKamcmd, runtimeUris, type FreezingKamcmd } from "../support/target-fleet.js";
import {
  startProductionNode,
  writeFleetTargetFile,
  type NodeAuth,
  type ProductionNode,
} from "../support/production-node.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-Zr7-never-printed" };

const runtimeOf = runtimeUris;

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface FleetJson {
  ok: boolean;
  label: string;
  nodes: { name: string; result: string; routing: string; runtime: string[] }[];
  skew: { skewMs: number; boundMs: number; first: string; last: string };
}

describe("apply --target on a fleet of three nodes, all or nothing", () => {
  const nodes: ProductionNode[] = [];
  let dir: string;
  let file: string;
  let freezer: FreezingKamcmd;
  let OLD: string;
  let NEW: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-e2e-fleet-"));
    nodes.push(await startProductionNode({ auth: AUTH, reloadDelta: 0 }));
    for (let i = 0; i < 2; i++)
      nodes.push(await startProductionNode({ auth: AUTH, reloadDelta: 0, sharedBackends: nodes[0]!.backends }));
    OLD = nodes[0]!.backends.old.uri;
    NEW = nodes[0]!.backends.new.uri;
    // kam2 is reached with kamcmd through a wrapper that, once armed, freezes the node's Kamailio
    // (SIGSTOP on its process group) just before the first dispatcher.reload reaches it
    freezer = freezingKamcmd(dir, nodes[1]!);
    file = writeFleetTargetFile(
      [
        { name: "kam1", node: nodes[0]! },
        { name: "kam2", node: nodes[1]!, kamcmd: { binary: freezer.binary, timeoutMs: 1000 } },
        { name: "kam3", node: nodes[2]! },
      ],
      dir,
      AUTH,
    );
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  const lists = (): string[] => nodes.map((n) => readFileSync(n.listFile, "utf8"));

  it("apply --mode both, then new: every node switched and read back, the skew reported", async (t) => {
    const both = await cli("apply", "--target", file, "--mode", "both", "--json");
    assert.equal(both.code, 0, both.stdout + both.stderr);
    const o = JSON.parse(both.stdout) as FleetJson;
    assert.deepEqual(
      o.nodes.map((n) => [n.name, n.result, n.routing]),
      [
        ["kam1", "applied", "both"],
        ["kam2", "applied", "both"],
        ["kam3", "applied", "both"],
      ],
    );
    assert.ok(o.skew.skewMs >= 0 && o.skew.boundMs >= o.skew.skewMs, JSON.stringify(o.skew));
    for (const n of nodes) assert.deepEqual(await runtimeOf(n), [OLD, NEW].sort());
    const neu = await cli("apply", "--target", file, "--mode", "new");
    assert.equal(neu.code, 0, neu.stdout + neu.stderr);
    const m =
      /^applied new on 3 nodes: every node verified in [\d.]+ ms; skew ([\d.]+) ms \(\S+ first, \S+ last; mixed at most ([\d.]+) ms\)$/m.exec(
        neu.stdout,
      );
    assert.ok(m, neu.stdout);
    assert.match(neu.stdout, /^ {2}node kam2 {2}routes by new {2}runtime sip:\S+ {2}\[applied and verified\]$/m);
    for (const n of nodes) assert.deepEqual(await runtimeOf(n), [NEW]);
    assert.ok(!(both.stdout + both.stderr + neu.stdout + neu.stderr).includes(AUTH.bearer));
    t.diagnostic(`skew both: ${o.skew.skewMs} ms (bound ${o.skew.boundMs}); new: ${m[1]} ms (bound ${m[2]})`);
  });

  it("kam2's RPC frozen between write and reload: exit 4, every node back on new (verified), per-node table", async () => {
    const before = lists();
    freezer.arm();
    try {
      const run = cli("apply", "--target", file, "--mode", "both");
      // frozen at its reload; thawed once the tool put kam2's list back (its restore reads the runtime)
      await until("kam2 frozen", () => freezer.frozen());
      assert.notEqual(readFileSync(nodes[1]!.listFile, "utf8"), before[1], "kam2's list was written before its reload");
      await until("kam2's list restored", () => readFileSync(nodes[1]!.listFile, "utf8") === before[1]);
      freezer.thaw();
      const r = await run;
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /applying both to the fleet failed on node kam2 at reload: .*; every node was put back on new and verified at runtime/,
      );
      assert.match(
        r.stderr,
        /^ {2}node kam1 {2}routes by new {2}runtime sip:\S+ {2}\[applied, then put back; restore verified/m,
      );
      assert.match(r.stderr, /^ {2}node kam2 {2}routes by new {2}runtime sip:\S+ {2}\[failed at reload: /m);
      assert.match(r.stderr, /^ {2}node kam3 {2}routes by new .*restore verified/m);
      for (const n of nodes) assert.deepEqual(await runtimeOf(n), [NEW]);
      assert.deepEqual(lists(), before);
    } finally {
      freezer.thaw();
    }
  });

  it("kam2 still frozen during the restore: exit 4, the fleet on different steps, each node's routing named", async () => {
    const before = lists();
    freezer.arm();
    try {
      const r = await cli("apply", "--target", file, "--mode", "both");
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /FLEET ON DIFFERENT STEPS: applying both failed on node kam2 at reload: .*node kam2 could NOT be put back on new/,
      );
      assert.match(
        r.stderr,
        /^ {2}node kam1 {2}routes by new {2}runtime sip:\S+ {2}\[applied, then put back; restore verified/m,
      );
      assert.match(r.stderr, /^ {2}node kam2 {2}routes by unknown {2}runtime \(unknown\) .*restore NOT verified/m);
      assert.match(r.stderr, /^ {2}node kam3 {2}routes by new .*restore verified/m);
      for (const n of [nodes[0]!, nodes[2]!]) assert.deepEqual(await runtimeOf(n), [NEW]);
    } finally {
      freezer.thaw();
    }
    // thawed, kam2 reloads the list the restore wrote: new again
    assert.deepEqual(lists(), before);
    assert.deepEqual(await runtimeOf(nodes[1]!), [NEW]);
  });

  it("drift on kam3 before a step: exit 4 naming it, nothing written on any node", async () => {
    const original = readFileSync(nodes[2]!.listFile, "utf8");
    writeFileSync(nodes[2]!.listFile, `${original}1 ${OLD} 0 0\n`);
    const before = lists();
    try {
      const r = await cli("apply", "--target", file, "--mode", "old");
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.match(r.stderr, /drift on the fleet before applying old: nothing was written on any node/);
      assert.match(r.stderr, /drift on node kam3 \(/);
      assert.doesNotMatch(r.stderr, /drift on node kam[12]/);
      assert.deepEqual(lists(), before, "no node's list written");
      for (const n of nodes) assert.deepEqual(await runtimeOf(n), [NEW]);
    } finally {
      writeFileSync(nodes[2]!.listFile, original);
    }
  });

  it("rollback --target on the fleet: every node back on both (the step before new), verified", async () => {
    const r = await cli("rollback", "--target", file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^rolled back to both on 3 nodes: every node verified in [\d.]+ ms; skew [\d.]+ ms/m);
    for (const n of nodes) assert.deepEqual(await runtimeOf(n), [OLD, NEW].sort());
  });

  it("target check --target on a fleet: each node checked in turn, nothing written", async () => {
    const before = lists();
    const r = await cli("target", "check", "--target", file);
    for (const name of ["kam1", "kam2", "kam3"])
      assert.match(r.stdout, new RegExp(`^node ${name} \\(`, "m"), r.stdout + r.stderr);
    assert.match(r.stdout, /^ {2}runtime = list {2}yes$/m);
    assert.deepEqual(lists(), before);
  });

  it("a stale fleet lock on kam2 (its holder's pid gone) is named and refused; --take-over-stale-lock takes it over", async () => {
    const dead = spawnSync("true").pid;
    const lock = `${nodes[1]!.listFile}.pbx-cutover.lock`;
    writeFileSync(
      lock,
      JSON.stringify({
        tool: "pbx-cutover",
        fleet: "harness",
        host: os.hostname(),
        pid: dead,
        command: "pbx-cutover migrate",
        startedAt: "2026-12-07T10:00:00.000Z",
        renewedAt: new Date().toISOString(),
        token: "gone",
      }),
    );
    const before = lists();
    const refused = await cli("apply", "--target", file, "--mode", "old");
    assert.equal(refused.code, 3, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `the fleet lock on node kam2 \\(\\S+\\) is stale: held by pid ${dead} on host \\S+ \\(pbx-cutover migrate\\), since 2026-12-07T10:00:00.000Z, but its holder pid ${dead} is gone; nothing was changed`,
      ),
    );
    assert.match(refused.stderr, /--take-over-stale-lock/);
    assert.deepEqual(lists(), before);
    assert.ok(existsSync(lock), "a refused run leaves the stale lock for the operator to see");
    const taken = await cli("apply", "--target", file, "--mode", "old", "--take-over-stale-lock");
    assert.equal(taken.code, 0, taken.stdout + taken.stderr);
    assert.match(taken.stderr, new RegExp(`fleet lock: took over node kam2's stale lock \\(pid ${dead} on host`));
    assert.equal(existsSync(lock), false);
    for (const n of nodes) assert.deepEqual(await runtimeOf(n), [OLD]);
  });

  it("migrate --dry-run and plan --dry-run on a fleet: each node's list and actions, nothing changed on any node", async () => {
    const before = lists();
    const runtimes = await Promise.all(nodes.map((n) => runtimeOf(n)));
    const r = await cli("migrate", "--target", file, "--steps", "0,100", "--dry-run");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /a fleet of 3 nodes \(kam1, kam2, kam3\), each step on every node or on none/);
    for (const [i, n] of nodes.entries()) {
      assert.ok(r.stdout.includes(`node kam${i + 1}: list ${n.listFile}; Kamailio RPC node kam${i + 1} (`), r.stdout);
      assert.equal(r.stdout.split(`write ${n.listFile}:`).length - 1, 2, `kam${i + 1}: a write per step`);
    }
    const json = await cli("plan", "--dry-run", "--target", file, "--steps", "0,100", "--json");
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const dry = JSON.parse(json.stdout) as { fleet: { name: string }[]; steps: { nodes: { name: string }[] }[] };
    assert.deepEqual(
      dry.fleet.map((n) => n.name),
      ["kam1", "kam2", "kam3"],
    );
    assert.deepEqual(
      dry.steps.map((s) => s.nodes.map((n) => n.name)),
      [
        ["kam1", "kam2", "kam3"],
        ["kam1", "kam2", "kam3"],
      ],
    );
    assert.deepEqual(lists(), before);
    assert.deepEqual(await Promise.all(nodes.map((n) => runtimeOf(n))), runtimes);
    for (const n of nodes) assert.equal(existsSync(`${n.listFile}.pbx-cutover.lock`), false);
  });
});
