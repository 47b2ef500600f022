import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../core/errors.js";
import { parseTrafficRate } from "./background-traffic.js";
import { stepMinCalls } from "../gates/gate.js";

describe("--traffic RATE", () => {
  it("calls per second, more than 0 and at most 1000; anything else is a usage error", () => {
    assert.equal(parseTrafficRate("50"), 50);
    assert.equal(parseTrafficRate(" 0.5 "), 0.5);
    assert.equal(parseTrafficRate("1000"), 1000);
    for (const bad of ["0", "-1", "1e3", "fast", "", "1001", "5/s"]) {
      assert.throws(
        () => parseTrafficRate(bad),
        (e: unknown) => e instanceof UsageError && /--traffic must be calls per second/.test(e.message),
        bad,
      );
    }
  });
  it("a step without a hold holds until its gates can decide on both backends and a whole cycle", () => {
    assert.deepEqual([0, 1, 10, 50, 90, 100].map(stepMinCalls), [100, 2000, 200, 100, 200, 100]);
  });
});
