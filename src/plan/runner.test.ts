import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { afterEach, describe, it } from "node:test";
import { RunEvents, type RunEvent } from "../events/run-events.js";
import { acquireApplyLock } from "../apply/apply-lock.js";
import { profileFor } from "../apply/apply.js";
import { fakeTarget, NEW, OLD } from "../../test/support/fake-kamailio.js";
import { RunControl } from "../control/run-control.js";
import { burstHold, watchedHold, type GateResult, type WindowWatch } from "./hold.js";
import { runSteps, type RunnerContext, type RunnerStep } from "./runner.js";
import { FleetRestartWatch, RestartWatch } from "../observe/restart-watch.js";
import { FakeKamailio } from "../../test/support/fake-kamailio.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** old, then both held by calls with gates; `watch` answers for step 2 (index 1) */
function setup(watch: (polls: number) => WindowWatch, o: { reloadDeltaMs?: number; minCalls?: number } = {}) {
  const { target, kam, dir } = fakeTarget();
  dirs.push(dir);
  kam.reloadDeltaMs = o.reloadDeltaMs ?? 0;
  const steps: RunnerStep[] = [
    {
      label: "old",
      weightNew: 0,
      profile: profileFor(target, "old"),
      machine: { holdMs: 0, hasGates: false, onInconclusive: "fail", maxExtensions: 0 },
    },
    {
      label: "both",
      weightNew: 50,
      profile: profileFor(target, "both"),
      machine: { holdMs: 0, minCalls: o.minCalls ?? 100, hasGates: true, onInconclusive: "fail", maxExtensions: 0 },
    },
  ];
  const events = new RunEvents();
  const seen: RunEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const lock = acquireApplyLock(target.lockPath, "test");
  let polls = 0;
  const evaluated: number[] = [];
  const ctx: RunnerContext = {
    target,
    lock,
    retry: { reloadWaitMs: 5000 },
    signal: new AbortController().signal,
    events,
    evaluate: (i) => {
      evaluated.push(i);
      return Promise.resolve({ verdict: "pass", detail: "ok" });
    },
    hold: watchedHold(
      (i) => (i === 1 ? watch(++polls) : { routed: 1000 }),
      (i) => live.whenFailed?.(i) ?? new Promise(() => undefined),
    ),
    log: () => undefined,
  };
  /** a gate failing live: set before the run */
  const live: { whenFailed?: (i: number) => Promise<GateResult> } = {};
  return { steps, ctx, kam, seen, lock, evaluated, live, polls: () => polls };
}

describe("runner: holds on live traffic and the automatic rollback", () => {
  it("a hold by calls ends once the window routed minCalls, then the full evaluation", async () => {
    const s = setup((n) => ({ routed: n * 30 }), { minCalls: 100 });
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "pass");
    // 30, 60, 90, 120: the fourth poll has the 100 calls
    assert.equal(s.polls(), 4);
    assert.deepEqual(s.evaluated, [1]);
  });

  it("a gate failing during the hold rolls back at once to the last good step, with the reaction time", async () => {
    const firstFailingCallMs = Date.now() - 250;
    const s = setup((n) =>
      n < 3
        ? { routed: n }
        : {
            routed: n,
            failed: { verdict: "fail", detail: "ISA of new <= 5%: new 20% (4 of 20) > 5%", firstFailingCallMs },
          },
    );
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.equal(s.polls(), 3, "no poll after the failing one");
    assert.deepEqual(s.evaluated, [], "the hold's end was not waited for");
    assert.match(out.reason ?? "", /step 2: gates failed: ISA of new <= 5%/);
    assert.deepEqual([out.rollback?.from, out.rollback?.to, out.rollback?.ok], [2, 1, true]);
    const r = out.rollback!.reaction!;
    assert.equal(r.firstFailingCallMs, firstFailingCallMs);
    assert.ok(r.reactionMs >= 250 && r.reactionMs < 5000, String(r.reactionMs));
    assert.equal(r.reactionMs, r.restoredAtMs - r.firstFailingCallMs);
    assert.deepEqual(s.kam.runtimeUris(), [OLD], "old only again");
    const rb = s.seen.filter((e) => e.kind === "rollback");
    assert.equal(rb.length, 1);
    assert.equal(rb[0]!.kind === "rollback" && rb[0]!.reactionMs, r.reactionMs);
  });

  it("a live gate's fail wakes the hold at once (no tick waited for); the reaction chain has every link in order", async () => {
    const s = setup((n) => ({ routed: n }));
    const failAt = Date.now() + 30;
    const decided = {
      firstFailingAnswerMs: failAt - 20,
      decidingAnswerMs: failAt - 2,
      decidingSeenMs: failAt - 1,
      verdictMs: failAt,
    };
    s.live.whenFailed = (i) =>
      i === 1
        ? new Promise((resolve) =>
            setTimeout(
              () =>
                resolve({
                  verdict: "fail",
                  detail: "ISA of new <= 5%: certain",
                  firstFailingCallMs: failAt - 25,
                  decided,
                }),
              30,
            ),
          )
        : new Promise(() => undefined);
    const t0 = performance.now();
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    // polled once at the start, once when the hold's clock (0 s) ended, once on the fail: no tick in between
    assert.ok(s.polls() <= 3, `polls ${s.polls()}`);
    const c = out.rollback!.reaction!.chain!;
    assert.deepEqual(
      [c.firstFailingInviteMs, c.firstFailingAnswerMs, c.decidingAnswerMs, c.decidingSeenMs, c.verdictMs],
      [failAt - 25, failAt - 20, failAt - 2, failAt - 1, failAt],
    );
    const links = [
      c.verdictMs!,
      c.noticedMs,
      c.applyStartMs,
      c.writtenMs,
      c.reloadSentMs,
      c.reloadAnsweredMs,
      c.restoredMs,
    ];
    assert.deepEqual(
      [...links].sort((a, b) => a - b),
      links,
      JSON.stringify(c),
    );
    assert.ok(Math.abs(c.restoredMs - out.rollback!.reaction!.restoredAtMs) < 5);
    assert.ok(performance.now() - t0 < 1000);
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
  });

  it("Kamailio's reload guard: the rollback waits it out, and the reaction time and the wait say so", async () => {
    const s = setup(
      (n) =>
        n < 2
          ? { routed: n }
          : { routed: n, failed: { verdict: "fail", detail: "SER", firstFailingCallMs: Date.now() } },
      { reloadDeltaMs: 400 },
    );
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.ok((out.rollback?.reloadRefusals ?? 0) >= 1, JSON.stringify(out.rollback));
    assert.ok((out.rollback?.reloadWaitedMs ?? 0) > 0, JSON.stringify(out.rollback));
    // the guard (400 ms after step 2's reload) dominates the reaction
    assert.ok(out.rollback!.reaction!.reactionMs >= 200, JSON.stringify(out.rollback));
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
    assert.notDeepEqual(s.kam.runtimeUris(), [OLD, NEW]);
  });

  it("with the reload guard, a failed gate takes new out of selection at once; routing is restored when the guard allows", async () => {
    const s = setup(
      (n) =>
        n < 2
          ? { routed: n }
          : { routed: n, failed: { verdict: "fail", detail: "SER", firstFailingCallMs: Date.now() - 50 } },
      { reloadDeltaMs: 400 },
    );
    let stateWhileGuarded: string[] | undefined;
    s.ctx.events.subscribe((e) => {
      if (e.kind === "take-out") stateWhileGuarded = s.kam.loaded.map((d) => `${d.uri} ${d.state ?? "file"}`);
    });
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    const rb = out.rollback!;
    assert.deepEqual(rb.takeOut, {
      ok: true,
      destinations: [NEW],
      durationMs: rb.takeOut?.ok ? rb.takeOut.durationMs : -1,
    });
    // while the guard still refused the reload, new was disabled and old selected
    assert.deepEqual(stateWhileGuarded, [`${OLD} file`, `${NEW} DX`]);
    const r = rb.reaction!;
    assert.ok(r.stopMs !== undefined && r.stoppedAtMs !== undefined, JSON.stringify(r));
    assert.ok(r.stopMs < 200, `traffic stopped ${r.stopMs} ms after the first failing call`);
    assert.ok(r.reactionMs >= r.stopMs + 150, `restored later, when the guard allowed: ${JSON.stringify(r)}`);
    assert.ok((rb.reloadRefusals ?? 0) >= 1);
    const c = r.chain!;
    const links = [c.noticedMs, c.takeOutSentMs!, c.stoppedMs!, c.applyStartMs, c.reloadSentMs, c.restoredMs];
    assert.deepEqual(
      [...links].sort((a, b) => a - b),
      links,
      JSON.stringify(c),
    );
    const t = s.seen.find((e) => e.kind === "take-out");
    assert.ok(t && t.kind === "take-out" && t.ok && t.step === 2 && t.stoppedMs === r.stopMs, JSON.stringify(t));
    const ev = s.seen.find((e) => e.kind === "rollback");
    assert.ok(ev && ev.kind === "rollback" && ev.stoppedMs === r.stopMs && ev.reactionMs === r.reactionMs);
    // the reload brought back the file's state: old only, active
    assert.deepEqual(
      s.kam.loaded.map((d) => `${d.uri} ${d.state ?? "file"}`),
      [`${OLD} file`],
    );
  });

  it("no take-out when the failing step's list has nothing but new (the set would be empty)", async () => {
    const s = setup((n) =>
      n < 2 ? { routed: n } : { routed: n, failed: { verdict: "fail", detail: "SER", firstFailingCallMs: Date.now() } },
    );
    s.steps[1] = { ...s.steps[1]!, label: "new", weightNew: 100, profile: profileFor(s.ctx.target, "new") };
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.equal(out.rollback?.takeOut?.ok, false);
    assert.match(out.rollback?.takeOut?.ok === false ? out.rollback.takeOut.reason : "", /leave the set empty/);
    assert.equal(out.rollback?.reaction?.stopMs, undefined);
    assert.ok(!s.kam.calls.includes("dispatcher.set_state"));
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
  });

  it("onInconclusive pause: the run waits with routing unchanged; resume holds again and judges again, promote passes it", async () => {
    for (const answer of ["resume", "promote"] as const) {
      const s = setup((n) => ({ routed: n * 1000 }));
      s.steps[1]!.machine = { ...s.steps[1]!.machine, onInconclusive: "pause" };
      const control = new RunControl(s.ctx.events);
      s.ctx.control = control;
      let evaluations = 0;
      s.ctx.evaluate = () =>
        Promise.resolve(
          ++evaluations === 1
            ? { verdict: "inconclusive", detail: "new: 3 of the 20 calls needed" }
            : { verdict: "pass", detail: "ok" },
        );
      const run = runSteps(s.steps, s.ctx);
      while (!control.paused) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(s.kam.runtimeUris().sort(), [NEW, OLD].sort(), "paused on step 2: its list still routes");
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(evaluations, 1, "nothing happens while paused");
      control.request(answer);
      const out = await run;
      s.lock.release();
      assert.equal(out.outcome, "pass", answer);
      assert.equal(evaluations, answer === "resume" ? 2 : 1, `${answer}: judged again only after resume`);
      const pause = s.seen.find((e) => e.kind === "control" && e.by === "plan");
      assert.ok(
        pause &&
          pause.kind === "control" &&
          /step 2's gates are inconclusive: new: 3 of the 20 calls needed/.test(pause.detail),
      );
      const passed = s.seen.find((e) => e.kind === "step" && e.index === 2 && e.state === "passed");
      assert.ok(passed && passed.kind === "step");
      assert.equal(
        passed.detail,
        answer === "promote" ? "promoted by the operator (pbx-cutover promote) with its gates inconclusive" : "",
      );
    }
  });

  it("onInconclusive pause, then abort: back to the last good step, outcome aborted", async () => {
    const s = setup((n) => ({ routed: n * 1000 }));
    s.steps[1]!.machine = { ...s.steps[1]!.machine, onInconclusive: "pause" };
    const control = new RunControl(s.ctx.events);
    s.ctx.control = control;
    s.ctx.evaluate = () => Promise.resolve({ verdict: "inconclusive", detail: "too few" });
    const run = runSteps(s.steps, s.ctx);
    while (!control.paused) await new Promise((r) => setTimeout(r, 5));
    control.request("abort");
    const out = await run;
    s.lock.release();
    assert.equal(out.outcome, "aborted");
    assert.match(out.reason ?? "", /aborted by the operator \(pbx-cutover abort\) during step 2/);
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
  });
});

describe("runner: a hold that is the caller's own burst (sim)", () => {
  function burstSetup(burst: (i: number) => Promise<void>, beforeApply?: (i: number) => Promise<void>) {
    const { target, kam, dir } = fakeTarget();
    dirs.push(dir);
    kam.reloadDeltaMs = 0;
    const machine = { holdMs: 0, minCalls: 4, hasGates: true, onInconclusive: "fail" as const, maxExtensions: 0 };
    const steps: RunnerStep[] = (["old", "both", "new"] as const).map((m, i) => ({
      label: m,
      weightNew: [0, 50, 100][i]!,
      profile: profileFor(target, m),
      machine,
    }));
    const events = new RunEvents();
    const order: string[] = [];
    events.subscribe((e) => {
      if (e.kind === "step") order.push(`step ${e.index} ${e.state}`);
      if (e.kind === "gates") order.push(`gates ${e.index} ${e.verdict}`);
    });
    const lock = acquireApplyLock(target.lockPath, "test");
    const ctx: RunnerContext = {
      target,
      lock,
      retry: {},
      signal: new AbortController().signal,
      events,
      evaluate: (i) => {
        order.push(`evaluate ${i + 1}`);
        return Promise.resolve({ verdict: "none", detail: "the seed's assertions" });
      },
      hold: burstHold(async (i) => {
        order.push(`burst ${i + 1} on ${kam.runtimeUris().sort().join("+")}`);
        await burst(i);
      }),
      ...(beforeApply ? { beforeApply } : {}),
      log: () => undefined,
    };
    return { steps, ctx, kam, lock, order };
  }

  it("each step's burst runs on its verified list, then the step is judged and passes", async () => {
    const s = burstSetup(() => new Promise((r) => setTimeout(r, 20)));
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "pass");
    assert.deepEqual(s.order, [
      "step 1 applied",
      `burst 1 on ${OLD}`,
      "evaluate 1",
      "gates 1 none",
      "step 1 passed",
      "step 2 applied",
      `burst 2 on ${[OLD, NEW].sort().join("+")}`,
      "evaluate 2",
      "gates 2 none",
      "step 2 passed",
      "step 3 applied",
      `burst 3 on ${NEW}`,
      "evaluate 3",
      "gates 3 none",
      "step 3 passed",
    ]);
  });

  it("a burst that cannot run fails its step: back to the last good step, the burst's error is the run's", async () => {
    const sippFailed = new Error("SIPp could not run the both burst");
    const s = burstSetup((i) => (i === 1 ? Promise.reject(sippFailed) : Promise.resolve()));
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.equal(out.error, sippFailed);
    assert.match(out.reason ?? "", /^step 2: SIPp could not run the both burst/);
    assert.deepEqual([out.rollback?.from, out.rollback?.to, out.rollback?.ok], [2, 1, true]);
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
    assert.ok(!s.order.includes("evaluate 2"), "a step whose burst failed is not judged");
    assert.equal(out.rollback?.takeOut, undefined, "only a failed gate takes new out first");
    assert.ok(!s.kam.calls.includes("dispatcher.set_state"));
  });

  it("beforeApply is awaited before the step's apply; its rejection fails the step before anything of it is applied", async () => {
    const seen: string[] = [];
    const s = burstSetup(
      () => Promise.resolve(),
      async (i) => {
        await new Promise((r) => setTimeout(r, 10));
        seen.push(`before ${i + 1} on ${s.kam.runtimeUris().sort().join("+")}`);
        if (i === 2) throw new Error("fault injection failed");
      },
    );
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.match(out.reason ?? "", /step 3: apply failed: fault injection failed/);
    // step 3's list was never written: the runtime is step 2's (both) throughout
    assert.equal(seen[2], `before 3 on ${[OLD, NEW].sort().join("+")}`);
    assert.deepEqual(s.kam.runtimeUris().sort(), [OLD, NEW].sort());
    assert.deepEqual(out.rollback && [out.rollback.from, out.rollback.to], [3, 2]);
  });

  it("an abort during a burst rolls back to the last good step and ends aborted", async () => {
    const ac = new AbortController();
    const s = burstSetup((i) => {
      if (i === 1) {
        ac.abort(new Error("interrupted by SIGINT"));
        return Promise.reject(new Error("burst stopped"));
      }
      return Promise.resolve();
    });
    s.ctx.signal = ac.signal;
    const out = await runSteps(s.steps, s.ctx);
    s.lock.release();
    assert.equal(out.outcome, "aborted");
    assert.equal(out.error, undefined, "the burst's own error is not the run's: the signal is");
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
  });
});

describe("runner: the target's Kamailio restarted mid-run", () => {
  it("during a hold: seen by the watch's poll, the hold ends, the step fails, the last good step is put back; the finding says what the runtime shows", async () => {
    let restartedAt = 0;
    const s = setup((n) => {
      if (n === 3) {
        s.kam.restart();
        restartedAt = n;
      }
      return { routed: n };
    });
    const watch = await RestartWatch.start(s.kam, 20);
    s.ctx.restarts = watch;
    const out = await runSteps(s.steps, s.ctx);
    watch.stop();
    s.lock.release();
    assert.equal(restartedAt, 3);
    assert.equal(out.outcome, "fail");
    assert.match(out.reason ?? "", /step 2: Kamailio at fake:\/\/kamailio\/RPC restarted during step 2\/2 both's hold/);
    assert.deepEqual(s.evaluated, [], "a step whose window spans a restart is not judged");
    const f = out.restart!;
    assert.deepEqual(
      [f.before.pid, f.after.pid, f.onStep, f.onStepLabel, f.matchesStep],
      [4242, 4243, 2, "both", true],
    );
    assert.match(out.reason ?? "", /which is step 2 \(both\), the list the run applied/);
    assert.deepEqual([out.rollback?.from, out.rollback?.to, out.rollback?.ok], [2, 1, true]);
    assert.deepEqual(s.kam.runtimeUris(), [OLD]);
  });

  it("between steps (after step 2 passed, before step 3): step 3 is not applied; a list changed behind the run shows as NOT the step's", async () => {
    const s = setup(() => ({ routed: 1000 }));
    s.steps.push({
      label: "new",
      weightNew: 100,
      profile: profileFor(s.ctx.target, "new"),
      machine: { holdMs: 0, hasGates: false, onInconclusive: "fail", maxExtensions: 0 },
    });
    s.ctx.events.subscribe((e) => {
      if (e.kind === "step" && e.index === 2 && e.state === "passed") {
        s.kam.file = `1 ${OLD} 0 0\n`;
        s.kam.restart();
      }
    });
    const watch = await RestartWatch.start(s.kam, 60_000);
    s.ctx.restarts = watch;
    const writes = s.kam.writes;
    const out = await runSteps(s.steps, s.ctx);
    watch.stop();
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.match(
      out.reason ?? "",
      /^step 3: Kamailio at .* restarted before step 3\/3 new was applied \(after step 2\/3 both passed\)/,
    );
    assert.match(
      out.reason ?? "",
      /which is NOT step 2 \(both\), the list the run applied \(missing sip:127\.0\.0\.1:15080 \(set 1\)\)/,
    );
    assert.equal(out.restart?.matchesStep, false);
    assert.ok(
      !s.kam.file?.includes("weight=100") && s.kam.writes > writes,
      "step 2 was put back, step 3 never written",
    );
    assert.deepEqual(s.kam.runtimeUris().sort(), [OLD, NEW].sort());
  });

  it("on a fleet, a node other than the first restarted during a hold: named by its RPC, its runtime read, the step fails and is rolled back", async () => {
    const second = Object.assign(new FakeKamailio(`1 ${OLD} 0 0\n`), { endpoint: "fake://kam2/RPC" });
    const s = setup((n) => {
      if (n === 3) second.restart();
      return { routed: n };
    });
    const watch = new FleetRestartWatch([await RestartWatch.start(s.kam, 20), await RestartWatch.start(second, 20)]);
    s.ctx.restarts = watch;
    const out = await runSteps(s.steps, s.ctx);
    watch.stop();
    s.lock.release();
    assert.equal(out.outcome, "fail");
    assert.match(out.reason ?? "", /step 2: Kamailio at fake:\/\/kam2\/RPC restarted during step 2\/2 both's hold/);
    assert.equal(out.restart?.node, "fake://kam2/RPC");
    assert.deepEqual(s.evaluated, []);
    assert.deepEqual([out.rollback?.from, out.rollback?.to, out.rollback?.ok], [2, 1, true]);
  });

  it("no restart: the watch changes nothing", async () => {
    const s = setup((n) => ({ routed: n * 50 }));
    const watch = await RestartWatch.start(s.kam, 5);
    s.ctx.restarts = watch;
    const out = await runSteps(s.steps, s.ctx);
    watch.stop();
    s.lock.release();
    assert.equal(out.outcome, "pass");
    assert.equal(out.restart, undefined);
  });
});
