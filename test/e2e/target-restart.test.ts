/**
 * A "production" node restarted in the middle of `migrate --target` (the harness stops its Kamailio
 * and starts it again from its config while step 2 holds): the node comes back from its durable list,
 * which holds step 2's list (durable == runtime after every apply), and the tool notices that it is
 * another Kamailio (main process and start time): the step fails, its report says what the runtime
 * shows against the step the run was on, the last good step is put back and verified, exit 1. Never
 * a green run.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { stopStartedClis } from "../support/running-cli.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { listEntries, OLD_ATTRS, restartDuringStep2, targetNode, type TargetNode } from "../support/target-node.js";

const AUTH: NodeAuth = { bearer: "tok-restart-4Rw" };
const RATE = 50;

interface Results {
  status: string;
  exitCode: number;
  error?: string;
  steps: { label: string; verdict: string }[];
  rollback?: { from: number; to: number; ok: boolean };
  restart?: {
    node: string;
    before: { pid: number; upSince: string };
    after: { pid: number; upSince: string };
    seen: string;
    detectedAt: string;
    onStep: number;
    onStepLabel: string;
    runtime?: string[];
    matchesStep?: boolean;
  };
}

describe("migrate --target: the node's Kamailio restarted while a step holds", () => {
  let t: TargetNode;
  before(async () => {
    t = await targetNode({ prefix: "trestart", auth: AUTH });
  });
  after(async () => {
    stopStartedClis();
    await t?.dispose();
  });

  test("the restart is seen and reported (runtime now vs step 2), step 2 fails, old is put back and verified: exit 1", async (tc) => {
    const { node, dir, file } = t;
    t.callers(RATE);
    const { run, code, out, pidBefore, restartedAtMs } = await restartDuringStep2(dir, file, node);
    assert.equal(code, 1, out);
    assert.doesNotMatch(out, /PASS/);
    assert.match(
      run.err(),
      new RegExp(
        "step 2: Kamailio at node kam1 \\(http://127\\.0\\.1\\.\\d+:\\d+/RPC\\) restarted during step 2/3 new=10%'s hold: " +
          `it is pid \\d+, up since .+ \\(the run began on pid ${pidBefore}, up since .+\\); ` +
          "its runtime now: .+, which is step 2 \\(new=10%\\), the list the run applied \\(Kamailio loaded it from its durable list as it started\\)",
      ),
    );
    const now = /its runtime now: (.+?), which is/.exec(run.err())![1]!.split(", ").sort();
    assert.deepEqual(
      now,
      [`${node.backends.old.uri} ${OLD_ATTRS};weight=90 [AX]`, `${node.backends.new.uri} weight=10 [AX]`].sort(),
    );
    assert.match(run.err(), /step 1 \(old\) is back in place/);
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
    assert.equal(r.before.pid, pidBefore);
    assert.notEqual(r.after.pid, pidBefore);
    assert.deepEqual([r.onStep, r.onStepLabel, r.matchesStep], [2, "new=10%", true]);
    // the watch looks every second: seen within that and an RPC round trip of the restarted node
    const lagMs = Date.parse(r.detectedAt) - restartedAtMs;
    tc.diagnostic(`restart seen ${lagMs} ms after the node answered again`);
    assert.ok(lagMs < 2500, `seen ${lagMs} ms after the restart`);
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
    assert.deepEqual(listEntries(readFileSync(node.listFile, "utf8")), [`1 ${node.backends.old.uri} 0 0 ${OLD_ATTRS}`]);
    const runtime = JSON.stringify(await node.rpc("dispatcher.list"));
    assert.ok(runtime.includes(node.backends.old.uri) && !runtime.includes(node.backends.new.uri), runtime);
  });
});
