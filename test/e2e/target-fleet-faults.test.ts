/**
 * migrate --target on a fleet of three nodes (a list file each) with a fault during a step. Each run
 * ends with every node on the last good step, verified, and a per-node table in the output and in
 * results.json; or, where the tool refuses to write, exit 4 naming the node. The faults land at the
 * moment they are meant to without a sleep (a node restarted mid-step: target-fleet-restart):
 * - kam2's RPC stops answering between the write and the reload: its kamcmd freezes it (SIGSTOP)
 *   just before the reload reaches it, and it is thawed once the tool put its list back;
 * - kam2 refuses the reload: its guard (reload_delta 600 s, longer than the run waits for it) was
 *   started by step 1's reload;
 * - kam3's list is changed behind the tool's back as soon as step 2's apply event is there.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { stopStartedClis, type RunningCli } from "../support/running-cli.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import {
  appliedIn,
  assertStepPutBackOnOld,
  migrateHoldingStep2,
  runtimeUris,
  targetFleet,
  untilWhileRunning,
  type TargetFleet,
} from "../support/target-fleet.js";
import { OLD_ATTRS } from "../support/target-node.js";

const FLEET_NAMES = ["kam1", "kam2", "kam3"] as const;
type Fleet = TargetFleet;

const AUTH: NodeAuth = { bearer: "tok-fleet-faults-W3q" };

interface FleetStep {
  ok: boolean;
  label: string;
  previousLabel?: string;
  consistent?: boolean;
  cause?: { node: string; stage: string; reason: string };
  nodes: { name: string; result: string; routing: string; failedAt?: string; restore?: { verified: boolean } }[];
}
interface Results {
  status: string;
  exitCode: number;
  error?: string;
  steps: { label: string; verdict: string; reason?: string; fleet?: FleetStep }[];
  rollback?: { from: number; to: number; ok: boolean };
  restart?: { node: string; onStep: number; matchesStep?: boolean };
  fleet?: { nodes: string[]; rollback?: FleetStep };
}

const resultsOf = (run: RunningCli): Results =>
  JSON.parse(readFileSync(path.join(runDirOf(run.out()), "results.json"), "utf8")) as Results;

/** every node routes by old alone (step 1, the last good one), in its list and at runtime */
async function everyNodeOnOld(f: Fleet): Promise<void> {
  const OLD = f.nodes[0]!.backends.old.uri;
  for (const [i, n] of f.nodes.entries()) {
    assert.deepEqual(await runtimeUris(n), [OLD], FLEET_NAMES[i]);
    assert.deepEqual(
      readFileSync(n.listFile, "utf8")
        .split("\n")
        .filter((l) => /^\d/.test(l)),
      [`1 ${OLD} 0 0 ${OLD_ATTRS}`],
      FLEET_NAMES[i],
    );
  }
}

/** the per-node table as the output prints it: every node on `routing` */
function assertTable(out: string, routing: string): void {
  for (const name of FLEET_NAMES)
    assert.match(out, new RegExp(`^(migrate: )? {2}node ${name} {2}routes by ${routing} `, "m"), `${name} in\n${out}`);
}

describe("migrate --target on a fleet: faults during a step", () => {
  const fleets: Fleet[] = [];
  after(async () => {
    stopStartedClis();
    await Promise.all(fleets.map((f) => f.dispose()));
  });
  /** three nodes (reload_delta 0 unless `guard` names one's), users calling through each at 10 calls/s */
  const fleet = async (o: { freeze?: number; guard?: { node: number; reloadDelta: number } }): Promise<Fleet> => {
    const f = await targetFleet({
      prefix: "fleet-faults",
      auth: AUTH,
      node: (i) => ({ reloadDelta: i === o.guard?.node ? o.guard.reloadDelta : 0 }),
      ...(o.freeze === undefined ? {} : { freeze: o.freeze }),
    });
    fleets.push(f);
    f.callers(10);
    return f;
  };

  test("kam2's RPC frozen between the write and the reload of step 2: exit 4, every node back on old, verified", async () => {
    const f = await fleet({ freeze: 1 });
    const freezer = f.freezer!;
    const kam2 = f.nodes[1]!;
    const NEW = f.nodes[0]!.backends.new.uri;
    const hasNew = (): boolean =>
      readFileSync(kam2.listFile, "utf8")
        .split("\n")
        .some((l) => /^\d/.test(l) && l.includes(NEW));
    // step 1 reloads every node (the list the operator wrote becomes the tool's old); step 2's is the second
    freezer.arm(2);
    try {
      const run = migrateHoldingStep2(f, 2);
      await untilWhileRunning(run, "kam2 frozen at step 2's reload", () => freezer.frozen());
      assert.ok(hasNew(), "kam2's list was written before its reload");
      await untilWhileRunning(run, "kam2's list put back", () => !hasNew());
      freezer.thaw();
      const code = await run.closed;
      const out = run.out() + run.err();
      assert.equal(code, 4, out);
      assert.match(
        run.err(),
        /applying new=50% to the fleet failed on node kam2 at reload: .*; every node was put back on old and verified at runtime/,
      );
      assertTable(run.out(), "old");
      assert.match(run.out(), /^migrate: {3}node kam2 {2}routes by old .*\[failed at reload: /m);
      assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
      const res = resultsOf(run);
      assert.deepEqual([res.status, res.exitCode], ["fail", 4]);
      assertStepPutBackOnOld(res.steps[1]!, "new=50%", { node: "kam2", stage: "reload" }, FLEET_NAMES);
      await everyNodeOnOld(f);
    } finally {
      freezer.thaw();
    }
  });

  test("kam2 refuses step 2's reload (its reload_delta guard, started by step 1's): exit 4, every node back on old", async () => {
    // kam2's guard is longer than the run waits: step 1's reload starts it, step 2's is refused
    const f = await fleet({ guard: { node: 1, reloadDelta: 600 } });
    const run = migrateHoldingStep2(f, 1, "--reload-wait-ms", "1500");
    const code = await run.closed;
    const out = run.out() + run.err();
    assert.equal(code, 4, out);
    assert.match(
      run.err(),
      /applying new=50% to the fleet failed on node kam2 at reload: dispatcher\.reload was not accepted: .*Ongoing reload.*; every node was put back on old and verified at runtime/,
    );
    assertTable(run.out(), "old");
    const res = resultsOf(run);
    const step = res.steps[1]!;
    assert.deepEqual(
      [step.verdict, step.fleet?.cause?.node, step.fleet?.cause?.stage, step.fleet?.consistent],
      ["fail", "kam2", "reload", true],
    );
    assert.deepEqual(
      step.fleet!.nodes.map((n) => [n.name, n.result, n.routing]),
      [
        ["kam1", "applied", "old"],
        ["kam2", "failed", "old"],
        ["kam3", "applied", "old"],
      ],
    );
    await everyNodeOnOld(f);
  });

  test("kam3's list changed behind the tool's back between steps: exit 4 naming kam3, nothing written after it", async (t) => {
    const f = await fleet({});
    const run = migrateHoldingStep2(f, 3);
    await untilWhileRunning(run, "step 2 applied", () => appliedIn(run, "new=50%"));
    const kam3 = f.nodes[2]!;
    const OLD = f.nodes[0]!.backends.old.uri;
    // the operator took new out of kam3's list (not reloaded: its runtime still routes by new=50%)
    writeFileSync(kam3.listFile, `1 ${OLD} 0 0 ${OLD_ATTRS}\n`);
    const changed = readFileSync(kam3.listFile, "utf8");
    const lists = f.nodes.map((n) => readFileSync(n.listFile, "utf8"));
    const code = await run.closed;
    const out = run.out() + run.err();
    for (const l of out.split("\n").slice(-30)) t.diagnostic(l);
    assert.equal(code, 4, out);
    assert.match(run.err(), /drift on the fleet before applying new: nothing was written on any node/);
    assert.match(run.err(), /drift on node kam3 \(/);
    assert.doesNotMatch(run.err(), /drift on node kam[12]/);
    // putting step 2 back meets the same drift: said, not left unsaid
    assert.match(run.out(), /putting back step 2 \(new=50%\) failed after [\d.]+ ms: drift on the fleet/);
    assert.deepEqual(
      f.nodes.map((n) => readFileSync(n.listFile, "utf8")),
      lists,
      "no node's list written",
    );
    assert.equal(readFileSync(kam3.listFile, "utf8"), changed);
    const res = resultsOf(run);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "fail"],
      ],
    );
    assert.match(res.steps[2]!.reason ?? "", /drift on the fleet.*\(drift on node kam3\)$/);
    assert.equal(res.steps[2]!.fleet, undefined, "no table of a step refused before any write");
    assert.doesNotMatch(run.out(), /step 3 new on the fleet/);
    // every node's runtime is still step 2's (new=50% destinations), kam3's list is the operator's
    for (const n of f.nodes) assert.deepEqual(await runtimeUris(n), [OLD, f.nodes[0]!.backends.new.uri].sort());
  });
});
