/**
 * migrate --target on a "production" node (algorithm 9, Kamailio's default reload_delta of 5 s):
 * SIPp users call through the node (started by the test, not the tool); the tool judges each step
 * on the calls the node mirrors to the target's HEP collector. Healthy PBXs: the plan passes to new
 * only, in the operator's file and at runtime. A new PBX refusing one call in five: the gates fail at
 * weight 10 within the 5 s after step 2's reload, new is out of selection (set_state) within 1 s of
 * its first failing call and gets no call after that, and the node is back on old by itself once
 * the guard lets the reload through. No artifact holds the RPC secret.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type CliResult } from "../support/lab-fixture.js";
import type { NodeAuth, ProductionNode } from "../support/production-node.js";
import { runDirOf, artifactsText } from "../support/run-folder.js";
import { targetNode, type TargetNode } from "../support/target-node.js";

const AUTH: NodeAuth = { basic: { user: "cutover", password: "pw-migrate-3Jd9" } };
const RATE = 50;

interface Results {
  status: string;
  exitCode: number;
  steps: {
    label: string;
    verdict: string;
    gates?: { verdict: string; window: { routed: { old: number; new: number } } };
  }[];
  rollback?: {
    from: number;
    to: number;
    ok: boolean;
    takeOut?: { ok: boolean; destinations?: string[]; durationMs?: number; reason?: string };
    reloadRefusals?: number;
    reaction?: {
      reactionMs: number;
      stopMs?: number;
      firstFailingCallMs: number;
      untilStopped?: { routed: number; failed: number };
      afterStopped?: { routed: number; failed: number };
    };
  };
  traffic?: { rate: number; callIdPrefix?: string; exit: string; hep: { calls: number } };
  target: { driver: string };
}

async function migrateOn(
  newScenario: string,
  rate = RATE,
): Promise<{ t: TargetNode; node: ProductionNode; r: CliResult; runDir: string; res: Results }> {
  const t = await targetNode({ prefix: "tmigrate", auth: AUTH, node: { scenarios: { new: newScenario } } });
  try {
    t.callers(rate);
    const r = await runCli(
      ["migrate", "--target", t.file, "--artifacts-dir", path.join(t.dir, "art"), "--steps", "0,10,50,100"],
      { cwd: t.dir, timeoutMs: 240_000 },
    );
    const runDir = runDirOf(r);
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
    return { t, node: t.node, r, runDir, res };
  } catch (err) {
    await t.dispose();
    throw err;
  }
}

describe("migrate --target: healthy PBXs, real callers through the node", () => {
  let run: Awaited<ReturnType<typeof migrateOn>>;
  before(async () => {
    run = await migrateOn("uas-answer.xml");
  });
  after(async () => {
    await run?.t.dispose();
  });

  test("every step judged on the mirrored calls and passed; new only in the operator's file and at runtime", async () => {
    const { r, res, node } = run;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /traffic: the calls 127\.0\.1\.\d+:\d+ mirrors, judged from HEP/);
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "pass"],
        ["new=50%", "pass"],
        ["new", "pass"],
      ],
    );
    assert.equal(res.target.driver, "production");
    assert.equal(res.traffic?.callIdPrefix, undefined);
    assert.equal(res.traffic?.rate, 0);
    assert.ok((res.traffic?.hep.calls ?? 0) > 50, JSON.stringify(res.traffic));
    const step2 = res.steps[1]!.gates!;
    assert.equal(step2.verdict, "pass");
    assert.ok(step2.window.routed.new > 0 && step2.window.routed.old > 0, JSON.stringify(step2.window));
    const entries = readFileSync(node.listFile, "utf8")
      .split("\n")
      .filter((l) => /^\d/.test(l));
    assert.deepEqual(entries, [`1 ${node.backends.new.uri} 0 0`]);
    const runtime = JSON.stringify(await node.rpc("dispatcher.list"));
    assert.ok(runtime.includes(node.backends.new.uri) && !runtime.includes(node.backends.old.uri), runtime);
  });

  test("no artifact and no output holds the RPC password", () => {
    assert.ok(!(run.r.stdout + run.r.stderr).includes(AUTH.basic.password));
    assert.ok(!artifactsText(run.runDir).includes(AUTH.basic.password));
    assert.ok(!artifactsText(run.runDir).includes(Buffer.from(`cutover:${AUTH.basic.password}`).toString("base64")));
  });
});

describe("migrate --target: a new PBX refusing one call in five", () => {
  let run: Awaited<ReturnType<typeof migrateOn>>;
  before(async () => {
    // 200 calls/s: 20 a second to new at weight 10, so its second refusal (the gate's proof) comes 0.25 s after the first
    run = await migrateOn("uas-503-one-in-five.xml", 200);
  });
  after(async () => {
    await run?.t.dispose();
  });

  test("the gates fail at weight 10: new out of selection within 1 s, no call to it after; back on old by itself (exit 1), in the file and at runtime", async () => {
    const { r, res, node } = run;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "fail"],
      ],
    );
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
    // the gate failed within reload_delta (5 s) of step 2's reload: new out of selection at once, routing
    // restored once the guard let the reload through
    const rb = res.rollback!;
    assert.deepEqual(rb.takeOut, {
      ok: true,
      destinations: [node.backends.new.uri],
      durationMs: rb.takeOut?.durationMs,
    });
    const re = rb.reaction!;
    assert.ok(
      re.stopMs !== undefined && re.stopMs < 1000,
      `traffic to new stopped ${re.stopMs} ms after the first failing call`,
    );
    assert.ok((rb.reloadRefusals ?? 0) >= 1 && re.reactionMs > re.stopMs + 500, JSON.stringify(rb));
    assert.deepEqual(re.afterStopped, { routed: 0, failed: 0 }, "no call reached new once it was out of selection");
    assert.ok((re.untilStopped?.routed ?? 0) >= 1, JSON.stringify(re));
    assert.match(r.stdout, /new out of selection in [\d.]+ ms \(dispatcher\.set_state d sip:/);
    assert.match(readFileSync(node.listFile, "utf8"), new RegExp(`^1 ${node.backends.old.uri} 0 0 duid=old-pbx$`, "m"));
    const runtime = JSON.stringify(await node.rpc("dispatcher.list"));
    assert.ok(runtime.includes(node.backends.old.uri) && !runtime.includes(node.backends.new.uri), runtime);
  });
});
