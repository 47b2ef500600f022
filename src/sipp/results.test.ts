import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { describeSippExit, parseTraceStat } from "./results.js";

const FIXTURES = path.resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures");

test("trace_stat of a 5000-call burst at 500 calls/s (SIPp 3.6.1): all successful", () => {
  const s = parseTraceStat(readFileSync(path.join(FIXTURES, "sipp-3.6.1-uac-call-5000.stat.csv"), "utf8"));
  assert.ok(s);
  assert.equal(s.outgoingCalls, 5000);
  assert.equal(s.successfulCalls, 5000);
  assert.equal(s.failedCalls, 0);
  assert.equal(s.currentCalls, 0);
});

test("trace_stat of a call refused with 503: one failed call, unexpected message", () => {
  const s = parseTraceStat(readFileSync(path.join(FIXTURES, "sipp-3.6.1-uac-call-503.stat.csv"), "utf8"));
  assert.ok(s);
  assert.equal(s.successfulCalls, 0);
  assert.equal(s.failedCalls, 1);
  assert.equal(s.failedUnexpectedMessage, 1);
});

test("trace_stat: empty or header-only files are not understood", () => {
  assert.equal(parseTraceStat(""), undefined);
  assert.equal(parseTraceStat("StartTime;SuccessfulCall(C);\n"), undefined);
});

test("exit codes are described the way SIPp 3.6.1 defines them", () => {
  assert.equal(describeSippExit(0, null), "exit 0 (all calls succeeded)");
  assert.equal(describeSippExit(1, null), "exit 1 (at least one call failed)");
  assert.equal(describeSippExit(254, null), "exit 254 (fatal error binding a socket (-2))");
  assert.equal(describeSippExit(null, "SIGTERM"), "killed by SIGTERM");
});
