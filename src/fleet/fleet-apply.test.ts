import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { EnvironmentError } from "../core/errors.js";
import { ExitCode } from "../core/exit-codes.js";
import { backupPaths } from "../apply/apply.js";
import { refuseUnlessClean, DriftError } from "../target/list-guard.js";
import { fakeTarget, NEW, OLD, type FakeKamailio } from "../../test/support/fake-kamailio.js";
import { driftWho, fleetApply, FleetRestoredError, FleetSplitError, type FleetMember } from "./fleet-apply.js";
import { computeSkew, formatFleetOutcome, routingLines } from "./fleet-report.js";

const FAST = { reloadWaitMs: 60, unavailableWaitMs: 60, firstBackoffMs: 1, maxBackoffMs: 5 };
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const OLD_LIST = `# pbx-cutover profile: old\n1 ${OLD} 0 0\n`;

/** Three fake nodes on the same step (old), each checking its list before a write like a production node. */
function fleet(n = 3, initial = OLD_LIST): { members: FleetMember[]; kams: FakeKamailio[] } {
  const members: FleetMember[] = [];
  const kams: FakeKamailio[] = [];
  for (let i = 1; i <= n; i++) {
    const { target, kam, dir } = fakeTarget(initial);
    dirs.push(dir);
    target.checkBeforeWrite = (text, runtime) =>
      refuseUnlessClean(`node kam${i}`, text, runtime, { setId: 1, old: OLD, new: NEW, source: "t.yaml" });
    members.push({ name: `kam${i}`, target });
    kams.push(kam);
  }
  return { members, kams };
}

const runtimes = (kams: FakeKamailio[]): string[][] => kams.map((k) => k.runtimeUris());

async function rejected<E extends Error>(p: Promise<unknown>, type: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}`);
}

describe("fleet apply: all or nothing per step", () => {
  it("passes: every list written, every node reloaded and read back, skew from the reloads' replies", async () => {
    const { members, kams } = fleet();
    const o = await fleetApply(members, "both", { retry: FAST });
    assert.equal(o.changed, true);
    assert.deepEqual(
      o.nodes.map((n) => [n.name, n.result, n.routing]),
      [
        ["kam1", "applied", "both"],
        ["kam2", "applied", "both"],
        ["kam3", "applied", "both"],
      ],
    );
    assert.deepEqual(runtimes(kams), [
      [OLD, NEW],
      [OLD, NEW],
      [OLD, NEW],
    ]);
    assert.ok(o.skew && o.skew.skewMs >= 0 && o.skew.boundMs >= o.skew.skewMs);
    for (const m of members) assert.equal(readFileSync(backupPaths(m.target).previous, "utf8"), OLD_LIST);
    assert.match(formatFleetOutcome("applied", o), /^applied both on 3 nodes: every node verified in .*; skew \d/);
    const again = await fleetApply(members, "both", { retry: FAST });
    assert.equal(again.changed, false);
    assert.deepEqual(
      kams.map((k) => k.calls.filter((c) => c === "dispatcher.reload").length),
      [1, 1, 1],
    );
  });

  it("a shared table is read once for the check and once for the read-back, and written once, not once per node", async () => {
    const { members, kams } = fleet();
    const calls = { read: 0, write: 0 };
    const table = {
      location: "table dispatcher of postgres://kamailio@127.0.0.1:5432/kamailio",
      sharedKey: "table dispatcher of postgres://kamailio@127.0.0.1:5432/kamailio",
      read: async () => {
        calls.read++;
        return kams[0]!.read();
      },
      // the one table every node reloads from
      writeAtomic: async (text: string) => {
        calls.write++;
        for (const k of kams) await k.writeAtomic(text);
      },
    };
    for (const m of members) m.target.dispatcherList = table;
    const o = await fleetApply(members, "both", { retry: FAST });
    assert.deepEqual(
      o.nodes.map((n) => [n.name, n.result]),
      [
        ["kam1", "applied"],
        ["kam2", "applied"],
        ["kam3", "applied"],
      ],
    );
    assert.deepEqual(runtimes(kams), [
      [OLD, NEW],
      [OLD, NEW],
      [OLD, NEW],
    ]);
    assert.deepEqual(calls, { read: 2, write: 1 });
  });

  it("check: a node that does not answer is exit 3, nothing written on any node", async () => {
    const { members, kams } = fleet();
    kams[1]!.unavailableCalls = Infinity;
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), EnvironmentError);
    assert.equal(err.exitCode, ExitCode.Environment);
    assert.match(err.details.join("\n"), /^node kam2: /);
    assert.deepEqual(
      kams.map((k) => k.writes),
      [0, 0, 0],
    );
  });

  it("check: drift on one node is exit 4 naming it, nothing written on any node", async () => {
    const { members, kams } = fleet();
    kams[2]!.file = `# pbx-cutover profile: old\n1 ${OLD} 0 0\n1 ${NEW} 0 0\n`;
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), DriftError);
    assert.equal(err.exitCode, ExitCode.ApplyRestored);
    assert.match(err.details.join("\n"), /drift on node kam3/);
    assert.match(err.message, /: nothing was written on any node \(drift on node kam3\)$/);
    assert.deepEqual(
      kams.map((k) => k.writes),
      [0, 0, 0],
    );
  });

  it("check: every node sharing one table drifting is said as the table differing from every runtime", () => {
    const on = (name: string, sharedKey: string | undefined): FleetMember =>
      ({ name, target: { dispatcherList: { sharedKey } } }) as unknown as FleetMember;
    const TABLE = "table dispatcher of postgres://kamailio@10.0.0.3:5432/kamailio";
    const table = ["kam1", "kam2", "kam3"].map((n) => on(n, TABLE));
    assert.equal(
      driftWho(table, table),
      `drift on every node, kam1, kam2, kam3: each one's runtime differs from ${TABLE}, which they share; the table (or every runtime) was changed behind the tool's back`,
    );
    assert.equal(driftWho(table.slice(2), table), "drift on node kam3");
    const files = ["kam1", "kam2"].map((n) => on(n, undefined));
    assert.equal(driftWho(files, files), "drift on node kam1, kam2");
  });

  it("check: nodes on different steps are exit 4 naming each node's step, nothing written", async () => {
    const { members, kams } = fleet();
    const both = `# pbx-cutover profile: both\n1 ${OLD} 0 0\n1 ${NEW} 0 0\n`;
    kams[0]!.file = both;
    await kams[0]!.call("dispatcher.reload");
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), DriftError);
    assert.match(err.message, /not on the same step/);
    assert.deepEqual(err.details.slice(0, 2), [
      `node kam1: both (fake:dispatcher.list), routing ${OLD}, ${NEW}`,
      `node kam2: old (fake:dispatcher.list), routing ${OLD}`,
    ]);
    assert.deepEqual(
      kams.map((k) => k.writes),
      [0, 0, 0],
    );
  });

  it("write: one node's write fails, every node back on old (verified), per node what happened", async () => {
    const { members, kams } = fleet();
    const kam = kams[1]!;
    const write = kam.writeAtomic.bind(kam);
    let failed = false;
    kam.writeAtomic = (text: string) => {
      if (!failed) {
        failed = true;
        return Promise.reject(Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }));
      }
      return write(text);
    };
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), FleetRestoredError);
    assert.equal(err.exitCode, ExitCode.ApplyRestored);
    assert.deepEqual(err.failure.cause, { node: "kam2", stage: "write", reason: "ENOSPC: no space left on device" });
    assert.deepEqual(runtimes(kams), [[OLD], [OLD], [OLD]]);
    assert.deepEqual(
      kams.map((k) => k.file),
      [OLD_LIST, OLD_LIST, OLD_LIST],
    );
    assert.deepEqual(
      err.failure.nodes.map((n) => [n.name, n.routing, n.restore?.verified]),
      [
        ["kam1", "old", true],
        ["kam2", "old", true],
        ["kam3", "old", true],
      ],
    );
    for (const m of members) assert.equal(existsSync(backupPaths(m.target).inFlight), false);
  });

  it("reload: one node refuses the reload, the others (already switched) are put back and verified", async () => {
    const { members, kams } = fleet();
    kams[2]!.failReloads = true;
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), FleetRestoredError);
    assert.deepEqual(err.failure.cause.node, "kam3");
    assert.equal(err.failure.cause.stage, "reload");
    assert.deepEqual(runtimes(kams), [[OLD], [OLD], [OLD]]);
    assert.deepEqual(
      kams.map((k) => k.file),
      [OLD_LIST, OLD_LIST, OLD_LIST],
    );
    assert.deepEqual(
      err.failure.nodes.map((n) => [n.name, n.result]),
      [
        ["kam1", "applied"],
        ["kam2", "applied"],
        ["kam3", "failed"],
      ],
    );
    assert.match(
      err.details.join("\n"),
      /^node kam1 {2}routes by old {2}runtime sip:127\.0\.0\.1:15070 {2}\[applied, then put back; restore verified/m,
    );
  });

  it("reload: one node's RPC stops answering between write and reload and is back for the restore: all on old", async () => {
    const { members, kams } = fleet();
    const frozen = kams[0]!;
    const err = await rejected(
      fleetApply(members, "both", {
        retry: FAST,
        afterWrite: () => {
          frozen.unavailableMethod = "dispatcher.reload";
          frozen.unavailableCalls = Infinity;
          return Promise.resolve();
        },
      }),
      FleetRestoredError,
    );
    assert.equal(err.failure.cause.node, "kam1");
    assert.match(err.failure.cause.reason, /ECONNREFUSED/);
    assert.deepEqual(runtimes(kams), [[OLD], [OLD], [OLD]]);
    assert.match(err.failure.nodes[0]!.restore!.detail, /runtime never left the previous list/);
  });

  it("verify: a node's list changed under us after its reload, every node back on old (verified)", async () => {
    const { members, kams } = fleet();
    const kam = kams[1]!;
    const call = kam.call.bind(kam);
    let meddled = false;
    kam.call = async (method, params) => {
      const r = await call(method, params);
      if (method === "dispatcher.reload" && !meddled) {
        meddled = true;
        kam.file = `${kam.file ?? ""}# someone else\n`;
      }
      return r;
    };
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), FleetRestoredError);
    assert.deepEqual([err.failure.cause.node, err.failure.cause.stage], ["kam2", "verify"]);
    assert.deepEqual(runtimes(kams), [[OLD], [OLD], [OLD]]);
    assert.ok(err.failure.consistent);
  });

  it("restore: a node unreachable during the restore itself leaves the fleet split: exit 4 naming each node's routing", async () => {
    const { members, kams } = fleet();
    kams[1]!.goDownOnWrite = true;
    const err = await rejected(fleetApply(members, "new", { retry: FAST }), FleetSplitError);
    assert.equal(err.exitCode, ExitCode.ApplyRestored);
    assert.equal(err.failure.consistent, false);
    assert.match(err.message, /^FLEET ON DIFFERENT STEPS: .*node kam2 could NOT be put back on old/);
    assert.deepEqual(
      err.failure.nodes.map((n) => [n.name, n.routing]),
      [
        ["kam1", "old"],
        ["kam2", "unknown"],
        ["kam3", "old"],
      ],
    );
    assert.match(err.details[1]!, /^node kam2 {2}routes by unknown {2}runtime \(unknown\) .*restore NOT verified/);
    assert.deepEqual(runtimes([kams[0]!, kams[2]!]), [[OLD], [OLD]]);
  });
});

describe("fleet report", () => {
  it("skew: first to last reply, bounded by the first request sent", () => {
    assert.deepEqual(
      computeSkew([
        { name: "a", reloadSentAt: 1000, routingAt: 1010 },
        { name: "b", reloadSentAt: 1001, routingAt: 1030 },
        { name: "c", reloadSentAt: 1002, routingAt: 1012 },
        { name: "d" },
      ]),
      { skewMs: 20, boundMs: 30, first: "a", last: "b" },
    );
    assert.equal(computeSkew([{ name: "a" }]), undefined);
  });

  it("routing lines name each node, its routing and runtime", () => {
    assert.deepEqual(
      routingLines([
        { name: "kam1", location: "x", result: "applied", routing: "new", runtime: [NEW] },
        { name: "k2", location: "y", result: "stopped", routing: "unknown" },
      ]),
      [
        `node kam1  routes by new  runtime ${NEW}  [applied and verified]`,
        "node k2    routes by unknown  runtime (unknown)  [not reached]",
      ],
    );
  });
});
