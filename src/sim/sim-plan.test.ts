import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../core/errors.js";
import { defaultPlan, planFromInput } from "../plan/plan.js";
import { parseStepsFlag } from "../plan/steps-flag.js";
import { PHASE_WEIGHT, phaseOfStep, simPlan, stepVerdictDetail, weightOfPhase, type RoutingPhase } from "./sim-plan.js";

describe("sim's phases as plan steps", () => {
  it("phase <-> step: 0 old, 50 both, 100 new, both ways; any other weight is no phase", () => {
    for (const p of ["old", "both", "new"] as RoutingPhase[])
      assert.equal(phaseOfStep({ weightNew: weightOfPhase(p) }), p);
    assert.deepEqual(
      [0, 50, 100].map((w) => phaseOfStep({ weightNew: w })),
      ["old", "both", "new"],
    );
    for (const w of [1, 10, 49, 51, 99]) assert.equal(phaseOfStep({ weightNew: w }), undefined, String(w));
    assert.deepEqual(PHASE_WEIGHT, { old: 0, both: 50, new: 100 });
  });

  it("the default plan is the seed's phases in order, each held by its burst of CALLS_PER_PHASE calls", () => {
    const p = simPlan(defaultPlan(), 10);
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
    const p = simPlan(planFromInput({ defaults: { gates: [] }, steps: [0, 50, 100] }, "test"), 7);
    assert.deepEqual(
      p.steps.map((s) => s.phase),
      ["old", "both", "new"],
    );
    assert.deepEqual(
      p.steps.map((s) => s.machine.minCalls),
      [7, 7, 7],
    );
    const q = simPlan(planFromInput({ defaults: { gates: [], hold: { durationS: 2 } }, steps: [0, 100] }, "test"), 3);
    assert.deepEqual(
      q.steps.map((s) => [s.phase, s.machine.holdMs]),
      [
        ["old", 2000],
        ["new", 2000],
      ],
    );
  });

  it("refuses (exit 2) steps that are no phase and steps with metric gates, naming every one", () => {
    try {
      simPlan(parseStepsFlag("0,10,50,100"), 10);
      assert.fail("refused");
    } catch (err) {
      assert.ok(err instanceof UsageError);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /--steps 0,10,50,100: not a plan sim can run; nothing was started/);
      const lines = err.details.join("\n");
      assert.match(lines, /step 2 \(weight 10\) is no sim phase/);
      // --steps gives every step the default gates
      assert.match(lines, /step 1 has metric gates/);
      assert.match(lines, /step 4 has metric gates/);
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
