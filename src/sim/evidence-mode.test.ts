import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import type { Assertion } from "../evidence/assertions.js";
import { evidenceInUse, judgedFrom, resolveEvidence } from "./evidence-mode.js";

test("--evidence: default both in the lab (HEP wanted, not required), hep where backends have no logs; bad values exit 2", () => {
  assert.deepEqual(resolveEvidence(undefined, true), { mode: "both", hepRequired: false, defaulted: true });
  assert.deepEqual(resolveEvidence(undefined, false), { mode: "hep", hepRequired: true, defaulted: true });
  assert.deepEqual(resolveEvidence("hep", true), { mode: "hep", hepRequired: true, defaulted: false });
  assert.deepEqual(resolveEvidence("both", true), { mode: "both", hepRequired: true, defaulted: false });
  assert.deepEqual(resolveEvidence("sipp", true), { mode: "sipp", hepRequired: false, defaulted: false });
  assert.throws(
    () => resolveEvidence("homer", true),
    (e: unknown) => e instanceof UsageError && /--evidence takes hep, sipp or both, got "homer"/.test(e.message),
  );
  assert.throws(() => resolveEvidence("sipp", false), /write no message logs/);
  assert.deepEqual(evidenceInUse(resolveEvidence(undefined, true), "port taken"), {
    mode: "sipp",
    hepUnavailable: "port taken",
  });
  assert.deepEqual(evidenceInUse(resolveEvidence("hep", true), undefined), { mode: "hep" });
});

test("above 500 calls/s a run without --evidence reads HEP alone and says why; a flag, backends without logs or a missing capture decide as before", () => {
  assert.deepEqual(resolveEvidence(undefined, true, 500), { mode: "both", hepRequired: false, defaulted: true });
  const fast = resolveEvidence(undefined, true, 1000);
  assert.equal(fast.mode, "hep");
  assert.equal(fast.hepRequired, false, "HEP unavailable: the stand-ins' logs, recorded");
  assert.match(fast.why ?? "", /^CALL_RATE 1000 calls\/s is above 500: .*--evidence both to have them/);
  assert.deepEqual(evidenceInUse(fast, undefined), { mode: "hep", why: fast.why });
  assert.deepEqual(evidenceInUse(fast, "port taken"), { mode: "sipp", hepUnavailable: "port taken" });
  assert.deepEqual(resolveEvidence("both", true, 1000), { mode: "both", hepRequired: true, defaulted: false });
  assert.deepEqual(resolveEvidence(undefined, false, 1000), { mode: "hep", hepRequired: true, defaulted: true });
});

const a = (name: string, verdict: Assertion["verdict"]): Assertion => ({
  phase: "old",
  name,
  verdict,
  details: "10/10 calls reached old only",
  numbers: {},
  offenders: [],
});

test("each verdict says its source; kernel drops make every verdict resting on HEP inconclusive (never pass), saying why", () => {
  assert.deepEqual(
    judgedFrom([a("routing", "pass")], "sipp", 5).map((x) => [x.source, x.verdict]),
    [["sipp", "pass"]],
  );
  assert.deepEqual(
    judgedFrom([a("routing", "pass"), a("evidence-agrees", "pass")], "both", 0).map((x) => [x.source, x.verdict]),
    [
      ["sipp", "pass"],
      ["sipp+hep", "pass"],
    ],
  );
  const dropped = judgedFrom([a("routing", "pass"), a("completed", "fail")], "hep", 3);
  assert.deepEqual(
    dropped.map((x) => [x.source, x.verdict]),
    [
      ["hep", "inconclusive"],
      ["hep", "inconclusive"],
    ],
  );
  assert.match(
    dropped[0]!.details,
    /^10\/10 calls reached old only; inconclusive: the kernel dropped 3 HEP datagrams at the collector/,
  );
  assert.equal(dropped[0]!.numbers.hepKernelDrops, 3);
  // with both, only the cross-check rests on HEP
  assert.deepEqual(
    judgedFrom([a("routing", "pass"), a("evidence-agrees", "pass")], "both", 1).map((x) => x.verdict),
    ["pass", "inconclusive"],
  );
});
