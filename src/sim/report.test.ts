import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { defaultPlan, planFromInput } from "../plan/plan.js";
import type { Assertion } from "../evidence/assertions.js";
import type { GateRow } from "../events/run-events.js";
import { defaultKnobs } from "./knobs.js";
import { failureLine, renderJunit, simResults, type SimResultsInput } from "./report.js";
import { simPlan } from "./sim-plan.js";

const a = (
  phase: Assertion["phase"],
  name: string,
  verdict: Assertion["verdict"],
  details: string,
  offenders: string[] = [],
): Assertion => ({
  phase,
  name,
  verdict,
  details,
  numbers: {},
  offenders,
});

test("junit: one suite per phase, one case per assertion; fail -> failure, inconclusive -> error", () => {
  const x = renderJunit({
    durationMs: 1500,
    verdicts: [
      a("old", "routing", "pass", "10/10 calls reached old only"),
      a("new", "completed", "fail", '9/10 calls completed <x> & "y"', [
        "pbxc-1-new-3-9@127.0.0.1: INVITE answered 503",
      ]),
      a("new", "routing", "inconclusive", "no backend logs\u0001"),
    ],
  });
  assert.match(
    x,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="pbx-cutover sim" tests="3" failures="1" errors="1" time="1.500">/,
  );
  assert.match(x, /<testsuite name="old" tests="1" failures="0" errors="0">/);
  assert.match(x, /<testsuite name="new" tests="2" failures="1" errors="1">/);
  assert.match(
    x,
    /<failure message="9\/10 calls completed &lt;x&gt; &amp; &quot;y&quot;">9\/10 calls completed &lt;x&gt; &amp; &quot;y&quot;\npbxc-1-new-3-9@127.0.0.1: INVITE answered 503<\/failure>/,
  );
  assert.match(x, /<error message="inconclusive: no backend logs\?">/);
  assert.equal((x.match(/<testcase /g) ?? []).length, 3);
});

test("a run error is a test case too", () => {
  const x = renderJunit({ durationMs: 0, verdicts: [], error: "the new backend does not answer" });
  assert.match(
    x,
    /<testcase classname="pbx-cutover.sim.run" name="run"><error message="the new backend does not answer"\/><\/testcase>/,
  );
});

test("failure line names phase, assertion and numbers", () => {
  assert.equal(
    failureLine(a("inflight", "long-call-bye-reached-old", "fail", "the long call's BYE reached no backend")),
    "FAIL inflight long-call-bye-reached-old: the long call's BYE reached no backend",
  );
});

describe("simResults: a simulation's results.json (pure)", () => {
  const plan = simPlan(defaultPlan(), 4, 4);
  const base: SimResultsInput = {
    runId: "abc123",
    runDir: "/runs/call-cutover-1",
    startedAt: Date.UTC(2026, 11, 7, 1, 0, 0),
    finishedAt: Date.UTC(2026, 11, 7, 1, 0, 12),
    status: "success",
    exitCode: 0,
    knobs: defaultKnobs,
    target: { proxy: "127.0.0.1:15060", old: "sip:127.0.0.1:15070", new: "sip:127.0.0.1:15080" },
    plan,
    planOutcome: { outcome: "pass", reason: undefined, lastGood: 2, rollback: undefined, error: undefined },
    stepGates: [],
    applies: [],
    bursts: [],
    verdicts: [a("old", "routing", "pass", "4/4 calls reached old only")],
    error: undefined,
    calls: [],
    evidence: { mode: "both" },
    hep: undefined,
    eventSocket: undefined,
  };

  it("times, knobs by their env names, the plan's steps from 1, the evidence's source and cross-check", () => {
    const r = simResults(base);
    assert.equal(r.schemaVersion, 2);
    assert.equal(r.startedAt, "2026-12-07T01:00:00.000Z");
    assert.equal(r.durationMs, 12_000);
    assert.equal(r.knobs.CALLS_PER_PHASE, defaultKnobs.callsPerPhase);
    assert.deepEqual(
      r.plan.steps.map((s) => [s.index, s.phase, s.weightNew]),
      [
        [1, "old", 0],
        [2, "both", 50],
        [3, "new", 100],
      ],
    );
    assert.equal(r.plan.outcome, "pass");
    assert.equal(r.plan.rollback, undefined);
    assert.deepEqual(r.failures, []);
    assert.deepEqual(r.evidence, {
      mode: "both",
      verdictsFrom: "sipp",
      crossCheck: "evidence-agrees (stand-in logs vs HEP, per call)",
      hep: null,
    });
    assert.equal("error" in r, false);
  });

  it("a failed run: the failing verdicts and the error as failure lines, the runner's rollback as it says it (steps from 1)", () => {
    const r = simResults({
      ...base,
      status: "failed",
      exitCode: 3,
      verdicts: [...base.verdicts, a("both", "completed", "fail", "3/4 calls completed")],
      error: "SIPp could not run the new burst",
      planOutcome: {
        outcome: "fail",
        reason: "step 3: SIPp could not run the new burst",
        lastGood: 1,
        rollback: { from: 3, to: 2, toLabel: "step 2 (both)", ok: true, durationMs: 12, reason: "step 3: SIPp" },
        error: undefined,
      },
      evidence: { mode: "hep" },
      eventSocket: { old: { calls: 1 } },
    });
    assert.deepEqual(r.failures, [
      "FAIL both completed: 3/4 calls completed",
      "ERROR SIPp could not run the new burst",
    ]);
    assert.deepEqual(r.plan.rollback, { from: 3, to: 2, toLabel: "step 2 (both)", ok: true, reason: "step 3: SIPp" });
    assert.equal(r.evidence.verdictsFrom, "hep");
    assert.match(r.evidence.crossCheck ?? "", /^event-socket-agrees/);
    assert.deepEqual(r.evidence.eventSocket, { old: { calls: 1 } });
    assert.equal(r.error, "SIPp could not run the new burst");
  });

  it("a step with metric gates carries its last verdict and gate rows; a step without gates none", () => {
    const gated = simPlan(
      planFromInput(
        {
          defaults: { gates: [] },
          steps: [0, { weightNew: 10, gates: [{ kind: "threshold", metric: "isa", backend: "new", atMost: 5 }] }],
        },
        "test",
      ),
      4,
      9,
    );
    const rows: GateRow[] = [
      {
        name: "ISA of new <= 5%",
        verdict: "pass",
        detail: "new 0.0% (0 of 20)",
        values: { new: 0 },
        samples: { new: 20 },
      },
    ];
    const r = simResults({
      ...base,
      plan: gated,
      stepGates: [
        { verdict: "none", detail: "4 assertions passed" },
        { verdict: "pass", detail: "1 gate passed", gates: rows },
      ],
    });
    assert.equal("gates" in r.plan.steps[0]!, false);
    assert.deepEqual(r.plan.steps[1]!.gates, { verdict: "pass", detail: "1 gate passed", gates: rows });
  });
});
