import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../cli/errors.js";
import { defaultKnobs, floorMs, resolveKnobs } from "./knobs.js";

test("seed defaults; PHASE_GAP_SECONDS defaults to 0", () => {
  assert.deepEqual(resolveKnobs({}, {}), {
    callsPerPhase: 10,
    callRate: 5,
    callDurationMs: 1200,
    longCallMs: 25000,
    postCutoverCalls: 8,
    phaseGapSeconds: 0,
    callTimeoutMs: 5000,
  });
});

test("env vars set knobs, flags win over env", () => {
  const k = resolveKnobs({ CALL_RATE: "50", LONG_CALL_MS: "5000", CALLS_PER_PHASE: "20", PHASE_GAP_SECONDS: "35" }, { callsPerPhase: "7", callRate: "2.5" });
  assert.equal(k.callsPerPhase, 7);
  assert.equal(k.callRate, 2.5);
  assert.equal(k.longCallMs, 5000);
  assert.equal(k.phaseGapSeconds, 35);
});

test("non-numeric, zero and negative values are refused, all at once, naming the source", () => {
  try {
    resolveKnobs({ CALLS_PER_PHASE: "ten", CALL_RATE: "0", LONG_CALL_MS: "-5", PHASE_GAP_SECONDS: "0" }, { postCutoverCalls: "1.5" });
    assert.fail("expected a UsageError");
  } catch (err) {
    assert.ok(err instanceof UsageError);
    assert.equal(err.exitCode, 2);
    assert.deepEqual(err.details, [
      'CALLS_PER_PHASE="ten": must be an integer',
      'CALL_RATE="0": must be greater than zero',
      'LONG_CALL_MS="-5": must be greater than zero',
      '--post-cutover-calls="1.5": must be an integer',
    ]);
  }
  assert.throws(() => resolveKnobs({ PHASE_GAP_SECONDS: "-1" }, {}), UsageError);
  assert.throws(() => resolveKnobs({}, { callRate: "5x" }), UsageError);
  assert.throws(() => resolveKnobs({}, { callRate: "" }), UsageError);
});

test("the floor at seed defaults is the seed's own figure without the gaps: 3 x 3.2 s + 1.4 s + 25.2 s", () => {
  assert.equal(floorMs(defaultKnobs), 36_200);
  assert.equal(floorMs({ ...defaultKnobs, phaseGapSeconds: 35 }), 141_200);
  assert.equal(floorMs({ ...defaultKnobs, callRate: 50, longCallMs: 5000 }), 3 * (200 + 1200) + 1220 + 5020);
  // post-cutover calls that outlast the long call set the in-flight time
  assert.equal(floorMs({ ...defaultKnobs, longCallMs: 1000, postCutoverCalls: 20 }), 3 * 3200 + 1400 + 200 + 4000 + 1200);
});
