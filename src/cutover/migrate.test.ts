import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { Scope } from "../core/scope.js";
import type { MigrateResults } from "./migrate-report.js";
import { ApplyRolledBackError } from "../apply/apply.js";
import { RpcReplyError } from "../kamailio/rpc.js";
import type { LabControl } from "../drivers/lab-control.js";
import type { Target } from "../target/target.js";
import { fakeTarget, NEW, OLD } from "../../test/support/fake-kamailio.js";
import { runMigrate, type MigrateOptions } from "./migrate.js";
import type { BackendRole } from "../core/backend-role.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const runningLab: LabControl = {
  readyTimeoutMs: 1000,
  ensureUp: () => Promise.resolve({ alreadyRunning: true, startedFromNothing: false, readyMs: 0 }),
  down: () => Promise.resolve(),
};
const answers = (target: Target, role: BackendRole): ReturnType<NonNullable<MigrateOptions["probe"]>> =>
  Promise.resolve({
    role,
    uri: target.backends[role].uri,
    address: "127.0.0.1",
    port: target.backends[role].port,
    probe: { reachable: true, status: 200, reason: "OK", rttMs: 1, server: `stand-in ${role}`, error: undefined },
  });

function setup(): {
  target: Target;
  kam: ReturnType<typeof fakeTarget>["kam"];
  art: string;
  opts: MigrateOptions;
  lines: string[];
} {
  const f = fakeTarget();
  dirs.push(f.dir);
  f.kam.calls.length = 0;
  const art = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-migrate-"));
  dirs.push(art);
  const lines: string[] = [];
  // the fake's kamcmd is `echo`, so the evidence file gets a line we can recognise
  f.target.kamcmdArgv = (m) => ["echo", `kamcmd ${m}`];
  return {
    target: f.target,
    kam: f.kam,
    art,
    lines,
    opts: { artifactsDir: art, keepLab: false, reloadWaitMs: 200, log: (l) => lines.push(l), probe: answers },
  };
}

const results = (art: string): MigrateResults =>
  JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as MigrateResults;

describe("runMigrate (in-memory Kamailio)", () => {
  it("old -> both -> new, every seed file, new only at the end", async () => {
    const { target, kam, art, opts } = setup();
    const scope = new Scope();
    const r = await runMigrate(runningLab, target, opts, scope);
    await scope.close();
    assert.equal(r.status, "pass");
    assert.deepEqual(kam.runtimeUris(), [NEW]);
    const written = results(art);
    assert.equal(written.schemaVersion, 2);
    assert.deepEqual(
      written.steps.map((s) => [s.index, s.label, s.weightNew, s.holdS, s.verdict]),
      [
        [1, "old", 0, 0, "pass"],
        [2, "both", 50, 0, "pass"],
        [3, "new", 100, 0, "pass"],
      ],
    );
    assert.equal("phases" in written, false);
    assert.deepEqual(readdirSync(path.join(art, "latest")).sort(), [
      "applied-both.list",
      "applied-new.list",
      "applied-old.list",
      "dispatcher.both.list",
      "dispatcher.new.list",
      "dispatcher.old.list",
      "events.ndjson",
      "kamcmd-dispatcher.list.txt",
      "report.html",
      "results.json",
      "summary.md",
    ]);
    assert.equal(
      readFileSync(path.join(art, "latest", "kamcmd-dispatcher.list.txt"), "utf8"),
      "kamcmd dispatcher.list\n",
    );
    assert.ok(!existsSync(target.lockPath), "the run's lock is released by the scope");
  });

  it("a phase that fails: exit 4, evidence up to that phase, the previous profile still active", async () => {
    const { target, kam, art, opts } = setup();
    const realCall = kam.call.bind(kam);
    // Kamailio refuses every reload once the `both` list is written
    kam.call = (method: string) =>
      method === "dispatcher.reload" && /profile: both/.test(kam.file ?? "")
        ? Promise.reject(new RpcReplyError(method, 500, "Reload Failed"))
        : realCall(method);
    const scope = new Scope();
    await assert.rejects(runMigrate(runningLab, target, opts, scope), ApplyRolledBackError);
    await scope.close();
    const r = results(art);
    assert.equal(r.status, "fail");
    assert.equal(r.exitCode, 4);
    assert.deepEqual(
      r.steps.map((p) => [p.label, p.verdict]),
      [
        ["old", "pass"],
        ["both", "fail"],
      ],
    );
    assert.match(r.steps[1]!.reason ?? "", /^reload: /);
    assert.deepEqual(
      r.steps[1]!.restoredRuntime?.map((d) => d.uri),
      [OLD],
    );
    assert.equal(r.final, undefined);
    const files = readdirSync(path.join(art, "latest")).sort();
    assert.deepEqual(files, [
      "applied-old.list",
      "dispatcher.both.list",
      "dispatcher.old.list",
      "events.ndjson",
      "report.html",
      "results.json",
      "summary.md",
    ]);
    assert.match(
      readFileSync(path.join(art, "latest", "summary.md"), "utf8"),
      /^# pbx-cutover migrate: FAIL[\s\S]*\| both \| fail: reload: /,
    );
    assert.deepEqual(kam.runtimeUris(), [OLD]);
    assert.ok(!existsSync(target.lockPath));
  });

  for (const probesBeforeDeath of [1, 3]) {
    const when = probesBeforeDeath === 1 ? "before the both step" : "after the last step";
    it(`new stops answering ${when}: exit 1 naming it, never PASS; the step before it stays or is put back`, async () => {
      const { target, kam, art, opts } = setup();
      let newProbes = 0;
      const probe: MigrateOptions["probe"] = async (t, role) => {
        const p = await answers(t, role);
        if (role === "new" && ++newProbes > probesBeforeDeath)
          return { ...p, probe: { ...p.probe, reachable: false, status: undefined, error: "no answer in 1000 ms" } };
        return p;
      };
      const scope = new Scope();
      // new is probed at the start (1), before both (2), before new (3) and after it (4)
      const err = await runMigrate(runningLab, target, { ...opts, probe }, scope).catch((e: unknown) => e);
      await scope.close();
      assert.equal((err as { exitCode?: number }).exitCode, 1, String(err));
      assert.match(String((err as Error).message), new RegExp(`new backend ${NEW.replace(/\./g, "\\.")}`));
      const r = results(art);
      assert.equal(r.status, "fail");
      if (probesBeforeDeath === 1) {
        assert.match(
          String((err as Error).message),
          /step 2\/3 \(both\) was not applied: .* does not answer; step 1 \(old\) stays in place$/,
        );
        assert.deepEqual(
          r.steps.map((p) => [p.label, p.verdict]),
          [
            ["old", "pass"],
            ["both", "fail"],
          ],
        );
        assert.match(r.steps[1]!.reason ?? "", /^not applied: /);
        assert.deepEqual(kam.runtimeUris(), [OLD]);
      } else {
        assert.match(
          String((err as Error).message),
          /after the last step, .*does not answer SIP OPTIONS.*step 2 \(both\) is back in place/,
        );
        assert.deepEqual(
          r.steps.map((p) => [p.label, p.verdict]),
          [
            ["old", "pass"],
            ["both", "pass"],
            ["new", "fail"],
          ],
        );
        assert.deepEqual(kam.runtimeUris().sort(), [NEW, OLD].sort());
      }
    });
  }

  it("a lab it started is taken down at the end unless --keep-lab", async () => {
    for (const keepLab of [false, true]) {
      const { target, art, opts } = setup();
      let downs = 0;
      const lab: LabControl = {
        ...runningLab,
        ensureUp: () => Promise.resolve({ alreadyRunning: false, startedFromNothing: true, readyMs: 5 }),
        down: () => Promise.resolve(void downs++),
      };
      const scope = new Scope();
      await runMigrate(lab, target, { ...opts, keepLab }, scope);
      await scope.close();
      assert.equal(downs, keepLab ? 0 : 1);
      assert.deepEqual(results(art).lab, { startedByThisRun: true, leftRunning: keepLab });
    }
  });

  it("a lab found half dead (restarted by ensureUp) was running before: left running", async () => {
    const { target, art, opts } = setup();
    let downs = 0;
    const lab: LabControl = {
      ...runningLab,
      ensureUp: () =>
        Promise.resolve({ alreadyRunning: false, startedFromNothing: false, readyMs: 5, replacedDead: ["new"] }),
      down: () => Promise.resolve(void downs++),
    };
    const scope = new Scope();
    await runMigrate(lab, target, { ...opts, keepLab: false }, scope);
    await scope.close();
    assert.equal(downs, 0, "a lab that was (partly) running before is not stopped");
    assert.deepEqual(results(art).lab, { startedByThisRun: false, leftRunning: true });
  });
});
