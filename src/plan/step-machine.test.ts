import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BEFORE_PLAN,
  initialState,
  next,
  type Action,
  type MachineState,
  type MachineStep,
  type Observation,
} from "./step-machine.js";

const step = (o: Partial<MachineStep> = {}): MachineStep => ({
  holdMs: 0,
  hasGates: false,
  onInconclusive: "extend",
  maxExtensions: 0,
  ...o,
});

/** Feed observations in order; the actions the machine answered with, and the last state. */
function drive(steps: MachineStep[], obs: Observation[]): { actions: Action[]; state: MachineState } {
  let state = initialState(steps);
  const actions: Action[] = [];
  for (const o of obs) {
    const r = next(state, o);
    state = r.state;
    actions.push(r.action);
  }
  return { actions, state };
}

const kinds = (a: Action[]): string[] =>
  a.map((x) =>
    "step" in x
      ? `${x.kind}(${x.step})`
      : x.kind === "rollback"
        ? `rollback(${x.from}->${x.to})`
        : `done(${x.outcome})`,
  );

describe("step machine", () => {
  it("runs the default plan: apply, advance, apply, ... done(pass)", () => {
    const { actions, state } = drive(
      [step(), step(), step()],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "advanced" },
      ],
    );
    assert.deepEqual(kinds(actions), [
      "apply(0)",
      "advance(0)",
      "apply(1)",
      "advance(1)",
      "apply(2)",
      "advance(2)",
      "done(pass)",
    ]);
    assert.equal(state.lastGood, 2);
    assert.equal(state.finished, true);
  });

  it("holds a step with a duration, then evaluates its gates; none (nothing to evaluate) advances", () => {
    const { actions } = drive(
      [step({ holdMs: 500, hasGates: true })],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "held" },
        { kind: "evaluated", verdict: "none" },
        { kind: "advanced" },
      ],
    );
    assert.deepEqual(kinds(actions), ["apply(0)", "hold(0)", "evaluate(0)", "advance(0)", "done(pass)"]);
    assert.deepEqual(actions[1], { kind: "hold", step: 0, ms: 500, extension: 0 });
  });

  it("a failed gate rolls back to the last good step and ends in fail", () => {
    const { actions, state } = drive(
      [step(), step({ hasGates: true }), step()],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "evaluated", verdict: "fail", reason: "SER new 60 < old 100 - 2" },
        { kind: "rolled-back" },
      ],
    );
    assert.deepEqual(kinds(actions), [
      "apply(0)",
      "advance(0)",
      "apply(1)",
      "evaluate(1)",
      "rollback(1->0)",
      "done(fail)",
    ]);
    assert.match((actions[5] as { reason: string }).reason, /step 2: gates failed: SER new 60/);
    assert.equal(state.lastGood, 0);
  });

  it("Ctrl-C during the first step's hold goes back to the list before the plan, outcome aborted", () => {
    const { actions } = drive(
      [step({ holdMs: 10_000 }), step()],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "abort", reason: "interrupted by SIGINT" },
        { kind: "rolled-back" },
      ],
    );
    assert.deepEqual(kinds(actions), ["apply(0)", "hold(0)", `rollback(0->${BEFORE_PLAN})`, "done(aborted)"]);
  });

  it("Ctrl-C during a later hold: the held step is not good yet, the one before it is", () => {
    const { actions } = drive(
      [step(), step(), step({ holdMs: 60_000 })],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "abort", reason: "interrupted" },
      ],
    );
    assert.deepEqual(actions.at(-1), { kind: "rollback", from: 2, to: 1, reason: "interrupted" });
  });

  it("a failed apply makes sure of the last good step too, and ends in fail", () => {
    const { actions } = drive(
      [step(), step()],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "apply-failed", reason: "verify: runtime differs" },
        { kind: "rolled-back" },
      ],
    );
    assert.deepEqual(kinds(actions), ["apply(0)", "advance(0)", "apply(1)", "rollback(1->0)", "done(fail)"]);
    assert.match((actions[4] as { reason: string }).reason, /step 2: apply failed: verify: runtime differs/);
  });

  it("a hold whose traffic could not run (hold-failed) rolls back to the last good step and ends in fail", () => {
    const { actions } = drive(
      [step(), step({ minCalls: 10 })],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "hold-failed", reason: "SIPp could not run the both burst" },
        { kind: "rolled-back" },
      ],
    );
    assert.deepEqual(kinds(actions), ["apply(0)", "advance(0)", "apply(1)", "hold(1)", "rollback(1->0)", "done(fail)"]);
    assert.deepEqual(actions.at(-1), {
      kind: "done",
      outcome: "fail",
      reason: "step 2: SIPp could not run the both burst",
    });
  });

  it("the node restarted (during a hold, or before the next step is applied): back to the last good step, fail", () => {
    for (const [obs, expected] of [
      [
        [{ kind: "start" }, { kind: "applied" }, { kind: "advanced" }, { kind: "applied" }],
        ["apply(0)", "advance(0)", "apply(1)", "hold(1)", "rollback(1->0)", "done(fail)"],
      ],
      [
        [{ kind: "start" }, { kind: "applied" }, { kind: "advanced" }],
        ["apply(0)", "advance(0)", "apply(1)", "rollback(1->0)", "done(fail)"],
      ],
    ] as [Observation[], string[]][]) {
      const { actions } = drive(
        [step(), step({ holdMs: 5000 })],
        [...obs, { kind: "restarted", reason: "Kamailio restarted" }, { kind: "rolled-back" }],
      );
      assert.deepEqual(kinds(actions), expected);
      assert.deepEqual(actions.at(-1), { kind: "done", outcome: "fail", reason: "step 2: Kamailio restarted" });
    }
  });

  it("inconclusive extends at most maxExtensions times, then fails", () => {
    const s = step({ holdMs: 100, hasGates: true, onInconclusive: "extend", maxExtensions: 2 });
    const inc: Observation = { kind: "evaluated", verdict: "inconclusive", reason: "12 calls to new, 20 needed" };
    const { actions } = drive(
      [s],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "held" },
        inc,
        { kind: "held" },
        inc,
        { kind: "held" },
        inc,
        { kind: "rolled-back" },
      ],
    );
    assert.deepEqual(kinds(actions), [
      "apply(0)",
      "hold(0)",
      "evaluate(0)",
      "hold(0)",
      "evaluate(0)",
      "hold(0)",
      "evaluate(0)",
      `rollback(0->${BEFORE_PLAN})`,
      "done(fail)",
    ]);
    assert.deepEqual(
      actions.filter((a) => a.kind === "hold").map((a) => (a as { extension: number }).extension),
      [0, 1, 2],
    );
    assert.match(
      (actions[7] as { reason: string }).reason,
      /inconclusive \(12 calls to new, 20 needed\) after 2 extension/,
    );
  });

  it("inconclusive with onInconclusive=fail rolls back at once", () => {
    const { actions } = drive(
      [step({ hasGates: true, onInconclusive: "fail" })],
      [{ kind: "start" }, { kind: "applied" }, { kind: "evaluated", verdict: "inconclusive" }],
    );
    assert.equal(actions.at(-1)!.kind, "rollback");
  });

  it("a rollback that fails ends in fail with both reasons", () => {
    const { actions } = drive(
      [step({ holdMs: 5 })],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "abort", reason: "interrupted" },
        { kind: "rollback-failed", reason: "Kamailio unreachable" },
      ],
    );
    assert.deepEqual(actions.at(-1), {
      kind: "done",
      outcome: "fail",
      reason: "interrupted; putting back the last good step failed too: Kamailio unreachable",
    });
  });

  it("an abort during the rollback repeats the same rollback, it never starts another", () => {
    const { actions } = drive(
      [step(), step({ hasGates: true })],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "evaluated", verdict: "fail" },
        { kind: "abort", reason: "interrupted" },
      ],
    );
    assert.deepEqual(actions.at(-1), { kind: "rollback", from: 1, to: 0, reason: "step 2: gates failed" });
  });

  it("refuses observations after done", () => {
    const { state } = drive([step()], [{ kind: "start" }, { kind: "applied" }, { kind: "advanced" }]);
    assert.throws(() => next(state, { kind: "applied" }), /after done/);
  });
});

describe("step machine: holds by calls and gates failing during a hold", () => {
  it("a step with minCalls and no duration holds; a fail observed during the hold rolls back to the last good step", () => {
    const { actions } = drive(
      [step({ hasGates: true }), step({ hasGates: true, minCalls: 200 })],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "evaluated", verdict: "pass" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "evaluated", verdict: "fail", reason: "ISA" },
      ],
    );
    assert.deepEqual(kinds(actions), [
      "apply(0)",
      "evaluate(0)",
      "advance(0)",
      "apply(1)",
      "hold(1)",
      "rollback(1->0)",
    ]);
    assert.deepEqual(actions[4], { kind: "hold", step: 1, ms: 0, extension: 0 });
  });
  it("onInconclusive pause: the operator decides; resume holds again (past maxExtensions), promote passes, abort rolls back", () => {
    const paused = step({ holdMs: 1000, hasGates: true, onInconclusive: "pause", maxExtensions: 0 });
    const { actions, state } = drive(
      [step(), paused, step()],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "held" },
        { kind: "evaluated", verdict: "inconclusive", reason: "new: 3 of the 20 calls needed" },
        { kind: "resumed" },
        { kind: "held" },
        { kind: "evaluated", verdict: "inconclusive", reason: "new: 6 of the 20 calls needed" },
        { kind: "promoted" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "advanced" },
      ],
    );
    assert.deepEqual(kinds(actions), [
      "apply(0)",
      "advance(0)",
      "apply(1)",
      "hold(1)",
      "evaluate(1)",
      "pause(1)",
      "hold(1)",
      "evaluate(1)",
      "pause(1)",
      "advance(1)",
      "apply(2)",
      "advance(2)",
      "done(pass)",
    ]);
    assert.deepEqual(actions[5], { kind: "pause", step: 1, reason: "new: 3 of the 20 calls needed" });
    assert.deepEqual(actions[6], { kind: "hold", step: 1, ms: 1000, extension: 1 });
    assert.equal(state.lastGood, 2);
    const aborted = drive(
      [step(), paused],
      [
        { kind: "start" },
        { kind: "applied" },
        { kind: "advanced" },
        { kind: "applied" },
        { kind: "held" },
        { kind: "evaluated", verdict: "inconclusive" },
        { kind: "abort", reason: "aborted by the operator" },
        { kind: "rolled-back" },
      ],
    );
    assert.deepEqual(kinds(aborted.actions).slice(-3), ["pause(1)", "rollback(1->0)", "done(aborted)"]);
    // resume or promote without a pause is a bug, not a decision
    assert.throws(
      () => drive([paused], [{ kind: "start" }, { kind: "applied" }, { kind: "resumed" }]),
      /resumed without a pause/,
    );
    assert.throws(
      () => drive([paused], [{ kind: "start" }, { kind: "applied" }, { kind: "promoted" }]),
      /promoted without a pause/,
    );
  });
});
