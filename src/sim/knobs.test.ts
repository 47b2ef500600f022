import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import { defaultKnobs, floorMs, formatDuration, MAX_RUN_MS, resolveKnobs } from "./knobs.js";

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
  const k = resolveKnobs(
    { CALL_RATE: "50", LONG_CALL_MS: "5000", CALLS_PER_PHASE: "20", PHASE_GAP_SECONDS: "35" },
    { callsPerPhase: "7", callRate: "2.5" },
  );
  assert.equal(k.callsPerPhase, 7);
  assert.equal(k.callRate, 2.5);
  assert.equal(k.longCallMs, 5000);
  assert.equal(k.phaseGapSeconds, 35);
});

test("non-numeric, zero and negative values are refused, all at once, naming the source", () => {
  try {
    resolveKnobs(
      { CALLS_PER_PHASE: "ten", CALL_RATE: "0", LONG_CALL_MS: "-5", PHASE_GAP_SECONDS: "0" },
      { postCutoverCalls: "1.5" },
    );
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
  assert.equal(
    floorMs({ ...defaultKnobs, longCallMs: 1000, postCutoverCalls: 20 }),
    3 * 3200 + 1400 + 200 + 4000 + 1200,
  );
});

test("a run whose floor exceeds 24 h is refused with the computed duration", () => {
  assert.throws(
    () => resolveKnobs({}, { callRate: "0.000000001" }),
    /^UsageError: the knobs ask for a run of at least 1268 years \(.*CALL_RATE=1e-9.*; the limit is 24 h; nothing was started$/,
  );
  assert.throws(() => resolveKnobs({ CALLS_PER_PHASE: "1000000" }, { callRate: "1" }), /at least 34\.7 days/);
  assert.throws(
    () =>
      resolveKnobs({ PHASE_GAP_SECONDS: "3600", LONG_CALL_MS: "3600000" }, { callsPerPhase: "100000", callRate: "2" }),
    /at least 45\.7 h \(.*\); the limit is 24 h/,
  );
  // just under the cap is fine
  const k = resolveKnobs({}, { callsPerPhase: "28000", callRate: "1" });
  assert.ok(floorMs(k) <= MAX_RUN_MS);
  assert.equal(formatDuration(90_000), "90 s");
  assert.equal(formatDuration(30 * 3600_000), "30.0 h");
});
