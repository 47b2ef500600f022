/**
 * `sim --steps` and `sim --plan` on the real lab (Kamailio 5.6.3, weight-based dispatcher, SIPp 3.6.1
 * stand-ins): each plan step is a phase whose burst of calls is its hold, judged twice from the same
 * calls of the one evidence book: its assertions (a weighted step's split within the bound the
 * algorithm guarantees, as migrate checks it) and the plan's metric gates (RFC 6076). Healthy backends
 * pass every step; a new stand-in that refuses one call in five fails step 2's gates and the runner
 * goes back to step 1 by itself.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";

const ALG = ["--dispatcher-alg", "9"];
/** quick bursts; an answer may take up to 3 s on a loaded machine before a call fails */
const KNOBS = {
  CALLS_PER_PHASE: "10",
  CALL_RATE: "200",
  CALL_DURATION_MS: "100",
  LONG_CALL_MS: "2500",
  POST_CUTOVER_CALLS: "4",
  CALL_TIMEOUT_MS: "3000",
};

interface Verdict {
  phase: string;
  name: string;
  verdict: string;
  details: string;
  numbers: Record<string, number>;
}
interface Step {
  index: number;
  phase: string;
  weightNew: number;
  gates?: { verdict: string; detail: string; gates: { name: string; verdict: string }[] };
}
interface Results {
  exitCode: number;
  plan: { source: string; steps: Step[]; outcome: string; rollback?: { from: number; to: number; ok: boolean } };
  verdicts: Verdict[];
}

function runIn(art: string): { dir: string; res: Results; events: { kind: string; label?: string; state?: string }[] } {
  const runs = readdirSync(art).filter((n) => n.startsWith("call-cutover-"));
  assert.equal(runs.length, 1, runs.join(", "));
  const dir = path.join(art, runs[0]!);
  return {
    dir,
    res: JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as Results,
    events: readFileSync(path.join(dir, "events.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string }),
  };
}

const verdict = (r: Results, phase: string, name: string): Verdict => {
  const v = r.verdicts.find((x) => x.phase === phase && x.name === name);
  assert.ok(v, `${phase} ${name}: ${JSON.stringify(r.verdicts.map((x) => `${x.phase} ${x.name}`))}`);
  return v;
};

/** a plan with metric gates on every step; step 2 holds 200 calls (20 reach new at 10 %) */
const PLAN = `defaults:
  gates:
    - { kind: threshold, metric: isa, backend: new, atMost: 5 }
    - { kind: relative, metric: ser, maxWorseBy: 2 }
  onInconclusive: fail
steps:
  - 0
  - weightNew: 10
    hold: { minCalls: 200 }
  - 100
`;

async function labWith(how: "answer" | "503-one-in-five"): Promise<LabFixture> {
  const f = await labFixture();
  const up = await f.cli(["lab", "up", ...f.flags, ...ALG, "--new-stand-in", how]);
  assert.equal(up.code, 0, up.stderr);
  return f;
}

/** `sim` on the lab with these plan flags, into its own artifacts folder */
function sim(f: LabFixture, name: string, planFlags: string[]): Promise<CliResult & { art: string }> {
  const art = path.join(f.dir, name);
  return f
    .cli(["sim", ...f.flags, ...ALG, "--artifacts-dir", art, ...planFlags], {
      env: { ...process.env, ...KNOBS },
      timeoutMs: 180_000,
    })
    .then((r) => ({ ...r, art }));
}

/** the plan file in the fixture's folder */
function planFile(f: LabFixture): string {
  const file = path.join(f.dir, "plan.yaml");
  writeFileSync(file, PLAN);
  return file;
}

describe("sim --steps and --plan with metric gates: healthy stand-ins", () => {
  let f: LabFixture;
  before(async () => {
    f = await labWith("answer");
  });
  after(async () => {
    await f?.dispose();
  });

  test("--steps 0,10,50,100: every step's split within its bound and its default gates pass on enough calls", async () => {
    const r = await sim(f, "art-steps", ["--steps", "0,10,50,100"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { res, events } = runIn(r.art);
    assert.deepEqual(
      res.plan.steps.map((s) => [s.phase, s.weightNew, s.gates?.verdict]),
      [
        ["old", 0, "pass"],
        ["new10", 10, "pass"],
        ["new50", 50, "pass"],
        ["new", 100, "pass"],
      ],
    );
    assert.equal(res.plan.outcome, "pass");
    // the gated steps' bursts: enough calls for the gates to decide (new=10%: 200, so 20 reach new)
    const ten = verdict(res, "new10", "split");
    assert.equal(ten.verdict, "pass", ten.details);
    assert.deepEqual([ten.numbers.calls, ten.numbers.toNew], [200, 20]);
    assert.ok(ten.numbers.boundMin! <= 20 && ten.numbers.boundMax! >= 20, ten.details);
    const half = verdict(res, "new50", "split");
    assert.equal(half.verdict, "pass", half.details);
    assert.equal(half.numbers.calls, 100);
    assert.ok(half.numbers.toNew! >= half.numbers.boundMin! && half.numbers.toNew! <= half.numbers.boundMax!);
    for (const p of ["old", "new10", "new50", "new"])
      assert.equal(verdict(res, p, "completed").verdict, "pass", `${p} completed`);
    const isaAt10 = res.plan.steps[1]!.gates!.gates.find((g) => /^ISA of new/.test(g.name));
    assert.equal(isaAt10?.verdict, "pass");
    assert.deepEqual(
      events.filter((e) => e.kind === "step" && e.state === "passed").map((e) => e.label),
      ["old", "new=10%", "new=50%", "new"],
    );
    assert.match(
      r.stdout,
      /step 2\/4 new=10%: gates pass: 5 gates passed; split pass: split: new 20 of 200 calls within/,
    );
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
  });

  test("--plan with metric gates on every step: passes, each step's gates in results.json", async () => {
    const r = await sim(f, "art-plan", ["--plan", planFile(f)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { res } = runIn(r.art);
    assert.deepEqual(
      res.plan.steps.map((s) => [s.phase, s.gates?.verdict, s.gates?.gates.map((g) => g.verdict).join(",")]),
      [
        ["old", "pass", "not-applicable,not-applicable,not-applicable,not-applicable"],
        ["new10", "pass", "pass,pass,pass,pass"],
        ["new", "pass", "pass,not-applicable,pass,not-applicable"],
      ],
    );
    // the calls carry audio (the default on the native lab), so each step is also gated on it
    assert.deepEqual(res.plan.steps[1]!.gates!.gates.map((g) => g.name).slice(2), [
      "one-way calls of new <= 0",
      "RTP loss of new not worse than old by more than 1 points",
    ]);
  });
});

describe("sim --plan with metric gates: a new stand-in that refuses one call in five", () => {
  let f: LabFixture;
  before(async () => {
    f = await labWith("503-one-in-five");
  });
  after(async () => {
    await f?.dispose();
  });

  test("step 2's ISA gate fails on its 20 calls to new and the runner rolls back to step 1: exit 1", async () => {
    const r = await sim(f, "art-plan", ["--plan", planFile(f)]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /step 2\/3 new=10%: gates fail: failed: ISA of new <= 5%: new 20% \(4 of 20\) > 5%/);
    assert.match(r.stdout, /rolled back to step 1 \(old\)/);
    const { res } = runIn(r.art);
    assert.equal(res.exitCode, 1);
    assert.equal(res.plan.outcome, "fail");
    assert.deepEqual([res.plan.rollback?.from, res.plan.rollback?.to, res.plan.rollback?.ok], [2, 1, true]);
    const step2 = res.plan.steps[1]!;
    assert.equal(step2.gates?.verdict, "fail");
    assert.equal(step2.gates?.gates.find((g) => /^ISA of new/.test(g.name))?.verdict, "fail");
    // the assertions, the other view of the same calls, name the refused calls too
    const completed = verdict(res, "new10", "completed");
    assert.equal(completed.verdict, "fail");
    assert.equal(completed.numbers.failed, 4);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")], "step 1's list (old only) is back");
  });
});
