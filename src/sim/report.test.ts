import assert from "node:assert/strict";
import { test } from "node:test";
import type { Assertion } from "../evidence/assertions.js";
import { failureLine, renderJunit } from "./report.js";

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
