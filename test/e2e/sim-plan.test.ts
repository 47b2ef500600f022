/**
 * `sim` on the plan runner, end to end with the real Kamailio and SIPp: the seed's phases are the
 * default plan's steps (the runner's step and gates events, the same as migrate's, in order with the
 * phase's own events), the run holds the apply lock for all its applies, and Ctrl-C during a step makes
 * the runner put back the last good step before the run ends.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";
import { processesNaming } from "../support/processes.js";
import { FAST } from "../support/sim-knobs.js";

interface Ev {
  kind: string;
  at: number;
  phase?: string;
  index?: number;
  label?: string;
  weightNew?: number;
  state?: string;
  verdict?: string;
  detail?: string;
  mode?: string;
  from?: number;
  to?: number;
  toLabel?: string;
  ok?: boolean;
}

function runDirIn(art: string): string {
  const runs = readdirSync(art).filter((n) => n.startsWith("call-cutover-"));
  assert.equal(runs.length, 1, `one run folder in ${art}: ${runs.join(", ")}`);
  return path.join(art, runs[0]!);
}

function eventsOf(dir: string): Ev[] {
  return readFileSync(path.join(dir, "events.ndjson"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Ev);
}

interface BackgroundSim {
  out: () => string;
  until: (re: RegExp) => Promise<void>;
  exited: Promise<number | null>;
  kill: (s: NodeJS.Signals) => void;
  /** SIGTERM unless it has ended, and wait for the end (a failed test leaves nothing running) */
  stop: () => Promise<void>;
}

/** a sim run in the background: its output so far, a wait for a line, its exit */
function startSim(f: LabFixture, art: string, env: NodeJS.ProcessEnv): BackgroundSim {
  const child = spawn(process.execPath, [CLI, "sim", ...f.flags, "--artifacts-dir", art], {
    cwd: f.dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const w of waiters.splice(0)) (w.re.test(out) ? w.resolve : () => waiters.push(w))();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  let ended = false;
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  void exited.then(() => (ended = true));
  const hardStop = setTimeout(() => child.kill("SIGKILL"), 240_000);
  void exited.then(() => clearTimeout(hardStop));
  return {
    out: () => out,
    until: (re) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(out)) return resolve();
        waiters.push({ re, resolve });
        void exited.then(() => (re.test(out) ? resolve() : reject(new Error(`sim ended before ${re}:\n${out}`))));
      }),
    exited,
    kill: (s) => child.kill(s),
    stop: async () => {
      if (!ended) child.kill("SIGTERM");
      await exited;
    },
  };
}

describe("sim's phases on the plan runner (real Kamailio + SIPp)", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("the default plan's steps in the event stream and results.json; the run holds the apply lock throughout", async (t) => {
    const art = path.join(f.dir, "art-plan");
    // calls held 1.5 s: the both step lasts long enough for a second command on any machine
    const sim = startSim(f, art, { ...FAST, CALL_DURATION_MS: "1500" });
    t.after(() => sim.stop());
    await sim.until(/sending 6 calls \(both\)/);
    const apply = await f.cli(["apply", "--mode", "new", ...f.flags]);
    assert.equal(apply.code, 3, apply.stdout + apply.stderr);
    assert.match(apply.stderr, /another apply holds the dispatcher lock .*pbx-cutover sim.*; nothing was changed/);
    assert.equal(await sim.exited, 0, sim.out());
    assert.match(
      sim.out(),
      /^ {2}step 2\/3 both: holding its burst of 6 calls; Ctrl-C goes back to the last good step$/m,
    );
    assert.match(
      sim.out(),
      /^ {2}step 1\/3 old: gates not evaluated: no metric gates in sim's plan; \d+ of \d+ assertions of phase old passed \(old\.assertions\.txt\)/m,
    );

    const dir = runDirIn(art);
    const ev = eventsOf(dir);
    const steps = ev.filter((e) => e.kind === "step").map((e) => [e.index, e.label, e.weightNew, e.state]);
    assert.deepEqual(steps, [
      [1, "old", 0, "applied"],
      [1, "old", 0, "passed"],
      [2, "both", 50, "applied"],
      [2, "both", 50, "passed"],
      [3, "new", 100, "applied"],
      [3, "new", 100, "passed"],
    ]);
    // per step, in this order: its phase, its verified apply, applied, the phase's verdicts, the gates, passed
    for (const [i, p] of (["old", "both", "new"] as const).entries()) {
      const at = (pred: (e: Ev) => boolean, what: string): number => {
        const k = ev.findIndex(pred);
        assert.ok(k >= 0, `${p}: ${what}`);
        return k;
      };
      const order = [
        at((e) => e.kind === "phase" && e.phase === p, "phase"),
        at((e) => e.kind === "apply" && e.mode === p, "apply"),
        at((e) => e.kind === "step" && e.index === i + 1 && e.state === "applied", "step applied"),
        at((e) => e.kind === "verdict" && e.phase === p, "first verdict"),
        ev.findLastIndex((e) => e.kind === "verdict" && e.phase === p),
        at((e) => e.kind === "gates" && e.index === i + 1, "gates"),
        at((e) => e.kind === "step" && e.index === i + 1 && e.state === "passed", "step passed"),
      ];
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        `${p}: ${order.join(" < ")}`,
      );
      const g = ev[order[5]!]!;
      const verdicts = ev.filter((e) => e.kind === "verdict" && e.phase === p);
      assert.equal(g.verdict, "none");
      assert.equal(
        g.detail,
        `no metric gates in sim's plan; ${verdicts.length} of ${verdicts.length} assertions of phase ${p} passed (${p}.assertions.txt); the assertions decide the exit code, not the routing`,
      );
    }
    // the in-flight check is no plan step: its applies come after the plan's last step passed
    const lastPassed = ev.findIndex((e) => e.kind === "step" && e.index === 3 && e.state === "passed");
    assert.ok(ev.findIndex((e) => e.kind === "phase" && e.phase === "inflight") > lastPassed);
    assert.equal(ev.filter((e) => e.kind === "rollback").length, 0);
    const results = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as {
      plan: unknown;
      applies: { phase: string; label: string }[];
    };
    assert.deepEqual(results.plan, {
      source: "default (old -> both -> new)",
      steps: [
        { index: 1, phase: "old", weightNew: 0 },
        { index: 2, phase: "both", weightNew: 50 },
        { index: 3, phase: "new", weightNew: 100 },
      ],
      outcome: "pass",
    });
    assert.deepEqual(
      results.applies.map((a) => `${a.phase}:${a.label}`),
      ["old:old", "both:both", "new:new", "inflight:old", "inflight:new"],
    );
    assert.ok(!existsSync(path.join(f.labDir, "apply.lock")), "the lock is released at the end");
  });

  test("Ctrl-C during the both step: the runner puts back step 1 (old) before the run ends, exit 130", async (t) => {
    const art = path.join(f.dir, "art-int");
    // one call a second: a step's burst lasts 4 s, so the both step is still holding when the signal comes
    const sim = startSim(f, art, { ...FAST, CALLS_PER_PHASE: "4", CALL_RATE: "1" });
    t.after(() => sim.stop());
    await sim.until(/sending 4 calls \(both\)/);
    sim.kill("SIGINT");
    assert.equal(await sim.exited, 130, sim.out());
    assert.match(sim.out(), /interrupted by SIGINT/);
    assert.match(sim.out(), /^ {2}rolled back to step 1 \(old\) in [\d.]+ ms/m);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")], "Kamailio runs step 1's list (old only) again");
    const dir = runDirIn(art);
    const rb = eventsOf(dir).filter((e) => e.kind === "rollback");
    assert.deepEqual(
      rb.map((e) => [e.from, e.to, e.toLabel, e.ok]),
      [[2, 1, "step 1 (old)", true]],
    );
    const results = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as {
      exitCode: number;
      plan: { outcome: string; rollback: unknown };
    };
    assert.equal(results.exitCode, 130);
    const { reason, ...rollback } = results.plan.rollback as { reason: string };
    assert.deepEqual(
      [results.plan.outcome, rollback],
      ["aborted", { from: 2, to: 1, toLabel: "step 1 (old)", ok: true }],
    );
    assert.match(reason, /^interrupted by SIGINT/);
    assert.ok(!existsSync(path.join(f.labDir, "apply.lock")), "the lock is released");
    assert.deepEqual(processesNaming(art), [], "no SIPp of the run is left");
  });
});
