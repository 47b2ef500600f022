/**
 * Operator control of a running plan from a second process (real Kamailio 5.6.3, algorithm 9):
 * `pbx-cutover status | pause | resume | promote | abort` over the run's control socket while
 * `migrate --plan` holds a step. Abort goes back to the last good step (file and runtime) and exits 1;
 * the socket and its pointer are gone on every exit path (abort, SIGTERM); a run killed with SIGKILL
 * leaves a stale socket that `status` reports (exit 3) instead of hanging on it.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { startCli, stopStartedClis, type RunningCli } from "../support/running-cli.js";
import { runtimeWithAttrs, uriOf } from "../support/lab-runtime.js";
import { runDirOf } from "../support/run-folder.js";

interface Ev {
  kind: string;
  command?: string;
  accepted?: boolean;
  index?: number;
  state?: string;
  resumed?: boolean;
  ms?: number;
}

interface StatusJson {
  step: { index: number; of: number; label: string; weightNew: number; weightOld: number };
  phase: string;
  paused: boolean;
  hold: { totalS: number; remainingS: number } | undefined;
  lastGood: { index: number };
  runDir: string;
}

const startMigrate = (f: LabFixture, args: string[]): RunningCli =>
  startCli(f, ["migrate", ...f.flags, "--dispatcher-alg", "9", ...args]);

/** The run's exit code; a run that does not end in time (e.g. a listener left open) is killed and fails the test. */
async function exitOf(m: RunningCli, timeoutMs = 60_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"hung">((r) => (timer = setTimeout(() => r("hung"), timeoutMs)));
  const r = await Promise.race([m.closed, timeout]);
  clearTimeout(timer);
  if (r === "hung") {
    m.child.kill("SIGKILL");
    await m.closed;
    assert.fail(`migrate did not exit within ${timeoutMs} ms: ${m.out()}`);
  }
  return r;
}

/** Poll `cond` until it holds; the deadline only bounds a hang. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("operator control of a running plan (status, pause, resume, promote, abort)", () => {
  let f: LabFixture;
  let planFile: string;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags, "--dispatcher-alg", "9"]);
    assert.equal(up.code, 0, up.stderr);
    planFile = path.join(f.dir, "plan.yaml");
    writeFileSync(
      planFile,
      "steps:\n  - 0\n  - weightNew: 10\n    hold: { durationS: 600 }\n  - weightNew: 50\n    hold: { durationS: 600 }\n  - 100\n",
    );
  });
  after(async () => {
    stopStartedClis();
    await f.dispose();
  });

  test("from a second process: status shows the live step; pause stops the clock; promote moves on; abort goes back to the last good step, exit 1", async () => {
    const m = startMigrate(f, ["--artifacts-dir", path.join(f.dir, "art-control"), "--plan", planFile]);
    await waitFor(() => /step 2\/4 new=10%: holding/.test(m.out()), "step 2 holding");
    const runDir = runDirOf(m.out());
    const pointer = path.join(f.labDir, "control.json");
    assert.ok(existsSync(path.join(runDir, "control.sock")), "the socket is in the run folder");
    assert.equal(readFileSync(pointer, "utf8").includes(runDir), true, "the lab's pointer names the run");

    const st = await f.cli(["status", ...f.flags]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^step 2\/4 new=10%: holding$/m);
    assert.match(st.stdout, /weights: old 90, new 10 \(runtime: .*weight=10.*weight=90/);
    assert.match(st.stdout, /hold: \d+m \d\ds left of 10m 00s/);
    assert.match(st.stdout, /last good: step 1 \(old\)/);
    assert.match(st.stdout, /SER of new not worse than old by more than 2 points/);

    const pause = await f.cli(["pause", ...f.flags]);
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout, /pause: step 2's hold clock stopped/);
    const j1 = JSON.parse((await f.cli(["status", "--json", ...f.flags])).stdout) as StatusJson;
    await new Promise((r) => setTimeout(r, 1500));
    const j2 = JSON.parse((await f.cli(["status", "--json", "--run-dir", runDir, ...f.flags])).stdout) as StatusJson;
    assert.equal(j1.paused, true);
    assert.equal(j2.runDir, runDir);
    assert.deepEqual([j2.step.index, j2.step.weightNew, j2.step.weightOld], [2, 10, 90]);
    assert.equal(j2.hold?.remainingS, j1.hold?.remainingS, "paused: the hold's time left stands still");

    const refused = await f.cli(["promote", ...f.flags]);
    assert.equal(refused.code, 2, refused.stderr + refused.stdout);
    assert.match(refused.stderr, /promote refused by the running plan: the run is paused; resume it first/);

    assert.equal((await f.cli(["resume", ...f.flags])).code, 0);
    const promote = await f.cli(["promote", ...f.flags]);
    assert.equal(promote.code, 0, promote.stderr);
    await waitFor(() => /step 3\/4 new=50%: holding/.test(m.out()), "step 3 holding after promote");
    assert.deepEqual(
      (await runtimeWithAttrs(f)).map(([, a]) => a),
      ["weight=50", "weight=50"],
    );

    const abort = await f.cli(["abort", ...f.flags]);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match(abort.stdout, /abort: going back to the last good step/);
    assert.equal(await exitOf(m), 1, m.err() + m.out());
    assert.match(
      m.err(),
      /aborted by the operator \(pbx-cutover abort\) during step 3; step 2 \(new=10%\) is back in place/,
    );

    // the last good step (2, new=10%) in the file and at runtime
    assert.equal(
      readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"),
      readFileSync(path.join(runDir, "dispatcher.step-2-w10.list"), "utf8"),
    );
    const want: [string, string][] = [
      [uriOf(f, "old"), "weight=90"],
      [uriOf(f, "new"), "weight=10"],
    ];
    assert.deepEqual(
      await runtimeWithAttrs(f),
      want.sort((a, b) => a[0].localeCompare(b[0])),
    );

    // evidence: every request in events.ndjson, the accepted ones in results.json
    const ev = readFileSync(path.join(runDir, "events.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Ev);
    assert.deepEqual(
      ev.filter((e) => e.kind === "control").map((e) => `${e.command}:${e.accepted}`),
      ["pause:true", "promote:false", "resume:true", "promote:true", "abort:true"],
    );
    assert.deepEqual(
      ev.filter((e) => e.kind === "hold").map((e) => `${e.index}:${e.resumed}`),
      ["2:false", "2:true", "3:false"],
    );
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as {
      exitCode: number;
      control: { command: string }[];
      rollback: { from: number; to: number; ok: boolean };
    };
    assert.equal(res.exitCode, 1);
    assert.deepEqual(
      res.control.map((c) => c.command),
      ["pause", "resume", "promote", "abort"],
    );
    assert.deepEqual([res.rollback.from, res.rollback.to, res.rollback.ok], [3, 2, true]);

    // nothing left behind; no plan runs now
    assert.ok(!existsSync(path.join(runDir, "control.sock")), "socket removed");
    assert.ok(!existsSync(pointer), "pointer removed");
    const none = await f.cli(["status", ...f.flags]);
    assert.equal(none.code, 3, none.stderr + none.stdout);
    assert.match(none.stderr, /no plan is running on this lab: there is no .*control\.json/);
  });

  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${sig} during a hold: exit ${code}, back to the last good step, socket and pointer removed`, async () => {
      const m = startMigrate(f, ["--artifacts-dir", path.join(f.dir, `art-${sig}`), "--plan", planFile]);
      await waitFor(() => /step 2\/4 new=10%: holding/.test(m.out()), "step 2 holding");
      const runDir = runDirOf(m.out());
      assert.ok(existsSync(path.join(runDir, "control.sock")));
      m.child.kill(sig);
      assert.equal(await exitOf(m), code, m.err());
      assert.ok(!existsSync(path.join(runDir, "control.sock")), "socket removed");
      assert.ok(!existsSync(path.join(f.labDir, "control.json")), "pointer removed");
      assert.deepEqual(
        (await runtimeWithAttrs(f)).map(([u]) => u),
        [uriOf(f, "old")],
      );
    });
  }

  test("SIGKILL leaves a stale socket: status reports it (exit 3) and removes it, never hangs", async () => {
    const m = startMigrate(f, ["--artifacts-dir", path.join(f.dir, "art-kill"), "--plan", planFile]);
    await waitFor(() => /step 2\/4 new=10%: holding/.test(m.out()), "step 2 holding");
    const runDir = runDirOf(m.out());
    m.child.kill("SIGKILL");
    await exitOf(m);
    assert.ok(existsSync(path.join(runDir, "control.sock")), "a killed run cannot remove its socket");
    const t0 = Date.now();
    const st = await f.cli(["status", ...f.flags]);
    assert.equal(st.code, 3, st.stderr + st.stdout);
    assert.match(
      st.stderr,
      /the control socket .*control\.sock is stale \(its run, pid \d+ `pbx-cutover migrate`.* is gone/,
    );
    assert.ok(Date.now() - t0 < 10_000, "answered at once");
    assert.ok(!existsSync(path.join(runDir, "control.sock")), "stale socket removed");
    assert.ok(!existsSync(path.join(f.labDir, "control.json")), "stale pointer removed");
    const again = await f.cli(["pause", "--run-dir", runDir, ...f.flags]);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /no plan is running in .*: it has no control\.sock/);
    // put the lab back to old for whoever comes next (the killed run held step 2)
    assert.equal((await f.cli(["apply", "--mode", "old", ...f.flags])).code, 0);
  });
});

describe("control commands without a running plan", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("every command exits 3 with one clear line; nothing is started", async () => {
    for (const c of ["status", "pause", "resume", "promote", "abort"]) {
      const r = await f.cli([c, ...f.flags]);
      assert.equal(r.code, 3, `${c}: ${r.stderr}${r.stdout}`);
      assert.match(r.stderr, /^pbx-cutover: no plan is running on this lab: there is no .*control\.json$/m, c);
    }
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")), "no lab started");
  });
});

describe("onInconclusive: pause: the plan pauses a step whose gates cannot decide, the operator decides", () => {
  let f: LabFixture;
  let planFile: string;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags, "--dispatcher-alg", "9"]);
    assert.equal(up.code, 0, up.stderr);
    planFile = path.join(f.dir, "plan-pause.yaml");
    // step 2's gate needs far more calls than a 1 s hold at 50 calls/s gives: inconclusive, never pass
    writeFileSync(
      planFile,
      "steps:\n  - 0\n  - weightNew: 10\n    hold: { durationS: 1 }\n    gates: [{ kind: threshold, metric: ser, atLeast: 90, minCalls: 100000 }]\n    onInconclusive: pause\n  - 100\n",
    );
  });
  after(async () => {
    stopStartedClis();
    await f.dispose();
  });
  const pausedLines = (m: RunningCli): number =>
    (m.out().match(/step 2\/3 new=10%: paused by the plan \(onInconclusive: pause\)/g) ?? []).length;
  const controlEvents = (runDir: string): string[] =>
    readFileSync(path.join(runDir, "events.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Ev & { by?: string })
      .filter((e) => e.kind === "control")
      .map((e) => `${e.command}:${e.accepted}:${e.by ?? "?"}`);

  test("paused with routing unchanged and status saying why; resume holds it again and judges again (paused again); abort goes back to step 1, exit 1", async () => {
    const m = startMigrate(f, [
      "--artifacts-dir",
      path.join(f.dir, "art-pause"),
      "--plan",
      planFile,
      "--traffic",
      "50",
    ]);
    await waitFor(() => pausedLines(m) === 1, "step 2 paused by the plan");
    const runDir = runDirOf(m.out());
    assert.match(
      m.out(),
      /step 2\/3 new=10%: gates inconclusive: inconclusive: SER of new >= 90%: new: \d+ of the 100000 calls needed/,
    );

    const st = await f.cli(["status", ...f.flags]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^step 2\/3 new=10%: evaluating, PAUSED for [\d.]+s by the plan$/m);
    assert.match(
      st.stdout,
      /^ {2}why: paused by the plan \(onInconclusive: pause\): step 2's gates are inconclusive: SER of new >= 90%: new: \d+ of the 100000 calls needed.*; routing unchanged/m,
    );
    assert.match(st.stdout, /^next: nothing until the operator decides: `pbx-cutover resume` holds step 2 again/m);
    const j = JSON.parse((await f.cli(["status", "--json", ...f.flags])).stdout) as StatusJson & {
      pausedBecause?: string;
    };
    assert.equal(j.paused, true);
    assert.match(j.pausedBecause ?? "", /step 2's gates are inconclusive/);

    // paused: nothing moves, Kamailio keeps routing step 2's weights
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(pausedLines(m), 1);
    assert.deepEqual((await runtimeWithAttrs(f)).map(([, a]) => a).sort(), ["weight=10", "weight=90"]);
    assert.match(m.out(), /step 2\/3 new=10%: paused by the plan/);
    assert.doesNotMatch(m.out(), /step 3\/3/);

    const resume = await f.cli(["resume", ...f.flags]);
    assert.equal(resume.code, 0, resume.stderr);
    assert.match(resume.stdout, /resume: step 2 holds again and its gates are judged again/);
    await waitFor(() => pausedLines(m) === 2, "step 2 held again, judged again, paused again");
    assert.match(m.out(), /step 2\/3 new=10%: holding 1\.0 s \(extension 1\)/);

    const abort = await f.cli(["abort", ...f.flags]);
    assert.equal(abort.code, 0, abort.stderr);
    assert.equal(await exitOf(m), 1, m.err() + m.out());
    assert.match(
      m.err(),
      /aborted by the operator \(pbx-cutover abort\) during step 2; step 1 \(old\) is back in place/,
    );
    // step 1 (old only) in the file and at runtime
    assert.deepEqual(
      (await runtimeWithAttrs(f)).map(([u]) => u),
      [uriOf(f, "old")],
    );
    assert.equal(
      readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"),
      readFileSync(path.join(runDir, "dispatcher.step-1-w0.list"), "utf8"),
    );
    assert.deepEqual(controlEvents(runDir), [
      "pause:true:plan",
      "resume:true:operator",
      "pause:true:plan",
      "abort:true:operator",
    ]);
  });

  test("promote passes the paused step as it is: the plan goes on to step 3, exit 0", async () => {
    const m = startMigrate(f, [
      "--artifacts-dir",
      path.join(f.dir, "art-promote"),
      "--plan",
      planFile,
      "--traffic",
      "50",
    ]);
    await waitFor(() => pausedLines(m) === 1, "step 2 paused by the plan");
    const runDir = runDirOf(m.out());
    const promote = await f.cli(["promote", ...f.flags]);
    assert.equal(promote.code, 0, promote.stderr);
    assert.match(
      promote.stdout,
      /promote: step 2 passes on the operator's word with its gates inconclusive; the plan goes on/,
    );
    assert.equal(await exitOf(m), 0, m.err() + m.out());
    assert.match(m.out(), /step 2\/3 new=10%: promoted by the operator with its gates inconclusive/);
    const steps = readFileSync(path.join(runDir, "events.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; index?: number; state?: string; detail?: string })
      .filter((e) => e.kind === "step" && e.state === "passed");
    assert.deepEqual(
      steps.map((e) => [e.index, e.detail]),
      [
        [1, ""],
        [2, "promoted by the operator (pbx-cutover promote) with its gates inconclusive"],
        [3, ""],
      ],
    );
    assert.deepEqual(controlEvents(runDir), ["pause:true:plan", "promote:true:operator"]);
    assert.deepEqual(
      (await runtimeWithAttrs(f)).map(([u]) => u),
      [uriOf(f, "new")],
    );
  });
});
