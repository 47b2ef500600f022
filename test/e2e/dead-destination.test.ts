/**
 * A cutover never ends on a destination that does not answer: the new backend (a real SIPp stand-in)
 * is killed while a plan holds; the next step is not applied, or the last step is put back, exit 1
 * naming it. `apply --mode new` refuses a new backend that does not answer. Real Kamailio and SIPp.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";
import { startCli, stopStartedClis } from "../support/running-cli.js";

interface Results {
  status: string;
  exitCode: number;
  steps: { label: string; verdict: string; reason?: string }[];
  rollback?: { from: number; to: number; ok: boolean };
}

const killNew = (f: LabFixture): void => {
  const state = JSON.parse(readFileSync(path.join(f.labDir, "lab.json"), "utf8")) as {
    components: { role: string; pid: number }[];
  };
  process.kill(state.components.find((c) => c.role === "new")!.pid, "SIGKILL");
};

async function waitFor(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the destination a cutover moves calls to must answer (real Kamailio and SIPp)", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    stopStartedClis();
    await f.dispose();
  });

  for (const held of ["both", "new"] as const) {
    test(`new killed while step ${held} holds: exit 1 naming it, ${held === "both" ? "step new not applied" : "step new put back"}, both routing`, async () => {
      const up = await f.cli(["lab", "up", ...f.flags]);
      assert.equal(up.code, 0, up.stderr);
      const planFile = path.join(f.dir, `hold-${held}.yaml`);
      const hold = "    hold: { durationS: 600 }\n";
      writeFileSync(
        planFile,
        `steps:\n  - 0\n  - weightNew: 50\n${held === "both" ? hold : ""}  - weightNew: 100\n${held === "new" ? hold : ""}`,
      );
      const art = path.join(f.dir, `art-${held}`);
      const run = startCli(f, ["migrate", ...f.flags, "--artifacts-dir", art, "--plan", planFile]);
      const stepNo = held === "both" ? 2 : 3;
      await waitFor(() => new RegExp(`step ${stepNo}/3 \\S+: holding`).test(run.out()), "the hold");
      killNew(f);
      // the operator ends the hold; the check that follows finds new dead
      const promote = await f.cli(["promote", ...f.flags]);
      assert.equal(promote.code, 0, promote.stderr);
      assert.equal(await run.closed, 1, run.err() + run.out());
      const NEW = uriOf(f, "new");
      assert.ok(run.err().includes(`new backend ${NEW}`), `names the dead backend:\n${run.err()}`);
      assert.doesNotMatch(run.out() + run.err(), /PASS/);
      assert.match(
        run.err(),
        held === "both"
          ? /step 3\/3 \(\S+\) was not applied: .*does not answer; step 2 \(\S+\) stays in place, and it still sends 50% of new calls to new/
          : /after the last step, .*does not answer SIP OPTIONS.*step 2 \(\S+\) is back in place/,
      );
      assert.deepEqual(await runtimeUris(f), [uriOf(f, "old"), NEW].sort());
      const res = JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as Results;
      assert.equal(res.exitCode, 1);
      assert.deepEqual(
        res.steps.map((p) => p.verdict),
        ["pass", "pass", "fail"],
      );
      if (held === "new") assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [3, 2, true]);
      else assert.match(res.steps[2]!.reason ?? "", /^not applied: .*does not answer SIP OPTIONS/);
    });
  }

  test("apply --mode new with new dead: exit 3 naming it, nothing changed; --mode old is never refused", async () => {
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    const old = await f.cli(["apply", "--mode", "old", ...f.flags]);
    assert.equal(old.code, 0, old.stderr);
    killNew(f);
    const list = readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8");
    for (const mode of ["new", "both"]) {
      const r = await f.cli(["apply", "--mode", mode, ...f.flags]);
      assert.equal(r.code, 3, r.stderr + r.stdout);
      assert.ok(r.stderr.includes(`new backend ${uriOf(f, "new")} does not answer`), r.stderr);
      assert.match(r.stderr, /nothing was changed/);
    }
    assert.equal(readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"), list);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")]);
    const again = await f.cli(["apply", "--mode", "old", ...f.flags]);
    assert.equal(again.code, 0, again.stderr);
  });
});
