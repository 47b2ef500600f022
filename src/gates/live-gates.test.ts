import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HepCall, ResponseSeen } from "../hep/evidence.js";
import type { CallRecord } from "../evidence/call-record.js";
import { failingCalls } from "./failing-calls.js";
import { callRecordsFromHep } from "../evidence/hep-records.js";
import { evaluateGate, GateSpecSchema } from "./gate.js";
import { windowMetrics } from "./metrics.js";
import { fleetSplitCheck, splitCheck } from "./split-check.js";
import type { BackendRole } from "../core/backend-role.js";

const PROXY = "127.0.0.1:15060";
const CALLER = "127.0.0.1:40000";
const OLD = "127.0.0.1:15070";
const NEW = "127.0.0.1:15080";
const backends = { old: OLD, new: NEW };

const resp = (status: number, ms: number, o: Partial<ResponseSeen> = {}): ResponseSeen => ({
  status,
  reason: "",
  cseq: 1,
  method: "INVITE",
  from: PROXY,
  to: CALLER,
  toTag: status === 100 ? undefined : "t",
  origin: status === 100 ? "proxy" : "relayed",
  copies: 1,
  firstUs: ms * 1000,
  ...o,
});

/** A call Kamailio received at `at` ms and forwarded to `to`, with what it sent the caller. */
function hepCall(
  id: string,
  at: number,
  to: string | undefined,
  answers: ResponseSeen[],
  bye?: { sent: number; answered: number },
): HepCall {
  const final = answers.find((r) => r.status >= 200 && r.method === "INVITE");
  const byeAnswer = bye ? resp(200, bye.answered, { method: "BYE", cseq: 2 }) : undefined;
  return {
    callId: id,
    caller: CALLER,
    inviteReceivedUs: at * 1000,
    proxy: PROXY,
    forwarded: {
      ...(to ? { INVITE: [{ to, transactions: 1, retransmissions: 0, firstUs: at * 1000 + 200 }] } : {}),
      ...(bye && to ? { BYE: [{ to, transactions: 1, retransmissions: 0, firstUs: bye.sent * 1000 }] } : {}),
    },
    // a backend's own copies (origin backend) are not what the caller saw
    responses: [
      ...answers.map((r) => ({ ...r })),
      resp(180, 0, { origin: "backend", from: to ?? PROXY, to: PROXY }),
      ...(byeAnswer ? [byeAnswer] : []),
    ],
    answerToInvite: final,
    answerToBye: byeAnswer,
    dialogToTag: undefined,
    answeredBy: undefined,
  };
}

describe("call records from HEP (the proxy's view)", () => {
  it("timings, status and backend from what Kamailio received, forwarded and sent the caller; pending, timed out, unrouted, not ours", () => {
    const calls = [
      hepCall("run-1-1@x", 1000, NEW, [resp(100, 1001), resp(180, 1012), resp(200, 1015)], {
        sent: 1120,
        answered: 1123,
      }),
      hepCall("run-2-1@x", 1100, NEW, [resp(100, 1101), resp(500, 1104)]),
      hepCall("run-3-1@x", 1200, OLD, [resp(100, 1201)]), // no answer, 3800 ms old at 5000: pending
      hepCall("run-4-1@x", 500, OLD, [resp(100, 501)]), // no answer for 4500 ms: timed out
      hepCall("run-5-1@x", 1300, undefined, [resp(503, 1301, { origin: "proxy" })]), // Kamailio answered itself
      // its forwarded INVITE's mirror not in yet (another worker mirrored the relayed answer first): routed, not unrouted
      hepCall("run-6-1@x", 1400, undefined, [resp(100, 1401, { origin: "proxy" }), resp(200, 1405)]),
      hepCall("other-1@x", 1000, OLD, [resp(200, 1003)]),
    ];
    const r = callRecordsFromHep(calls, backends, {
      nowMs: 5000,
      timeoutMs: 4000,
      accept: (id) => id.startsWith("run-"),
    });
    assert.deepEqual(r.pending, ["run-3-1@x"]);
    assert.deepEqual(r.unrouted, ["run-5-1@x"]);
    const by = new Map(r.records.map((c) => [c.callId, c]));
    assert.deepEqual([...by.keys()].sort(), ["run-1-1@x", "run-2-1@x", "run-4-1@x"]);
    const one = by.get("run-1-1@x")!;
    assert.deepEqual(
      [
        one.backend,
        one.inviteSentMs,
        one.firstProvisionalOrFinalMs,
        one.finalStatus,
        one.timedOut,
        one.byeSentMs,
        one.byeFinalMs,
      ],
      ["new", 1000, 1012, 200, false, 1120, 1123],
    );
    assert.deepEqual([by.get("run-2-1@x")!.finalStatus, by.get("run-2-1@x")!.firstProvisionalOrFinalMs], [500, 1104]);
    assert.deepEqual(
      [by.get("run-4-1@x")!.timedOut, by.get("run-4-1@x")!.finalStatus, by.get("run-4-1@x")!.backend],
      [true, undefined, "old"],
    );
  });
});

const rec = (backend: BackendRole, at: number, status: number | "timeout", srd = 5): CallRecord => ({
  callId: `${backend}-${at}`,
  backend,
  inviteSentMs: at,
  firstProvisionalOrFinalMs: status === "timeout" ? undefined : at + srd,
  finalStatus: status === "timeout" ? undefined : status,
  timedOut: status === "timeout",
  byeSentMs: undefined,
  byeFinalMs: undefined,
});

describe("the calls behind a failed gate", () => {
  const gate = (g: unknown) => GateSpecSchema.parse(g);
  it("ISA: the first 408/500/503/504 or timeout on new, by INVITE time; a passing gate has none", () => {
    const recs = [
      ...Array.from({ length: 16 }, (_, i) => rec("new", 100 + i, 200)),
      rec("new", 300, 503),
      rec("new", 250, "timeout"),
      rec("new", 400, 486),
      rec("new", 500, 500),
      rec("new", 600, 500),
      rec("old", 10, 503),
    ];
    const g = evaluateGate(
      gate({ kind: "threshold", metric: "isa", atMost: 5 }),
      windowMetrics(recs, { fromMs: 0, toMs: undefined }),
      10,
    );
    assert.equal(g.verdict, "fail");
    // old's 503 is not new's, 486 is not ineffective
    assert.deepEqual(
      failingCalls(g, recs).map((c) => c.inviteSentMs),
      [250, 300, 500, 600],
    );
    const ser = evaluateGate(
      gate({ kind: "threshold", metric: "ser", atLeast: 99 }),
      windowMetrics(recs, { fromMs: 0, toMs: undefined }),
      10,
    );
    assert.deepEqual(
      failingCalls(ser, recs).map((c) => c.inviteSentMs),
      [250, 300, 400, 500, 600],
    );
    const ok = evaluateGate(
      gate({ kind: "threshold", metric: "isa", atMost: 50 }),
      windowMetrics(recs, { fromMs: 0, toMs: undefined }),
      10,
    );
    assert.deepEqual(failingCalls(ok, recs), []);
  });
  it("relative SRD: calls slower than old's value plus the allowance", () => {
    const recs = [
      ...Array.from({ length: 20 }, (_, i) => rec("old", i, 200, 10)),
      ...Array.from({ length: 20 }, (_, i) => rec("new", 100 + i, 200, i < 5 ? 50 : 800)),
    ];
    const g = evaluateGate(
      gate({ kind: "relative", metric: "srd_p95", maxWorseBy: 200 }),
      windowMetrics(recs, { fromMs: 0, toMs: undefined }),
      10,
    );
    assert.equal(g.verdict, "fail");
    // old p95 10 ms + 200: the 800 ms calls, from the sixth on
    assert.equal(failingCalls(g, recs)[0]!.inviteSentMs, 105);
    assert.equal(failingCalls(g, recs).length, 15);
  });
});

describe("the split check", () => {
  it("new's calls within algorithm 9's bound pass, outside fail, with the numbers", () => {
    // 200 calls at 10 %: exactly 20 per two cycles; 2 edge selections widen it to 18-22
    assert.deepEqual(splitCheck({ algorithm: 9, weightNew: 10, toOld: 180, toNew: 20, otherSelections: 2 }).bound, {
      min: 18,
      max: 22,
    });
    assert.equal(
      splitCheck({ algorithm: 9, weightNew: 10, toOld: 180, toNew: 20, otherSelections: 0 }).verdict,
      "pass",
    );
    const off = splitCheck({ algorithm: 9, weightNew: 10, toOld: 177, toNew: 23, otherSelections: 2 });
    assert.equal(off.verdict, "fail");
    assert.match(off.detail, /new 23 of 200 calls OUTSIDE the bound 18-22 at new=10%/);
    assert.equal(splitCheck({ algorithm: 4, weightNew: 0, toOld: 100, toNew: 1, otherSelections: 0 }).verdict, "fail");
  });
  it("a fleet's bound is the sum of its nodes' (each its own algorithm-9 cycle), not one cycle's over the total", () => {
    // three nodes, 30 calls each at 50 %: each node's 30 calls are 30 slots of its own shuffled
    // cycle (0-30 to new); one cycle over 90 calls would say 40-50 and fail 37
    const nodes = [
      { toOld: 20, toNew: 10 },
      { toOld: 15, toNew: 15 },
      { toOld: 18, toNew: 12 },
    ];
    const fleet = fleetSplitCheck({ algorithm: 9, weightNew: 50, nodes, otherSelections: 2 });
    assert.deepEqual([fleet.verdict, fleet.calls, fleet.toNew, fleet.bound], ["pass", 90, 37, { min: 0, max: 90 }]);
    assert.equal(splitCheck({ algorithm: 9, weightNew: 50, toOld: 53, toNew: 37, otherSelections: 6 }).verdict, "fail");
    assert.match(fleet.detail, /new 37 of 90 calls within the bound 0-90 at new=50% \(the sum of 3 nodes' bounds/);
    // 200 calls per node at 10 %: 20 each, 18-22 with 2 edge selections: the sum 54-66
    const big = (toNew: number) => ({ toOld: 200 - toNew, toNew });
    const tight = fleetSplitCheck({
      algorithm: 9,
      weightNew: 10,
      nodes: [big(20), big(20), big(20)],
      otherSelections: 2,
    });
    assert.deepEqual([tight.verdict, tight.bound], ["pass", { min: 54, max: 66 }]);
    assert.equal(
      fleetSplitCheck({ algorithm: 9, weightNew: 10, nodes: [big(20), big(20), big(27)], otherSelections: 2 }).verdict,
      "fail",
    );
    // round-robin: each node alternates on its own
    assert.deepEqual(
      fleetSplitCheck({
        algorithm: 4,
        weightNew: 50,
        nodes: [
          { toOld: 5, toNew: 5 },
          { toOld: 5, toNew: 6 },
        ],
        otherSelections: 0,
      }).bound,
      { min: 10, max: 11 },
    );
  });
});
