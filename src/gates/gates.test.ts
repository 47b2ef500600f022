import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BackendRole } from "../core/backend-role.js";
import type { CallRecord } from "../evidence/call-record.js";
import { evaluateGate, evaluateGates, GateSpecSchema, type GateSpec } from "./gate.js";
import { BackendTally, backendMetrics, inWindow, percentile, windowMetrics } from "./metrics.js";

let n = 0;
/** one call: answered `status` after `srd` ms (undefined = no response), BYE answered after `sdd` ms */
function call(
  backend: BackendRole,
  status: number | "timeout",
  o: { at?: number; srd?: number; sdd?: number; id?: string } = {},
): CallRecord {
  const at = o.at ?? 1000;
  const timedOut = status === "timeout";
  const answered = !timedOut && status >= 200 && status < 300;
  return {
    callId: o.id ?? `c${++n}`,
    backend,
    inviteSentMs: at,
    firstProvisionalOrFinalMs: o.srd === undefined ? undefined : at + o.srd,
    finalStatus: timedOut ? undefined : status,
    timedOut,
    byeSentMs: answered ? at + 500 : undefined,
    byeFinalMs: answered && o.sdd !== undefined ? at + 500 + o.sdd : undefined,
  };
}
const times = (k: number, f: () => CallRecord): CallRecord[] => Array.from({ length: k }, f);
const gate = (g: unknown): GateSpec => GateSpecSchema.parse(g);

describe("RFC 6076 metrics", () => {
  it("hand-computed: 7 answered, 1 redirected, 1 x 503, 1 timeout", () => {
    const recs = [
      ...[30, 40, 50, 60, 70, 80, 90].map((srd, i) => call("new", 200, { srd, sdd: 10 + i })),
      call("new", 302, { srd: 20 }),
      call("new", 503, { srd: 200 }),
      call("new", "timeout"),
      call("old", 200, { srd: 5 }),
    ];
    const m = backendMetrics(recs, "new");
    assert.equal(m.invites, 10);
    assert.deepEqual([m.answered2xx, m.redirected3xx, m.ineffective, m.timedOut], [7, 1, 2, 1]);
    // SER = 7 / (10 - 1)
    assert.deepEqual([m.ser.numerator, m.ser.denominator], [7, 9]);
    assert.equal(m.ser.percent!.toFixed(4), "77.7778");
    // ISA = (503 + timeout) / 10
    assert.deepEqual([m.isa.numerator, m.isa.denominator, m.isa.percent], [2, 10, 20]);
    // SRD samples 20 30 40 50 60 70 80 90 200 (9): p50 = rank 5 = 60, p95 = rank ceil(8.55) = 9 = 200
    assert.deepEqual([m.srd.samples, m.srd.p50Ms, m.srd.p95Ms], [9, 60, 200]);
    // SDD samples 10..16: p50 = rank 4 = 13, p95 = rank 7 = 16
    assert.deepEqual([m.sdd.samples, m.sdd.p50Ms, m.sdd.p95Ms], [7, 13, 16]);
    assert.equal(backendMetrics(recs, "old").invites, 1);
  });

  it("0 calls: every ratio and delay is undefined, not 0 or 100", () => {
    const m = backendMetrics([], "new");
    assert.deepEqual(
      [m.invites, m.ser.percent, m.isa.percent, m.srd.p50Ms, m.sdd.p95Ms],
      [0, undefined, undefined, undefined, undefined],
    );
  });

  it("all 3xx: SER has no denominator (undefined); ISA is 0 %", () => {
    const m = backendMetrics(
      times(5, () => call("new", 302, { srd: 10 })),
      "new",
    );
    assert.deepEqual([m.ser.denominator, m.ser.percent], [0, undefined]);
    assert.equal(m.isa.percent, 0);
  });

  it("ISA counts 408, 500, 503, 504 and timeouts; not 404 or 486", () => {
    const recs = [408, 500, 503, 504, 404, 486, 200, 200].map((s) => call("new", s));
    recs.push(call("new", "timeout"));
    const m = backendMetrics(recs, "new");
    assert.deepEqual([m.isa.numerator, m.isa.denominator], [5, 9]);
    assert.deepEqual([m.ser.numerator, m.ser.denominator], [2, 9]);
  });

  it("a timed-out call has no final answer even if one was recorded; a duplicate Call-ID counts once", () => {
    const odd: CallRecord = { ...call("new", 200), timedOut: true };
    const dup = call("new", 200, { id: "same" });
    const m = backendMetrics([odd, dup, { ...dup, finalStatus: 503 }], "new");
    assert.deepEqual([m.invites, m.answered2xx, m.ineffective], [2, 1, 1]);
  });

  it("a tally built call by call gives what the batch gives at every moment", () => {
    const recs = [
      ...[30, 40, 50, 60, 70, 80, 90].map((srd, i) => call("new", 200, { srd, sdd: 10 + i, at: 1000 + i })),
      call("new", 302, { srd: 20 }),
      call("new", 503, { srd: 200 }),
      call("new", "timeout"),
      call("old", 200, { srd: 5 }),
    ].reverse();
    const t = new BackendTally("new");
    recs.forEach((r, i) => {
      t.add(r);
      assert.deepEqual(t.metrics(), backendMetrics(recs.slice(0, i + 1), "new"));
    });
    assert.equal(t.add(recs[0]!), false, "a Call-ID counts once");
  });

  it("nearest-rank percentiles, ties included", () => {
    assert.equal(percentile([40, 10, 30, 20], 50), 20);
    assert.equal(percentile([40, 10, 30, 20], 95), 40);
    assert.equal(percentile([7], 95), 7);
    assert.equal(percentile([5, 5, 5, 9], 50), 5);
    assert.equal(percentile([], 50), undefined);
  });

  it("a step window is [from, to): INVITEs sent at `to` belong to the next step", () => {
    const recs = [
      call("new", 200, { at: 99 }),
      call("new", 200, { at: 100 }),
      call("new", 200, { at: 199 }),
      call("new", 200, { at: 200 }),
    ];
    assert.deepEqual(
      inWindow(recs, { fromMs: 100, toMs: 200 }).map((r) => r.inviteSentMs),
      [100, 199],
    );
    assert.equal(inWindow(recs, { fromMs: 100, toMs: undefined }).length, 3);
    assert.equal(windowMetrics(recs, { fromMs: 100, toMs: 200 }).new.invites, 2);
  });
});

describe("gates", () => {
  const window = (old: CallRecord[], nw: CallRecord[]): ReturnType<typeof windowMetrics> =>
    windowMetrics([...old, ...nw], { fromMs: 0, toMs: undefined });
  const ok = (k: number, b: BackendRole, srd = 50): CallRecord[] => times(k, () => call(b, 200, { srd, sdd: 5 }));
  const bad = (k: number, b: BackendRole): CallRecord[] => times(k, () => call(b, 503, { srd: 5 }));

  it("threshold: SER of new >= 98 passes at exactly 98 (49 of 50) and fails at 96", () => {
    const g = gate({ kind: "threshold", metric: "ser", atLeast: 98 });
    const pass = evaluateGate(g, window([], [...ok(49, "new"), ...bad(1, "new")]), 10);
    assert.equal(pass.verdict, "pass");
    assert.equal(pass.detail, "new 98% (49 of 50) >= 98%");
    const fail = evaluateGate(g, window([], [...ok(48, "new"), ...bad(2, "new")]), 10);
    assert.equal(fail.verdict, "fail");
    assert.equal(fail.detail, "new 96% (48 of 50) < 98%");
  });

  it("relative: SER of new not worse than old by more than 2 points; a tie and exactly 2 pass", () => {
    const g = gate({ kind: "relative", metric: "ser", maxWorseBy: 2 });
    assert.equal(evaluateGate(g, window(ok(50, "old"), ok(50, "new")), 10).verdict, "pass");
    const two = evaluateGate(g, window(ok(50, "old"), [...ok(49, "new"), ...bad(1, "new")]), 10);
    assert.equal(two.verdict, "pass");
    assert.match(two.detail, /worse by 2 points \(allowed 2 points\)/);
    const four = evaluateGate(g, window(ok(50, "old"), [...ok(48, "new"), ...bad(2, "new")]), 10);
    assert.equal(four.verdict, "fail");
    assert.equal(four.detail, "new 96% (48 of 50) vs old 100% (50 of 50): worse by 4 points (more than 2 points)");
    // new better than old: pass
    assert.match(
      evaluateGate(g, window([...ok(40, "old"), ...bad(10, "old")], ok(50, "new")), 10).detail,
      /better by 20 points/,
    );
  });

  it("relative and threshold on delays: lower is better (ms)", () => {
    const rel = gate({ kind: "relative", metric: "srd_p95", maxWorseBy: 100 });
    assert.equal(evaluateGate(rel, window(ok(30, "old", 50), ok(30, "new", 150)), 50).verdict, "pass");
    const slow = evaluateGate(rel, window(ok(30, "old", 50), ok(30, "new", 151)), 50);
    assert.equal(slow.verdict, "fail");
    assert.match(slow.detail, /new 151 ms \(30 samples\) vs old 50 ms \(30 samples\): worse by 101 ms/);
    const abs = gate({ kind: "threshold", metric: "isa", atMost: 5 });
    assert.equal(evaluateGate(abs, window([], [...ok(19, "new"), ...bad(1, "new")]), 50).verdict, "pass");
    assert.equal(evaluateGate(abs, window([], [...ok(18, "new"), ...bad(2, "new")]), 50).verdict, "fail");
  });

  it("too few calls is inconclusive, never pass, even when every call was fine", () => {
    const g = gate({ kind: "relative", metric: "ser", maxWorseBy: 2 });
    const r = evaluateGate(g, window(ok(100, "old"), ok(19, "new")), 1);
    assert.equal(r.verdict, "inconclusive");
    assert.equal(r.detail, "new: 19 of the 20 calls needed");
    assert.equal(
      evaluateGate(gate({ kind: "threshold", metric: "ser", atLeast: 90, minCalls: 5 }), window([], ok(5, "new")), 1)
        .verdict,
      "pass",
    );
    const none = evaluateGate(gate({ kind: "threshold", metric: "ser", atLeast: 90 }), window([], []), 10);
    assert.equal(none.verdict, "inconclusive");
    const all3xx = evaluateGate(
      gate({ kind: "threshold", metric: "ser", atLeast: 90 }),
      window(
        [],
        times(30, () => call("new", 302)),
      ),
      10,
    );
    assert.equal(all3xx.verdict, "inconclusive", "30 INVITEs, all redirected: SER has 0 samples");
  });

  it("a threshold on SER or ISA fails before its minimum sample once the calls still needed cannot save it", () => {
    const isa = gate({ kind: "threshold", metric: "isa", atMost: 5 });
    // 1 of 20 would be exactly 5 %: one failure in 7 calls could still pass
    const one = evaluateGate(isa, window([], [...ok(6, "new"), ...bad(1, "new")]), 10);
    assert.equal(one.verdict, "inconclusive");
    assert.equal(one.certainBefore, undefined);
    // 2 failures: at least 2 of 20 = 10 % > 5 % whatever the next 13 do
    const two = evaluateGate(isa, window([], [...ok(5, "new"), ...bad(2, "new")]), 10);
    assert.equal(two.verdict, "fail");
    assert.deepEqual(two.certainBefore, { samples: 7, needed: 20 });
    assert.equal(
      two.detail,
      "new 2 ineffective of 7: at least 10% at the 20 calls needed (2 of 20) whatever the next 13 do > 5%",
    );
    // SER >= 90 % on 20: 3 failures leave at most 17 of 20 = 85 %
    const ser = gate({ kind: "threshold", metric: "ser", atLeast: 90 });
    assert.equal(
      evaluateGate(ser, window([], [...ok(3, "new"), ...bad(2, "new")]), 10).verdict,
      "inconclusive",
      "at most 18 of 20 = 90 %: can pass",
    );
    const three = evaluateGate(ser, window([], [...ok(3, "new"), ...bad(3, "new")]), 10);
    assert.equal(three.verdict, "fail");
    assert.equal(
      three.detail,
      "new 3 answered of 6: at most 85% at the 20 calls needed (17 of 20) whatever the next 14 do < 90%",
    );
    // relative gates and delays wait for their sample: old's value or a percentile can still move
    assert.equal(
      evaluateGate(gate({ kind: "relative", metric: "isa", maxWorseBy: 0 }), window(ok(50, "old"), bad(10, "new")), 10)
        .verdict,
      "inconclusive",
    );
    assert.equal(
      evaluateGate(gate({ kind: "threshold", metric: "srd_p95", atMost: 10 }), window([], ok(10, "new", 900)), 10)
        .verdict,
      "inconclusive",
    );
    // a gate on a backend the step sends nothing to stays not applicable
    assert.equal(evaluateGate(isa, window([], bad(10, "new")), 0).verdict, "not-applicable");
    // and the certain verdict is the one the gate gives at its minimum sample, however the rest turn out
    for (const rest of [ok(13, "new"), bad(13, "new")]) {
      assert.equal(evaluateGate(isa, window([], [...ok(5, "new"), ...bad(2, "new"), ...rest]), 10).verdict, "fail");
    }
  });

  it("a gate on a backend the step sends nothing to is not applicable", () => {
    const rel = gate({ kind: "relative", metric: "ser", maxWorseBy: 2 });
    assert.equal(evaluateGate(rel, window(ok(50, "old"), []), 0).verdict, "not-applicable");
    assert.equal(evaluateGate(rel, window([], ok(50, "new")), 100).verdict, "not-applicable");
    assert.equal(
      evaluateGate(
        gate({ kind: "threshold", metric: "ser", backend: "old", atLeast: 90 }),
        window(ok(50, "old"), []),
        0,
      ).verdict,
      "pass",
    );
  });

  it("a step: fail beats inconclusive beats pass; no applicable gate passes and says so", () => {
    const gs = [
      gate({ kind: "threshold", metric: "ser", atLeast: 99 }),
      gate({ kind: "threshold", metric: "sdd_p95", atMost: 10 }),
    ];
    const w = window([], [...ok(48, "new"), ...bad(2, "new")]);
    const v = evaluateGates(gs, w, 10);
    assert.equal(v.verdict, "fail");
    assert.match(v.summary, /^failed: SER of new >= 99%: new 96% \(48 of 50\) < 99%$/);
    assert.equal(
      evaluateGates([gs[1]!, gate({ kind: "threshold", metric: "isa", atMost: 2, minCalls: 100 })], w, 10).verdict,
      "inconclusive",
    );
    assert.deepEqual(evaluateGates(gs, window(ok(5, "old"), []), 0), {
      verdict: "pass",
      results: evaluateGates(gs, window(ok(5, "old"), []), 0).results,
      summary: "no gate applies at new=0%",
    });
    assert.equal(evaluateGates([], w, 10).summary, "no gate applies at new=10%");
  });

  it("gate specs are validated: the limit's direction, percentages, unknown keys", () => {
    const err = (g: unknown): string => {
      const r = GateSpecSchema.safeParse(g);
      assert.equal(r.success, false);
      return r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    };
    assert.match(err({ kind: "threshold", metric: "ser", atMost: 2 }), /ser is higher-is-better: give atLeast/);
    assert.match(err({ kind: "threshold", metric: "srd_p95", atLeast: 2 }), /srd_p95 is lower-is-better: give atMost/);
    assert.match(err({ kind: "threshold", metric: "isa", atMost: 101 }), /percentage/);
    assert.match(err({ kind: "relative", metric: "ser", maxWorse: 2 }), /maxWorse/);
    assert.match(err({ kind: "absolute", metric: "ser" }), /kind/);
    assert.equal(gate({ kind: "threshold", metric: "ser", atLeast: 98 }).kind, "threshold");
  });
});

describe("media gates: one-way calls and RTP loss from the calls' audio", () => {
  const audio = (backend: BackendRole, oneWay: boolean, lost: number): CallRecord => ({
    ...call(backend, 200, { srd: 10, sdd: 5 }),
    media: { judged: true, oneWay, expected: 50, lost },
  });
  it("one_way_calls of new <= 0: passes at 0 of 20 judged, fails at once on the first one-way call (certain)", () => {
    const g = gate({ kind: "threshold", metric: "one_way_calls", atMost: 0 });
    const ok = windowMetrics(
      times(20, () => audio("new", false, 0)),
      { fromMs: 0, toMs: undefined },
    );
    const r = evaluateGate(g, ok, 100);
    assert.deepEqual([r.verdict, r.values.new, r.samples.new], ["pass", 0, 20]);
    assert.equal(r.name, "one-way calls of new <= 0");
    const one = windowMetrics([audio("new", false, 0), audio("new", true, 50)], { fromMs: 0, toMs: undefined });
    const f = evaluateGate(g, one, 100);
    assert.equal(f.verdict, "fail");
    assert.match(f.detail, /new 1 one-way of 2 calls with audio judged: more than 0 whatever the next 18 do/);
    // a call whose caller's stream never ran is not judged; without judged calls the gate waits
    const none = windowMetrics(
      [{ ...call("new", 200), media: { judged: false, oneWay: false, expected: 0, lost: 0 } }],
      {
        fromMs: 0,
        toMs: undefined,
      },
    );
    assert.equal(evaluateGate(g, none, 100).verdict, "inconclusive");
  });
  it("rtp_loss relative: new losing 2.0% vs old's 0% fails a 1-point allowance; 0.5% passes; a percentage above 100 is refused", () => {
    const g = gate({ kind: "relative", metric: "rtp_loss", maxWorseBy: 1 });
    const w = (newLost: number) =>
      windowMetrics([...times(20, () => audio("old", false, 0)), ...times(20, () => audio("new", false, newLost))], {
        fromMs: 0,
        toMs: undefined,
      });
    const bad = evaluateGate(g, w(1), 50);
    assert.equal(bad.verdict, "fail");
    assert.equal(bad.values.new, 2);
    assert.match(bad.detail, /new 2% \(20 of 1000 packets\) vs old 0% \(0 of 1000 packets\): worse by 2 points/);
    assert.equal(evaluateGate(g, w(0.25), 50).verdict, "pass");
    assert.throws(() => gate({ kind: "threshold", metric: "rtp_loss", atMost: 101 }), /percentage/);
    assert.throws(() => gate({ kind: "threshold", metric: "one_way_calls", atLeast: 1 }), /lower-is-better/);
  });
});
