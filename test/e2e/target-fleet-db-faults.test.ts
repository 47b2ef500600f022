/**
 * migrate --target on a fleet of three nodes that share one dispatcher table (PostgreSQL), with a
 * fault during a step (the connection dropped mid-transaction: target-fleet-db). One PostgreSQL and
 * one set of nodes serve every test; each starts from the table and every runtime on old, no lock row.
 * Each run ends with every node on the last good step, verified, the per-node table in the output and
 * results.json; or with exit 4 naming the node that is not:
 * - kam2's RPC stops answering between the commit and its reload (its kamcmd freezes it: SIGSTOP)
 *   and answers again once the restore wrote the table back: every node verified on old;
 * - kam2 stays frozen through the restore, which goes node after node: kam1 and kam3 verified on old,
 *   FLEET ON DIFFERENT STEPS naming kam2;
 * - kam3 refuses the reload (its reload_delta guard, longer than the run waits): the table's commit
 *   is undone, kam3's runtime never left old;
 * - kam3 is restarted while step 2 holds: it loads step 2's rows from the table; the restart is named
 *   and every node put back on step 1;
 * - drift between steps: the table's rows changed behind the tool's back (every node's runtime differs
 *   from the table: every node named), or one node's runtime changed over its RPC (that node alone
 *   named): nothing is written, every node still routes by step 2.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { NodeAuth, NodeDb, ProductionNode } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { stopStartedClis, type RunningCli } from "../support/running-cli.js";
import {
  appliedIn,
  assertFleetRolledBackTo,
  assertFleetTable,
  assertStepPutBackOnOld,
  migrateHoldingStep2,
  type FleetRollbackRecord,
  runtimeUris,
  targetFleet,
  untilWhileRunning,
  type TargetFleet,
} from "../support/target-fleet.js";
import { OLD_ATTRS, restartDuringStep2 } from "../support/target-node.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-db-faults-Q7m" };
const NAMES = ["kam1", "kam2", "kam3"] as const;

interface FleetStep {
  ok: boolean;
  consistent?: boolean;
  cause?: { node: string; stage: string };
  nodes: { name: string; result: string; routing: string; restore?: { verified: boolean } }[];
}
interface Results {
  status: string;
  exitCode: number;
  error?: string;
  steps: { label: string; verdict: string; reason?: string; fleet?: FleetStep }[];
  rollback?: { from: number; to: number; ok: boolean };
  fleet?: { rollback?: FleetRollbackRecord };
  restart?: { node: string; onStep: number; matchesStep?: boolean };
}

const resultsOf = (run: RunningCli): Results =>
  JSON.parse(readFileSync(path.join(runDirOf(run.out()), "results.json"), "utf8")) as Results;

/** the lock row's holder, or undefined (no row, or no lock table yet) */
const lockRow = (db: NodeDb): string | undefined => {
  const out = db.sql("SELECT holder FROM pbx_cutover_lock WHERE name = 'dispatcher';");
  return out.trim() === "" ? undefined : out.trim();
};

/** waits for an async condition */
async function untilAsync(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("migrate --target on a fleet sharing one dispatcher table: faults during a step", () => {
  let f: TargetFleet;
  let db: NodeDb;
  let kam2: ProductionNode;
  let kam3: ProductionNode;
  let OLD: string;
  let NEW: string;
  let OLD_ROW: string;
  /** kam3 runs with a reload guard (restarted with reload_delta 600) */
  let guarded = false;
  before(async () => {
    // reload_delta 0 (kam3's guard is set by its test); kam2 reached through a kamcmd that can freeze it
    f = await targetFleet({
      prefix: "fleet-db-faults",
      auth: AUTH,
      sharedTable: true,
      node: () => ({ reloadDelta: 0 }),
      freeze: 1,
    });
    db = f.nodes[0]!.db!;
    [, kam2, kam3] = f.nodes as [ProductionNode, ProductionNode, ProductionNode];
    OLD = f.nodes[0]!.backends.old.uri;
    NEW = f.nodes[0]!.backends.new.uri;
    OLD_ROW = `1 ${OLD} 0 0 ${OLD_ATTRS}`;
    // the lock table exists from the start, as a DBA would create it
    db.sql("CREATE TABLE pbx_cutover_lock (name text PRIMARY KEY, holder text NOT NULL);");
    f.callers(10);
  });
  after(async () => {
    stopStartedClis();
    await f?.dispose();
  });
  // every test starts from the same state: the operator's old row, every node reloaded on it, no lock row
  afterEach(async () => {
    stopStartedClis();
    f.freezer!.thaw();
    db.sql(
      `BEGIN; DELETE FROM dispatcher; INSERT INTO dispatcher (setid, destination, flags, priority, attrs) VALUES (1, '${OLD}', 0, 0, '${OLD_ATTRS}'); DELETE FROM pbx_cutover_lock; COMMIT;`,
    );
    if (guarded) await kam3.restart({ reloadDelta: 0 });
    guarded = false;
    for (const n of f.nodes) await n.rpc("dispatcher.reload");
    for (const n of f.nodes) assert.deepEqual(await runtimeUris(n), [OLD]);
  });

  /** every node routes by old alone at runtime, the table holds the old row, the lock row is gone */
  const everyNodeOnOld = async (): Promise<void> => {
    for (const [i, n] of f.nodes.entries()) assert.deepEqual(await runtimeUris(n), [OLD], NAMES[i]);
    assert.deepEqual(db.rows(), [OLD_ROW]);
    assert.equal(lockRow(db), undefined, "the lock row is gone after the run");
  };

  const ended = async (run: RunningCli): Promise<{ code: number | null; out: string }> => {
    const code = await run.closed;
    const out = run.out() + run.err();
    assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
    return { code, out };
  };

  test("kam2's RPC frozen between the commit and its reload, thawed once the table is back on old: exit 4, every node verified on old", async () => {
    const freezer = f.freezer!;
    // on the table step 1 (old) changes nothing and reloads no node: step 2's reload is kam2's first
    freezer.arm(1);
    const run = migrateHoldingStep2(f, 2);
    await untilWhileRunning(run, "kam2 frozen at step 2's reload", () => freezer.frozen());
    assert.ok(
      db.rows().some((r) => r.includes(NEW)),
      "step 2's rows were committed before kam2's reload",
    );
    await untilWhileRunning(run, "the table back on old", () => db.rows().every((r) => !r.includes(NEW)));
    freezer.thaw();
    const { code, out } = await ended(run);
    assert.equal(code, 4, out);
    assert.match(
      run.err(),
      /applying new=50% to the fleet failed on node kam2 at reload: .*; every node was put back on old and verified at runtime/,
    );
    assertFleetTable(run.out(), NAMES, "old");
    assert.match(run.out(), /^migrate: {3}node kam2 {2}routes by old .*\[failed at reload: /m);
    const res = resultsOf(run);
    assert.deepEqual([res.status, res.exitCode], ["fail", 4]);
    assertStepPutBackOnOld(res.steps[1]!, "new=50%", { node: "kam2", stage: "reload" }, NAMES);
    await everyNodeOnOld();
  });

  test("kam2 still frozen through the node-after-node restore: kam1 and kam3 verified on old, exit 4 FLEET ON DIFFERENT STEPS naming kam2", async () => {
    const freezer = f.freezer!;
    freezer.arm(1);
    const run = migrateHoldingStep2(f, 2);
    const { code, out } = await ended(run);
    assert.ok(freezer.frozen(), "kam2 was frozen");
    assert.equal(code, 4, out);
    assert.match(
      run.err(),
      /FLEET ON DIFFERENT STEPS: applying new=50% failed on node kam2 at reload: .*; node kam2 could NOT be put back on old\. Check each node now/,
    );
    assert.match(run.out(), /^migrate: {3}node kam1 {2}routes by old /m);
    assert.match(run.out(), /^migrate: {3}node kam2 {2}routes by unknown /m);
    assert.match(run.out(), /^migrate: {3}node kam3 {2}routes by old /m);
    const res = resultsOf(run);
    assert.deepEqual([res.status, res.exitCode], ["fail", 4]);
    const step = res.steps[1]!;
    assert.deepEqual(
      [step.label, step.verdict, step.fleet?.consistent, step.fleet?.cause?.node, step.fleet?.cause?.stage],
      ["new=50%", "fail", false, "kam2", "reload"],
    );
    assert.deepEqual(
      step.fleet!.nodes.map((n) => [n.name, n.routing, n.restore?.verified]),
      [
        ["kam1", "old", true],
        ["kam2", "unknown", false],
        ["kam3", "old", true],
      ],
    );
    // the restores after kam2's went on: the table holds old, kam1 and kam3 route by it
    assert.deepEqual(db.rows(), [OLD_ROW]);
    for (const n of [f.nodes[0]!, kam3]) assert.deepEqual(await runtimeUris(n), [OLD]);
    // kam2, thawed, answers the reload it was sent and loads what the table holds now: old
    freezer.thaw();
    await untilAsync("kam2 on old", async () => (await runtimeUris(kam2)).join() === OLD);
    assert.equal(lockRow(db), undefined, "the lock row is gone after the run");
  });

  test("kam3 refuses step 2's reload (its reload_delta guard outlasts the wait): exit 4, every node verified on old", async () => {
    guarded = true;
    await kam3.restart({ reloadDelta: 600 });
    // the operator's reload starts kam3's guard (the table equals its runtime: it changes nothing)
    await kam3.rpc("dispatcher.reload");
    const run = migrateHoldingStep2(f, 1, "--reload-wait-ms", "1500");
    const { code, out } = await ended(run);
    assert.equal(code, 4, out);
    assert.match(
      run.err(),
      /applying new=50% to the fleet failed on node kam3 at reload: dispatcher\.reload was not accepted: .*Ongoing reload.*; every node was put back on old and verified at runtime/,
    );
    assertFleetTable(run.out(), NAMES, "old");
    const res = resultsOf(run);
    assertStepPutBackOnOld(res.steps[1]!, "new=50%", { node: "kam3", stage: "reload" }, NAMES);
    assert.deepEqual(
      res.steps[1]!.fleet!.nodes.map((n) => [n.name, n.result]),
      [
        ["kam1", "applied"],
        ["kam2", "applied"],
        ["kam3", "failed"],
      ],
    );
    await everyNodeOnOld();
  });

  test("kam3 restarted while step 2 holds (it loads step 2's rows): named, step 2 fails, every node verified on step 1: exit 1", async () => {
    const { run, code, out, pidBefore } = await restartDuringStep2(f.dir, f.file, kam3);
    assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
    assert.equal(code, 1, out);
    assert.match(
      run.err(),
      new RegExp(
        "step 2: Kamailio at node kam3 \\(http://127\\.0\\.1\\.\\d+:\\d+/RPC\\) restarted during step 2/3 new=10%'s hold: " +
          `it is pid \\d+, up since .+ \\(the run began on pid ${pidBefore}, up since .+\\); ` +
          "its runtime now: .+, which is step 2 \\(new=10%\\), the list the run applied",
      ),
    );
    assert.match(run.out(), /rollback to old on the fleet: every node verified/);
    const res = resultsOf(run);
    assert.deepEqual([res.status, res.exitCode], ["fail", 1]);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "fail"],
      ],
    );
    assert.match(res.restart!.node, /^node kam3 /);
    assert.deepEqual([res.restart!.onStep, res.restart!.matchesStep], [2, true]);
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
    assertFleetRolledBackTo(res.fleet?.rollback, "old", NAMES);
    assertFleetTable(run.out(), NAMES, "old");
    await everyNodeOnOld();
  });

  test("drift between steps: the table's rows changed behind the tool's back: exit 4 naming every node, nothing written", async (t) => {
    const run = migrateHoldingStep2(f, 3);
    await untilWhileRunning(run, "step 2 applied", () => appliedIn(run, "new=50%"));
    const step2 = db.rows();
    assert.equal(step2.length, 2, step2.join("\n"));
    // a DBA takes new out of the table (no node reloaded: every runtime still routes by new=50%)
    db.sql(`DELETE FROM dispatcher WHERE destination = '${NEW}';`);
    const changed = db.rows();
    assert.deepEqual(
      changed,
      step2.filter((r) => !r.includes(NEW)),
    );
    const { code, out } = await ended(run);
    for (const l of out.split("\n").slice(-40)) t.diagnostic(l);
    assert.equal(code, 4, out);
    assert.match(run.err(), /drift on the fleet before applying new: nothing was written on any node/);
    for (const name of NAMES) assert.match(run.err(), new RegExp(`drift on node ${name} \\(table dispatcher of `));
    assert.match(run.out(), /putting back step 2 \(new=50%\) failed after [\d.]+ ms: drift on the fleet/);
    assert.deepEqual(db.rows(), changed, "the table as the DBA left it: nothing written");
    const res = resultsOf(run);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "fail"],
      ],
    );
    // results.json says who drifted: the table the three share differs from every runtime
    const every = new RegExp(
      "nothing was written on any node \\(drift on every node, kam1, kam2, kam3: each one's runtime differs from table dispatcher of postgres://\\S+, which they share; the table \\(or every runtime\\) was changed behind the tool's back\\)",
    );
    assert.match(run.err(), every);
    assert.match(res.error ?? "", every);
    assert.match(res.steps[2]!.reason ?? "", every);
    assert.equal(res.steps[2]!.fleet, undefined, "no table of a step refused before any write");
    for (const n of f.nodes) assert.deepEqual(await runtimeUris(n), [OLD, NEW].sort());
    assert.equal(lockRow(db), undefined);
  });

  test("drift between steps: kam3's runtime changed over its RPC: exit 4 naming kam3 alone, nothing written", async () => {
    const run = migrateHoldingStep2(f, 3);
    await untilWhileRunning(run, "step 2 applied", () => appliedIn(run, "new=50%"));
    const step2 = db.rows();
    // someone adds a destination to kam3's memory (another set: the calls' routing is untouched)
    await kam3.rpc("dispatcher.add", [2, "sip:127.0.0.1:9", 0]);
    assert.deepEqual(await runtimeUris(kam3), [OLD, NEW, "sip:127.0.0.1:9"].sort());
    const { code, out } = await ended(run);
    assert.equal(code, 4, out);
    assert.match(run.err(), /drift on the fleet before applying new: nothing was written on any node/);
    assert.match(run.err(), /drift on node kam3 \(table dispatcher of .*unexpected sip:127\.0\.0\.1:9 \(set 2\)/);
    assert.doesNotMatch(run.err(), /drift on node kam[12]/);
    assert.deepEqual(db.rows(), step2, "nothing written");
    const res = resultsOf(run);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "fail"],
      ],
    );
    assert.match(res.error ?? "", /nothing was written on any node \(drift on node kam3\)$/);
    assert.match(res.steps[2]!.reason ?? "", /\(drift on node kam3\)$/);
    for (const n of f.nodes.slice(0, 2)) assert.deepEqual(await runtimeUris(n), [OLD, NEW].sort());
    assert.equal(lockRow(db), undefined);
  });
});
