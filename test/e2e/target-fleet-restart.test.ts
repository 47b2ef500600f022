/**
 * A node other than the first restarted in the middle of `migrate --target` on a fleet of three (the
 * harness stops kam2's Kamailio and starts it again from its config while step 2 holds): the tool
 * watches every node's identity (main process and start time), so it notices that kam2 is another
 * Kamailio, names it, says what its runtime shows against the step the run was on, fails the step and
 * puts the whole fleet back on the last good step, verified on every node: exit 1, never a green run.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { stopStartedClis } from "../support/running-cli.js";
import {
  assertFleetRolledBackTo,
  assertFleetTable,
  targetFleet,
  type FleetRollbackRecord,
  type TargetFleet,
} from "../support/target-fleet.js";
import { listEntries, OLD_ATTRS, restartDuringStep2 } from "../support/target-node.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-restart-8Jd" };
const RATE_PER_NODE = 20;

interface Results {
  status: string;
  exitCode: number;
  steps: { label: string; verdict: string }[];
  rollback?: { from: number; to: number; ok: boolean };
  restart?: {
    node: string;
    before: { pid: number };
    after: { pid: number };
    detectedAt: string;
    onStep: number;
    matchesStep?: boolean;
  };
  fleet?: { nodes: string[]; rollback?: FleetRollbackRecord };
}

describe("migrate --target on a fleet: kam2's Kamailio restarted while a step holds", () => {
  let f: TargetFleet;
  before(async () => {
    f = await targetFleet({ prefix: "fleet-restart", auth: AUTH });
  });
  after(async () => {
    stopStartedClis();
    await f?.dispose();
  });

  test("every node is watched; kam2's restart is seen and named, step 2 fails, every node is put back on step 1: exit 1", async (tc) => {
    f.callers(RATE_PER_NODE);
    const { run, code, out, pidBefore, restartedAtMs } = await restartDuringStep2(f.dir, f.file, f.nodes[1]!);
    for (const name of f.names)
      assert.match(run.out(), new RegExp(`restart watch: node ${name} \\(http://\\S+\\) is pid \\d+, up since `));
    assert.equal(code, 1, out);
    assert.doesNotMatch(out, /PASS/);
    assert.match(
      run.err(),
      new RegExp(
        "step 2: Kamailio at node kam2 \\(http://127\\.0\\.1\\.\\d+:\\d+/RPC\\) restarted during step 2/3 new=10%'s hold: " +
          `it is pid \\d+, up since .+ \\(the run began on pid ${pidBefore}, up since .+\\); ` +
          "its runtime now: .+, which is step 2 \\(new=10%\\), the list the run applied",
      ),
    );
    assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
    const res = JSON.parse(readFileSync(path.join(runDirOf(run.out()), "results.json"), "utf8")) as Results;
    assert.deepEqual([res.status, res.exitCode], ["fail", 1]);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "fail"],
      ],
    );
    const r = res.restart!;
    assert.match(r.node, /^node kam2 /);
    assert.equal(r.before.pid, pidBefore);
    assert.notEqual(r.after.pid, pidBefore);
    assert.deepEqual([r.onStep, r.matchesStep], [2, true]);
    const lagMs = Date.parse(r.detectedAt) - restartedAtMs;
    tc.diagnostic(`kam2's restart seen ${lagMs} ms after it answered again`);
    assert.ok(lagMs < 2500, `seen ${lagMs} ms after the restart`);
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
    assert.deepEqual(res.fleet?.nodes, ["kam1", "kam2", "kam3"]);
    assertFleetRolledBackTo(res.fleet?.rollback, "old", res.fleet.nodes);
    assertFleetTable(run.out(), res.fleet.nodes, "old");
    const OLD = f.nodes[0]!.backends.old.uri;
    const NEW = f.nodes[0]!.backends.new.uri;
    for (const n of f.nodes) {
      assert.deepEqual(listEntries(readFileSync(n.listFile, "utf8")), [`1 ${OLD} 0 0 ${OLD_ATTRS}`]);
      const runtime = JSON.stringify(await n.rpc("dispatcher.list"));
      assert.ok(runtime.includes(OLD) && !runtime.includes(NEW), runtime);
    }
  });
});
