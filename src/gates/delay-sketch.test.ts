import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { FIXTURES } from "../../test/support/fixtures.js";
import type { BackendRole } from "../core/backend-role.js";
import type { CallRecord } from "../evidence/call-record.js";
import { DelaySketch, EXACT_SAMPLES, RELATIVE_ERROR } from "./delay-sketch.js";
import { firstFailingCall, FirstFailingCalls } from "./failing-calls.js";
import { evaluateGate, GateSpecSchema } from "./gate.js";
import { BackendTally, backendMetrics, percentile } from "./metrics.js";

/** a deterministic spread of delays: mostly 1-60 ms, a tail to seconds, some sub-millisecond */
function delays(n: number): number[] {
  let x = 12345;
  const rnd = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, () => {
    const u = rnd();
    return u < 0.05 ? rnd() * 0.9 : u < 0.97 ? 1 + rnd() * 59 : 60 + rnd() ** 3 * 4000;
  });
}

const within = (got: number | undefined, exact: number | undefined, what: string): void => {
  assert.ok(got !== undefined && exact !== undefined, what);
  assert.ok(Math.abs(got - exact) <= RELATIVE_ERROR * exact + 1e-9, `${what}: ${got} vs exact ${exact}`);
};

describe("delay sketch", () => {
  it("exact (every sample kept) up to its size: the nearest-rank percentile itself", () => {
    const xs = delays(500);
    const s = new DelaySketch();
    for (const x of xs) s.add(x);
    assert.equal(s.exact, true);
    for (const p of [1, 50, 95, 99, 100]) assert.equal(s.percentile(p), percentile(xs, p));
    assert.equal(new DelaySketch().percentile(50), undefined);
  });

  it("past its size, every percentile within the stated relative error of the exact one", () => {
    const xs = delays(EXACT_SAMPLES + 5000);
    const s = new DelaySketch();
    for (const x of xs) s.add(x);
    assert.equal(s.exact, false);
    assert.equal(s.samples, xs.length);
    for (const p of [1, 5, 25, 50, 75, 90, 95, 99, 99.9, 100]) within(s.percentile(p), percentile(xs, p), `p${p}`);
  });

  it("sketched from the first sample: ties, one sample, sub-microsecond and huge delays", () => {
    const s = new DelaySketch(0);
    s.add(40);
    within(s.percentile(95), 40, "one sample");
    for (let i = 0; i < 9; i++) s.add(40);
    within(s.percentile(50), 40, "ties");
    const t = new DelaySketch(0);
    t.add(0);
    t.add(0.0002);
    assert.equal(t.percentile(100), 0.0002, "the tiny bucket reports its largest delay");
    assert.equal(t.percentile(50), 0.0002);
    const big = new DelaySketch(0);
    big.add(3_600_000);
    within(big.percentile(50), 3_600_000, "an hour");
  });

  it("memory does not grow past the switch: the same counters for 10x the samples", () => {
    const s = new DelaySketch(100);
    const xs = delays(100_000);
    for (const x of xs) s.add(x);
    within(s.percentile(95), percentile(xs, 95), "p95 of 100,000");
    within(s.percentile(50), percentile(xs, 50), "p50 of 100,000");
  });
});

/** The call records of a real `migrate --traffic 500` run (test/fixtures, one TSV line per call as it ended). */
function recordedRun(): CallRecord[] {
  const name = "kamailio-5.6.3-sipp-3.6.1-migrate-traffic-500.records.tsv.gz";
  const text = gunzipSync(readFileSync(path.join(FIXTURES, name))).toString("utf8");
  const ms = (us: string | undefined): number | undefined => (us ? Number(us) / 1000 : undefined);
  return text
    .split("\n")
    .filter((l) => l.length > 0 && !l.startsWith("#"))
    .map((l, i) => {
      const [backend, at, srd, sdd, status, timedOut] = l.split("\t");
      const inviteSentMs = ms(at)!;
      const byeSentMs = sdd ? inviteSentMs + 100 : undefined;
      return {
        callId: `recorded-${i}`,
        backend: backend as BackendRole,
        inviteSentMs,
        firstProvisionalOrFinalMs: srd ? inviteSentMs + ms(srd)! : undefined,
        finalStatus: status ? Number(status) : undefined,
        timedOut: timedOut === "t",
        byeSentMs,
        byeFinalMs: byeSentMs !== undefined ? byeSentMs + ms(sdd)! : undefined,
      };
    });
}

describe("the gates' percentiles on a recorded run (migrate --traffic 500, Kamailio 5.6.3, SIPp 3.6.1)", () => {
  const recs = recordedRun();

  it("from the bounded tally (sketched from the first call) within the stated error of the exact ones", () => {
    assert.ok(recs.length >= 6000);
    for (const b of ["old", "new"] as const) {
      const bounded = new BackendTally(b, 0);
      for (const r of recs) bounded.add(r);
      const got = bounded.metrics();
      const exact = backendMetrics(recs, b);
      assert.ok(exact.srd.samples > 500 && exact.sdd.samples > 500, `${b}: enough samples`);
      assert.deepEqual(
        [got.invites, got.answered2xx, got.timedOut, got.srd.samples, got.sdd.samples],
        [exact.invites, exact.answered2xx, exact.timedOut, exact.srd.samples, exact.sdd.samples],
      );
      within(got.srd.p50Ms, exact.srd.p50Ms, `${b} SRD p50`);
      within(got.srd.p95Ms, exact.srd.p95Ms, `${b} SRD p95`);
      within(got.sdd.p50Ms, exact.sdd.p50Ms, `${b} SDD p50`);
      within(got.sdd.p95Ms, exact.sdd.p95Ms, `${b} SDD p95`);
    }
  });

  it("a gate decides the same from either, unless its limit is within the error of the value", () => {
    const bounded = { old: new BackendTally("old", 0), new: new BackendTally("new", 0) };
    for (const r of recs) bounded[r.backend].add(r);
    const got = { old: bounded.old.metrics(), new: bounded.new.metrics() };
    const exact = { old: backendMetrics(recs, "old"), new: backendMetrics(recs, "new") };
    const p95 = exact.new.srd.p95Ms!;
    for (const atMost of [p95 * (1 - 2 * RELATIVE_ERROR), p95 * (1 + 2 * RELATIVE_ERROR), p95 / 2, p95 * 2]) {
      const g = GateSpecSchema.parse({ kind: "threshold", metric: "srd_p95", atMost });
      assert.equal(evaluateGate(g, got, 10).verdict, evaluateGate(g, exact, 10).verdict, `SRD p95 <= ${atMost}`);
    }
    const rel = GateSpecSchema.parse({ kind: "relative", metric: "sdd_p95", maxWorseBy: 0 });
    assert.equal(evaluateGate(rel, got, 10).verdict, evaluateGate(rel, exact, 10).verdict);
  });

  it("the first failing call, kept call by call, is the one every record gives", () => {
    const t = new FirstFailingCalls();
    for (const r of recs) t.add(r);
    const exact = { old: backendMetrics(recs, "old"), new: backendMetrics(recs, "new") };
    for (const spec of [
      { kind: "threshold", metric: "srd_p95", atMost: exact.new.srd.p50Ms },
      { kind: "threshold", metric: "isa", atMost: 0 },
      { kind: "threshold", metric: "sdd_p50", atMost: 0.1, backend: "old" },
    ]) {
      const r = evaluateGate(GateSpecSchema.parse(spec), exact, 10);
      assert.equal(r.verdict, "fail", JSON.stringify(spec));
      assert.equal(t.first([r])?.callId, firstFailingCall([r], recs)?.callId, JSON.stringify(spec));
    }
  });
});
