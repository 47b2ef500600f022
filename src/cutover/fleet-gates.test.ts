import assert from "node:assert/strict";
import { test } from "node:test";
import { failingNodes } from "./fleet-gates.js";
import type { StepGateRecord } from "./live-gates.js";

const rec = (verdict: StepGateRecord["verdict"], failedNew: number): StepGateRecord => {
  const m = { invites: 10, answered2xx: 10 - failedNew, ineffective: failedNew, timedOut: 0 };
  const none = { ser: undefined, isa: undefined, srdP50Ms: undefined, srdP95Ms: undefined };
  return {
    verdict,
    detail: `${verdict} (${failedNew} failed)`,
    window: { fromMs: 0, toMs: 1, routed: { old: 10, new: 10 }, pending: 0, unrouted: 0 },
    metrics: { old: { ...m, answered2xx: 10, ineffective: 0, ...none }, new: { ...m, ...none } },
    gates: [],
    split: undefined,
    early: false,
    firstFailingCallMs: undefined,
  };
};

test("the nodes a fleet's fail is about: those failing on their own, else those with failing calls", () => {
  assert.deepEqual(
    failingNodes([
      { name: "kam1", rec: rec("pass", 0) },
      { name: "kam2", rec: rec("fail", 6) },
      { name: "kam3", rec: rec("inconclusive", 0) },
    ]),
    { names: ["kam2"], text: "node kam2's calls fail alone: kam2: fail (6 failed)" },
  );
  // no node decided on its own calls yet (too few): the nodes with failing calls are named
  assert.deepEqual(
    failingNodes([
      { name: "kam1", rec: rec("inconclusive", 2) },
      { name: "kam2", rec: rec("inconclusive", 1) },
      { name: "kam3", rec: rec("pass", 0) },
    ]).names,
    ["kam1", "kam2"],
  );
  assert.match(
    failingNodes([
      { name: "kam1", rec: rec("fail", 3) },
      { name: "kam2", rec: rec("fail", 3) },
    ]).text,
    /^on every node \(kam1, kam2\): /,
  );
  assert.equal(failingNodes([{ name: "kam1", rec: rec("pass", 0) }]).text, "no node's calls fail on their own");
});
