import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../core/errors.js";
import { defaultPlan, planFromInput } from "../plan/plan.js";
import { parseStepsFlag } from "../plan/steps-flag.js";
import { phaseOfStep, simPlan, stepVerdictDetail } from "./sim-plan.js";

describe("sim's phases as plan steps", () => {
  it("a step's phase: 0 old, 100 new, 50 both on round-robin, new<W> for any other weight", () => {
    assert.deepEqual(
      [0, 50, 100].map((w) => phaseOfStep({ weightNew: w }, 4)),
      ["old", "both", "new"],
    );
    assert.deepEqual(
      [0, 1, 10, 50, 99, 100].map((w) => phaseOfStep({ weightNew: w }, 9)),
      ["old", "new1", "new10", "new50", "new99", "new"],
    );
  });

  it("the default plan is the seed's phases in order, each held by its burst of CALLS_PER_PHASE calls", () => {
    const p = simPlan(defaultPlan(), 10, 4);
    assert.equal(p.source, "default (old -> both -> new)");
    assert.deepEqual(
      p.steps.map((s) => [s.phase, s.weightNew, s.calls]),
      [
        ["old", 0, 10],
        ["both", 50, 10],
        ["new", 100, 10],
      ],
    );
    for (const s of p.steps) {
      // a hold action (minCalls > 0) and a verdict asked of sim (hasGates), never a rollback for inconclusive
      assert.deepEqual(s.machine, {
        holdMs: 0,
        minCalls: 10,
        hasGates: true,
        onInconclusive: "fail",
        maxExtensions: 0,
      });
    }
  });

  it("a plan of sim's phases without gates maps the same way (steps 0,50,100 equal the default)", () => {
    const p = simPlan(planFromInput({ defaults: { gates: [] }, steps: [0, 50, 100] }, "test"), 7, 4);
    assert.deepEqual(
      p.steps.map((s) => s.phase),
      ["old", "both", "new"],
    );
    assert.deepEqual(
      p.steps.map((s) => s.machine.minCalls),
      [7, 7, 7],
    );
    const q = simPlan(
      planFromInput({ defaults: { gates: [], hold: { durationS: 2 } }, steps: [0, 100] }, "test"),
      3,
      4,
    );
    assert.deepEqual(
      q.steps.map((s) => [s.phase, s.machine.holdMs]),
      [
        ["old", 2000],
        ["new", 2000],
      ],
    );
  });

  it("--steps on a weight-based lab: each step's phase, the default gates, a burst of the calls they need", () => {
    const p = simPlan(parseStepsFlag("0,10,50,100"), 10, 9);
    assert.deepEqual(
      p.steps.map((s) => [s.phase, s.calls, s.gates.length, s.machine.minCalls, s.machine.onInconclusive]),
      [
        ["old", 100, 3, 100, "extend"],
        ["new10", 200, 3, 200, "extend"],
        ["new50", 100, 3, 100, "extend"],
        ["new", 100, 3, 100, "extend"],
      ],
    );
    // a hold by calls is the step's burst, whatever CALLS_PER_PHASE says
    const q = simPlan(planFromInput({ steps: [0, { weightNew: 10, hold: { minCalls: 300 } }] }, "test"), 500, 9);
    assert.deepEqual(
      q.steps.map((s) => s.calls),
      [500, 300],
    );
  });

  it("refuses (exit 2) weights round-robin cannot split, naming every one", () => {
    try {
      simPlan(parseStepsFlag("0,10,50,90,100"), 10, 4);
      assert.fail("refused");
    } catch (err) {
      assert.ok(err instanceof UsageError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /step 2 \(weight 10\), step 4 \(weight 90\) needs Kamailio's weight-based dispatcher/);
    }
  });

  it("the gates event's detail counts the phase's assertions and says they do not roll back", () => {
    const v = (verdict: "pass" | "fail" | "inconclusive"): { verdict: typeof verdict } => ({ verdict });
    assert.equal(
      stepVerdictDetail("both", [v("pass"), v("pass"), v("fail"), v("inconclusive")]),
      "no metric gates in sim's plan; 2 of 4 assertions of phase both passed, 1 failed, 1 inconclusive (both.assertions.txt); the assertions decide the exit code, not the routing",
    );
    assert.match(
      stepVerdictDetail("old", [v("pass")]),
      /; 1 of 1 assertions of phase old passed \(old\.assertions\.txt\);/,
    );
    assert.match(stepVerdictDetail("new", []), /no assertions of phase new were judged/);
  });
});
