import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GateSpecSchema } from "../gates/gate.js";
import type { HepCall, ResponseSeen } from "../hep/evidence.js";
import { LiveGates } from "./live-gates.js";

const PROXY = "127.0.0.1:15060";
const CALLER = "127.0.0.1:40000";
const OLD = "127.0.0.1:15070";
const NEW = "127.0.0.1:15080";

const toCaller = (status: number, ms: number): ResponseSeen => ({
  status,
  reason: "",
  cseq: 1,
  method: "INVITE",
  from: PROXY,
  to: CALLER,
  toTag: "t",
  origin: "relayed",
  copies: 1,
  firstUs: ms * 1000,
});

/** A call as the evidence holds it once Kamailio forwarded its INVITE at `at` ms (no answer yet). */
function forwarded(id: string, at: number, to: string): HepCall {
  return {
    callId: id,
    caller: CALLER,
    inviteReceivedUs: at * 1000,
    forwarded: { INVITE: [{ to, transactions: 1, retransmissions: 0, firstUs: at * 1000 + 100 }] },
    responses: [],
    answerToInvite: undefined,
    answerToBye: undefined,
    dialogToTag: undefined,
    answeredBy: undefined,
  };
}
function answer(c: HepCall, status: number, ms: number): HepCall {
  const r = toCaller(status, ms);
  c.responses.push(r);
  c.answerToInvite = r;
  return c;
}

function gates(now: { ms: number }) {
  const calls = new Map<string, HepCall>();
  const g = new LiveGates({
    calls: () => calls.values(),
    call: (id) => calls.get(id),
    backends: { old: OLD, new: NEW },
    callIdPrefix: "run",
    timeoutMs: 4000,
    algorithm: 9,
    steps: [
      { weightNew: 0, gates: [] },
      { weightNew: 10, gates: [GateSpecSchema.parse({ kind: "threshold", metric: "isa", atMost: 5 })] },
    ],
    now: () => now.ms,
  });
  /** the evidence took a message of this call, then the gates see it */
  const feed = (c: HepCall): void => {
    calls.set(c.callId, c);
    g.observe(c);
  };
  return { g, feed };
}

describe("live gates: evaluated on each answer", () => {
  it("the step fails at the answer that makes it certain (2 ineffective of 20 needed), with how it was decided", async () => {
    const now = { ms: 900 };
    const { g, feed } = gates(now);
    feed(answer(forwarded("run-0", 950, NEW), 503, 960)); // before the window: not counted
    now.ms = 1000;
    g.open(1);
    const got: { r?: Awaited<ReturnType<LiveGates["whenFailed"]>> } = {};
    void g.whenFailed(1).then((r) => (got.r = r));
    feed(answer(forwarded("other-1", 1001, NEW), 503, 1002)); // not this run's
    for (let i = 1; i <= 5; i++) {
      now.ms = 1000 + i * 20;
      const c = forwarded(`run-${i}`, now.ms, NEW);
      feed(c);
      now.ms += 5;
      feed(answer(c, 200, now.ms));
    }
    feed(answer(forwarded("run-old", 1110, OLD), 200, 1112));
    now.ms = 1130;
    feed(answer(forwarded("run-6", 1125, NEW), 500, 1128));
    await Promise.resolve();
    assert.equal(got.r, undefined, "1 of 20 could still be 5 %");
    assert.equal(g.watch(1).failed, undefined);
    assert.equal(g.watch(1).routed, 7);
    now.ms = 1160;
    feed(answer(forwarded("run-7", 1150, NEW), 503, 1155));
    await Promise.resolve();
    const failed = got.r as Awaited<ReturnType<LiveGates["whenFailed"]>> | undefined;
    assert.equal(failed?.verdict, "fail");
    assert.match(failed?.detail, /ISA of new <= 5%: new 2 ineffective of 7: at least 10% at the 20 calls needed/);
    assert.equal(failed?.firstFailingCallMs, 1125, "the first failing call's INVITE");
    assert.deepEqual(failed?.decided, {
      firstFailingAnswerMs: 1128,
      decidingAnswerMs: 1155,
      decidingSeenMs: 1160,
      verdictMs: 1160,
    });
    assert.equal(g.watch(1).failed?.verdict, "fail");
    assert.equal(g.verdicts.get(1)?.early, true);
    assert.deepEqual(g.verdicts.get(1)?.window.routed, { old: 1, new: 7 });
  });

  it("a pending call becomes a timeout at the tick after its 4 s, and that is evidence too", async () => {
    const now = { ms: 1000 };
    const { g, feed } = gates(now);
    g.open(1);
    let failed = false;
    void g.whenFailed(1).then(() => (failed = true));
    feed(forwarded("run-1", 1001, NEW)); // never answered
    feed(forwarded("run-2", 1002, NEW)); // never answered
    now.ms = 4900;
    g.watch(1);
    await Promise.resolve();
    assert.equal(failed, false, "still pending at 3.9 s");
    now.ms = 5010;
    assert.equal(g.watch(1).failed?.verdict, "fail");
    await Promise.resolve();
    assert.equal(failed, true);
    assert.equal(g.verdicts.get(1)?.metrics.new.timedOut, 2);
  });

  it("whenFailed of a step that is not the open one never resolves; the final evaluate still judges the whole window", async () => {
    const now = { ms: 1000 };
    const { g, feed } = gates(now);
    g.open(0);
    let resolved = false;
    void g.whenFailed(1).then(() => (resolved = true));
    for (let i = 0; i < 100; i++) feed(answer(forwarded(`run-${i}`, 1001 + i, OLD), 200, 1002 + i));
    await Promise.resolve();
    assert.equal(resolved, false);
    now.ms = 2000;
    assert.equal(g.evaluate(0).verdict, "pass");
    assert.match(g.evaluate(0).detail, /new 0 of 100 calls/);
  });
});
