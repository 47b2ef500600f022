import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BackendRole } from "../core/backend-role.js";
import type { CallRecord } from "../evidence/call-record.js";
import { firstFailingCall, FirstFailingCalls } from "./failing-calls.js";
import { evaluateGates, GateSpecSchema, type GateSpec } from "./gate.js";
import { windowMetrics } from "./metrics.js";

let x = 777;
const rnd = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;

/** calls concluded a little out of INVITE order, some failing, delays with a tail */
function calls(n: number): CallRecord[] {
  const out: CallRecord[] = [];
  for (let i = 0; i < n; i++) {
    const backend: BackendRole = rnd() < 0.3 ? "new" : "old";
    const at = 1000 + i * 2 + Math.floor(rnd() * 6);
    const u = rnd();
    const timedOut = u < 0.01;
    const status = timedOut ? undefined : u < 0.03 ? 503 : u < 0.04 ? 486 : u < 0.045 ? 302 : 200;
    const answered = status !== undefined && status < 300;
    out.push({
      callId: `c${i}`,
      backend,
      inviteSentMs: at,
      firstProvisionalOrFinalMs: timedOut ? undefined : at + 5 + rnd() ** 4 * 900,
      finalStatus: status,
      timedOut,
      byeSentMs: answered ? at + 100 : undefined,
      byeFinalMs: answered ? at + 100 + 2 + rnd() ** 6 * (backend === "new" ? 500 : 400) : undefined,
    });
  }
  return out;
}

const gate = (g: unknown): GateSpec => GateSpecSchema.parse(g);
const GATES: GateSpec[][] = [
  [gate({ kind: "threshold", metric: "ser", atLeast: 99.5 })],
  [gate({ kind: "threshold", metric: "isa", atMost: 0.5, backend: "old" })],
  [gate({ kind: "threshold", metric: "srd_p95", atMost: 50 })],
  [gate({ kind: "relative", metric: "srd_p50", maxWorseBy: 0 })],
  [gate({ kind: "threshold", metric: "sdd_p95", atMost: 3 })],
  [gate({ kind: "relative", metric: "sdd_p95", maxWorseBy: 0 })],
  [
    gate({ kind: "threshold", metric: "srd_p95", atMost: 20 }),
    gate({ kind: "threshold", metric: "isa", atMost: 0.1 }),
    gate({ kind: "relative", metric: "ser", maxWorseBy: 0 }),
  ],
];

describe("the first failing call kept call by call", () => {
  it("is firstFailingCall over every record, for each kind of gate, at every moment of the window", () => {
    const recs = calls(3000);
    for (const specs of GATES) {
      const t = new FirstFailingCalls();
      recs.forEach((r, i) => {
        // the BYE's answer comes after the call concluded
        const concluded: CallRecord = { ...r, byeSentMs: undefined, byeFinalMs: undefined };
        t.add(concluded);
        concluded.byeSentMs = r.byeSentMs;
        concluded.byeFinalMs = r.byeFinalMs;
        t.addDisconnect(concluded);
        if (i % 97 !== 0 && i !== recs.length - 1) return;
        const seen = recs.slice(0, i + 1);
        const results = evaluateGates(specs, windowMetrics(seen, { fromMs: 0, toMs: undefined }), 30).results;
        assert.equal(
          t.first(results)?.callId,
          firstFailingCall(results, seen)?.callId,
          `${JSON.stringify(specs)} at ${i}`,
        );
      });
      const all = evaluateGates(specs, windowMetrics(recs, { fromMs: 0, toMs: undefined }), 30).results;
      assert.ok(
        all.some((g) => g.verdict === "fail"),
        `the gates must fail on these calls for the comparison to mean something: ${JSON.stringify(specs)}`,
      );
    }
  });

  it("nothing failed: no first failing call", () => {
    const t = new FirstFailingCalls();
    const recs = calls(200);
    for (const r of recs) t.add(r);
    const results = evaluateGates(
      [gate({ kind: "threshold", metric: "isa", atMost: 100 })],
      windowMetrics(recs, { fromMs: 0, toMs: undefined }),
      30,
    ).results;
    assert.equal(t.first(results), undefined);
  });
});
