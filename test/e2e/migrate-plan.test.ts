/**
 * `migrate --steps` / `--plan` on the real lab (Kamailio 5.6.3, algorithm 9): every step applied
 * with verifiedApply and read back with its weights, per-step evidence, events.ndjson; Ctrl-C during
 * a hold goes back to the last good step (exit 130) and never leaves a half state.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { RuntimeDestination } from "../../src/dispatcher/runtime.js";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { runtimeWithAttrs, uriOf } from "../support/lab-runtime.js";
import type { BackendRole } from "../../src/core/backend-role.js";
import { runDirOf } from "../support/run-folder.js";

interface Results {
  status: string;
  exitCode: number;
  steps: {
    label: string;
    verdict: string;
    index: number;
    weightNew: number;
    runtime: RuntimeDestination[];
  }[];
  final: { verdict: string };
  rollback?: { from: number; to: number; ok: boolean; appliedFile: string; runtime: { uri: string; attrs: string }[] };
  warnings: string[];
}

interface Ev {
  kind: string;
  index?: number;
  state?: string;
  weightNew?: number;
  from?: number;
  to?: number;
  ok?: boolean;
}

const runtime = runtimeWithAttrs;

const events = (runDir: string): Ev[] =>
  readFileSync(path.join(runDir, "events.ndjson"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Ev);

/** the weights a step's runtime was read back with, old first */
function weights(f: LabFixture, rt: readonly { uri: string; attrs?: string | undefined }[]): (string | undefined)[] {
  const w = (role: BackendRole): string | undefined => {
    const d = rt.find((x) => x.uri === uriOf(f, role));
    return d === undefined ? undefined : (d.attrs ?? "");
  };
  return [w("old"), w("new")];
}

describe("migrate with weighted steps on an algorithm-9 lab", () => {
  let f: LabFixture;
  const alg = ["--dispatcher-alg", "9"];
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags, ...alg]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("--steps 0,10,50,100: each step verified at runtime with its weights, per-step evidence, events.ndjson", async () => {
    const art = path.join(f.dir, "art-steps");
    const r = await f.cli(["migrate", ...f.flags, ...alg, "--artifacts-dir", art, "--steps", "0,10,50,100"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /step 2\/4 new=10%: verified/);
    const runDir = runDirOf(r);
    assert.deepEqual(readdirSync(runDir).sort(), [
      "applied-step-1-w0.list",
      "applied-step-2-w10.list",
      "applied-step-3-w50.list",
      "applied-step-4-w100.list",
      "dispatcher.step-1-w0.list",
      "dispatcher.step-2-w10.list",
      "dispatcher.step-3-w50.list",
      "dispatcher.step-4-w100.list",
      "events.ndjson",
      "kamcmd-dispatcher.list.txt",
      "report.html",
      "results.json",
      "summary.md",
    ]);
    const read = (n: string): string => readFileSync(path.join(runDir, n), "utf8");
    for (const [i, w] of [
      [1, 0],
      [2, 10],
      [3, 50],
      [4, 100],
    ] as const) {
      assert.equal(
        read(`applied-step-${i}-w${w}.list`),
        read(`dispatcher.step-${i}-w${w}.list`),
        `step ${i}: the file Kamailio read back is the step's list`,
      );
    }
    const res = JSON.parse(read("results.json")) as Results;
    assert.equal(res.status, "pass");
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict, p.weightNew]),
      [
        ["old", "pass", 0],
        ["new=10%", "pass", 10],
        ["new=50%", "pass", 50],
        ["new", "pass", 100],
      ],
    );
    // what Kamailio held after each step's reload, read back by verifiedApply
    assert.deepEqual(
      res.steps.map((p) => weights(f, p.runtime)),
      [
        ["", undefined],
        ["weight=90", "weight=10"],
        ["weight=50", "weight=50"],
        [undefined, ""],
      ],
    );
    assert.equal(res.final.verdict, "pass");
    assert.ok(
      res.warnings.some((w) => /gates were not evaluated: migrate placed no calls \(no --traffic\)/.test(w)),
      res.warnings.join("\n"),
    );
    assert.deepEqual(await runtime(f), [[uriOf(f, "new"), undefined]]);
    const steps = events(runDir)
      .filter((e) => e.kind === "step")
      .map((e) => `${e.index}:${e.state}`);
    assert.deepEqual(steps, [
      "1:applied",
      "1:passed",
      "2:applied",
      "2:passed",
      "3:applied",
      "3:passed",
      "4:applied",
      "4:passed",
    ]);
    assert.equal(events(runDir).at(-1)!.kind, "run-finished");
  });

  test("given only --lab-dir, commands use the running lab's ports and algorithm: both is 50/50 by weight; contradicting flags are exit 2; sim is refused", async () => {
    // the fixture's lab runs on its own ports with algorithm 9; nothing but the lab dir is given
    const both = await f.cli(["apply", "--mode", "both", "--lab-dir", f.labDir]);
    assert.equal(both.code, 0, both.stderr + both.stdout);
    // without weights algorithm 9 sent every call to one destination (seen: 6 of 6 to new)
    assert.deepEqual(
      await runtime(f),
      [
        [uriOf(f, "old"), "weight=50"],
        [uriOf(f, "new"), "weight=50"],
      ].sort((a, b) => a[0]!.localeCompare(b[0]!)),
    );
    const file = readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8");
    const clash = await f.cli([
      "apply",
      "--mode",
      "old",
      "--lab-dir",
      f.labDir,
      "--rpc-port",
      String(f.ports.rpc + 1000),
      "--dispatcher-alg",
      "4",
    ]);
    assert.equal(clash.code, 2, clash.stderr);
    assert.match(
      clash.stderr,
      new RegExp(
        `running with other settings: --rpc-port ${f.ports.rpc + 1000}, the lab has ${f.ports.rpc}; nothing was started or changed`,
      ),
    );
    assert.match(clash.stderr, /--dispatcher-alg 4, the lab has 9/);
    const sim = await f.cli(["sim", "--lab-dir", f.labDir, "--artifacts-dir", path.join(f.dir, "art-sim9")]);
    assert.equal(sim.code, 2, sim.stderr);
    assert.match(sim.stderr, /weight-based dispatcher \(algorithm 9\).*nothing was started/);
    assert.equal(
      readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"),
      file,
      "refused commands changed nothing",
    );
    assert.ok(!existsSync(path.join(f.dir, "art-sim9")));
  });

  test("Ctrl-C during a hold: exit 130, the last good step's list back in file and runtime, lock released", async () => {
    const back = await f.cli(["apply", "--mode", "old", ...f.flags]);
    assert.equal(back.code, 0, back.stderr);
    const planFile = path.join(f.dir, "hold.yaml");
    writeFileSync(planFile, "steps:\n  - 0\n  - 10\n  - weightNew: 50\n    hold: { durationS: 300 }\n");
    const art = path.join(f.dir, "art-abort");
    const child = spawn(
      process.execPath,
      [CLI, "migrate", ...f.flags, ...alg, "--artifacts-dir", art, "--plan", planFile],
      {
        cwd: f.dir,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    await waitFor(() => /step 3\/3 new=50%: holding/.test(stdout), 60_000);
    // the held step is at runtime now, and it is not good yet
    assert.deepEqual(
      (await runtime(f)).map(([, a]) => a),
      ["weight=50", "weight=50"],
    );
    child.kill("SIGINT");
    assert.equal(await closed, 130, stderr + stdout);
    assert.match(stderr, /interrupted by SIGINT/);
    const runDir = runDirOf({ code: 130, signal: null, stdout, stderr });
    const read = (n: string): string => readFileSync(path.join(runDir, n), "utf8");
    // the last good step (2, new=10%) is in the file and at runtime
    assert.equal(readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"), read("dispatcher.step-2-w10.list"));
    const want: [string, string][] = [
      [uriOf(f, "old"), "weight=90"],
      [uriOf(f, "new"), "weight=10"],
    ];
    assert.deepEqual(
      await runtime(f),
      want.sort((a, b) => a[0].localeCompare(b[0])),
    );
    const res = JSON.parse(read("results.json")) as Results;
    assert.equal(res.status, "fail");
    assert.equal(res.exitCode, 130);
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [3, 2, true]);
    assert.equal(read(res.rollback!.appliedFile), read("dispatcher.step-2-w10.list"));
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "pass"],
        ["new=50%", "fail"],
      ],
    );
    const ev = events(runDir);
    assert.deepEqual(
      ev.filter((e) => e.kind === "step").map((e) => `${e.index}:${e.state}`),
      ["1:applied", "1:passed", "2:applied", "2:passed", "3:applied", "3:failed"],
    );
    assert.deepEqual(
      ev.filter((e) => e.kind === "rollback").map((e) => [e.from, e.to, e.ok]),
      [[3, 2, true]],
    );
    assert.ok(!existsSync(path.join(f.labDir, "apply.lock")), "the apply lock is released");
  });
});

describe("migrate plans: bad input and dry run change nothing", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("--steps 0,10,100 on round-robin (4): exit 2 naming the step and --dispatcher-alg 9, no lab started", async () => {
    const r = await f.cli(["migrate", ...f.flags, "--artifacts-dir", path.join(f.dir, "art"), "--steps", "0,10,100"]);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(r.stderr, /step 2 \(weight 10\) needs Kamailio's weight-based dispatcher \(algorithm 9\)/);
    assert.match(r.stderr, /--dispatcher-alg 9/);
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")), "no lab started");
    assert.ok(!existsSync(path.join(f.dir, "art")), "no run folder");
  });

  test("a hold by calls without --traffic: exit 2 (migrate places no calls then)", async () => {
    const planFile = path.join(f.dir, "calls.yaml");
    writeFileSync(planFile, "steps:\n  - 0\n  - weightNew: 100\n    hold: { minCalls: 100 }\n");
    const r = await f.cli(["migrate", ...f.flags, "--artifacts-dir", path.join(f.dir, "art"), "--plan", planFile]);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(
      r.stderr,
      /step 2 holds until a number of calls \(hold\.minCalls\), but migrate places no calls without --traffic; nothing was changed/,
    );
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")), "no lab started");
  });

  test("--dry-run prints the plan's dry run and starts nothing", async () => {
    const r = await f.cli([
      "migrate",
      ...f.flags,
      "--artifacts-dir",
      path.join(f.dir, "art"),
      "--dry-run",
      "--steps",
      "0,50,100",
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /nothing is written, reloaded or started/);
    assert.match(r.stdout, /3 steps: old -> both -> new/);
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")), "no lab started");
    assert.ok(!existsSync(path.join(f.dir, "art")), "no run folder");
  });
});

/** Poll `cond` until it holds; the deadline only bounds a hang. */
async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
