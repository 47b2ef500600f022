import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GateSpecSchema, type GateSpec } from "../gates/gate.js";
import type { HepCall, ResponseSeen } from "../hep/evidence.js";
import type { CallRecord } from "../evidence/call-record.js";
import { callsDuring, LiveGates } from "./live-gates.js";

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
    proxy: PROXY,
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

const ISA_STEPS = [
  { weightNew: 0, gates: [] },
  { weightNew: 10, gates: [GateSpecSchema.parse({ kind: "threshold", metric: "isa", atMost: 5 })] },
];

function gates(
  now: { ms: number },
  kernel: { drops: number | undefined } = { drops: 0 },
  o: { steps?: { weightNew: number; gates: GateSpec[] }[]; media?: boolean } = {},
) {
  const calls = new Map<string, HepCall>();
  const g = new LiveGates({
    kernelDrops: () => kernel.drops,
    calls: () => calls.values(),
    call: (id) => calls.get(id),
    backends: { old: OLD, new: NEW },
    callIdPrefix: "run",
    timeoutMs: 4000,
    algorithm: 9,
    steps: o.steps ?? ISA_STEPS,
    now: () => now.ms,
    ...(o.media ? { media: true } : {}),
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

describe("live gates: datagrams the kernel dropped at the collector", () => {
  /** step 1 (ISA of new <= 5 %): 3 calls to new refused, 20 answered, from `at` ms */
  function failingWindow(feed: (c: HepCall) => void, now: { ms: number }, at: number): void {
    for (let i = 0; i < 23; i++) {
      now.ms = at + i * 10;
      feed(answer(forwarded(`run-${at}-${i}`, now.ms, NEW), i < 3 ? 503 : 200, now.ms + 2));
    }
  }

  it("a window that would fail is inconclusive when datagrams were dropped while it was open: no early fail, no rollback", async () => {
    const now = { ms: 1000 };
    const kernel = { drops: 7 as number | undefined };
    const { g, feed } = gates(now, kernel);
    g.open(1); // 7 drops before the window: not its
    kernel.drops = 12;
    let failed = false;
    void g.whenFailed(1).then(() => (failed = true));
    failingWindow(feed, now, 1001);
    await Promise.resolve();
    assert.equal(failed, false, "no early fail on evidence the kernel lost part of");
    assert.equal(g.watch(1).failed, undefined);
    now.ms = 2000;
    const v = g.evaluate(1);
    assert.equal(v.verdict, "inconclusive");
    assert.match(v.detail, /ISA of new <= 5%/);
    assert.match(v.detail, /inconclusive: the kernel dropped 5 HEP datagrams at the collector/);
    assert.equal(g.verdicts.get(1)?.hepKernelDrops, 5);
  });

  it("the same window without drops (or an unreadable counter) fails early as before", async () => {
    for (const drops of [0, undefined]) {
      const now = { ms: 1000 };
      const { g, feed } = gates(now, { drops });
      g.open(1);
      let failed = false;
      void g.whenFailed(1).then(() => (failed = true));
      failingWindow(feed, now, 1001);
      await Promise.resolve();
      assert.equal(failed, true, `drops ${drops}`);
      assert.equal(g.verdicts.get(1)?.verdict, "fail");
      assert.equal(g.verdicts.get(1)?.hepKernelDrops, undefined);
    }
  });

  it("a passing window with drops is inconclusive too: the evidence cannot show what it misses", () => {
    const now = { ms: 1000 };
    const kernel = { drops: 0 as number | undefined };
    const { g, feed } = gates(now, kernel);
    g.open(0);
    for (let i = 0; i < 50; i++) feed(answer(forwarded(`run-${i}`, 1001 + i, OLD), 200, 1002 + i));
    now.ms = 2000;
    assert.equal(g.evaluate(0).verdict, "pass");
    kernel.drops = 1;
    const v = g.evaluate(0);
    assert.equal(v.verdict, "inconclusive");
    assert.match(v.detail, /dropped 1 HEP datagram at the collector/);
  });
});

describe("live gates over a long hold", () => {
  it("keep only the open calls: each call's record goes out once as it ends, the evidence forgets it, the tallies stay", () => {
    const now = { ms: 1000 };
    const calls = new Map<string, HepCall>();
    const records: CallRecord[] = [];
    const g = new LiveGates({
      call: (id) => calls.get(id),
      backends: { old: OLD, new: NEW },
      callIdPrefix: "run",
      timeoutMs: 4000,
      algorithm: 9,
      steps: [{ weightNew: 10, gates: [GateSpecSchema.parse({ kind: "threshold", metric: "srd_p95", atMost: 50 })] }],
      now: () => now.ms,
      onRecord: (r) => records.push(r),
      onOver: (id) => calls.delete(id),
    });
    g.open(0);
    let most = 0;
    for (let i = 0; i < 20_000; i++) {
      now.ms = 1001 + i;
      const c = forwarded(`run-${i}`, now.ms, i % 10 === 0 ? NEW : OLD);
      calls.set(c.callId, c);
      g.observe(c);
      // the 200 OK, then BYE and its answer; every 1000th call gets no answer at all
      if (i % 1000 === 999) continue;
      g.observe(answer(c, 200, now.ms + 5));
      c.dialogToTag = "t";
      c.forwarded["BYE"] = [
        { to: c.forwarded["INVITE"]![0]!.to, transactions: 1, retransmissions: 0, firstUs: (now.ms + 105) * 1000 },
      ];
      c.answerToBye = { ...toCaller(200, now.ms + 106), method: "BYE", cseq: 2 };
      g.observe(c);
      if (i % 500 === 0) g.watch(0);
      most = Math.max(most, g.openCalls, calls.size);
    }
    assert.ok(most < 10, `at most a few calls open at once, was ${most}`);
    now.ms += 5000;
    const v = g.evaluate(0);
    assert.equal(v.verdict, "pass", v.detail);
    const rec = g.verdicts.get(0)!;
    assert.deepEqual(rec.window.routed, { old: 18_000, new: 2000 });
    assert.equal(rec.metrics.old.timedOut + rec.metrics.new.timedOut, 20);
    assert.equal(rec.metrics.new.srdP95Ms, 5);
    g.flush();
    assert.equal(records.length, 20_000, "every call's record once");
    assert.equal(new Set(records.map((r) => r.callId)).size, 20_000);
    assert.equal(records.filter((r) => r.timedOut).length, 20);
    assert.equal(records.find((r) => r.callId === "run-1")?.byeFinalMs, 1002 + 106);
    assert.equal(g.openCalls, 0);
  });

  it("the calls a backend received in a time range, from the run's records", async () => {
    const r = (id: string, backend: "old" | "new", at: number, finalStatus?: number, timedOut = false): CallRecord => ({
      callId: id,
      backend,
      inviteSentMs: at,
      firstProvisionalOrFinalMs: undefined,
      finalStatus,
      timedOut,
      byeSentMs: undefined,
      byeFinalMs: undefined,
    });
    const recs = [
      r("a", "new", 99, 503),
      r("b", "new", 100, 200),
      r("c", "new", 150, 503),
      r("d", "new", 160, undefined, true),
      r("e", "new", 170),
      r("f", "old", 170, 503),
      r("g", "new", 201, 503),
    ];
    assert.deepEqual(await callsDuring(recs, "new", 100, 200), { routed: 4, failed: 2, unanswered: 1 });
  });
});

describe("live gates: the calls' audio", () => {
  it("an answered call's audio counted after it is over goes into its window and can fail the step at once", async () => {
    const now = { ms: 1000 };
    const calls = new Map<string, HepCall>();
    const g = new LiveGates({
      call: (id) => calls.get(id),
      backends: { old: OLD, new: NEW },
      callIdPrefix: "run",
      timeoutMs: 4000,
      algorithm: 9,
      steps: [
        { weightNew: 50, gates: [GateSpecSchema.parse({ kind: "threshold", metric: "one_way_calls", atMost: 0 })] },
      ],
      now: () => now.ms,
      media: true,
    });
    g.open(0);
    let failed: string | undefined;
    void g.whenFailed(0).then((r) => (failed = r.detail));
    const ok = answer(forwarded("run-1", 1001, NEW), 200, 1002);
    calls.set(ok.callId, ok);
    g.observe(ok);
    const mute = answer(forwarded("run-2", 1003, NEW), 200, 1004);
    calls.set(mute.callId, mute);
    g.observe(mute);
    assert.deepEqual(g.mediaOwed(0).sort(), ["run-1", "run-2"]);
    g.observeMedia("run-1", { judged: true, oneWay: false, expected: 50, lost: 0 });
    assert.equal(g.stillOwed(0, ["run-1", "run-2"]), 1);
    await Promise.resolve();
    assert.equal(failed, undefined);
    g.observeMedia("run-2", { judged: true, oneWay: true, expected: 50, lost: 50 });
    // counted once only
    g.observeMedia("run-2", { judged: true, oneWay: true, expected: 50, lost: 50 });
    await Promise.resolve();
    assert.match(failed ?? "", /one-way calls of new <= 0: new 1 one-way of 2 calls with audio judged/);
    assert.equal(g.verdicts.get(0)?.firstFailingCallMs, 1003);
    assert.deepEqual(g.verdicts.get(0)?.metrics.new.media, {
      judged: 2,
      oneWay: 1,
      expected: 100,
      lost: 50,
      lossPercent: 50,
    });
    assert.equal(g.stillOwed(0, ["run-1", "run-2"]), 0);
  });
});

describe("live gates: a one-way call stands when HEP was lost", () => {
  const mediaGates = (now: { ms: number }, kernel: { drops: number }) =>
    gates(now, kernel, {
      steps: [
        {
          weightNew: 50,
          gates: [
            GateSpecSchema.parse({ kind: "threshold", metric: "one_way_calls", atMost: 0 }),
            GateSpecSchema.parse({ kind: "threshold", metric: "isa", atMost: 5 }),
          ],
        },
      ],
      media: true,
    });

  it("dropped datagrams do not hold back a one-way call's fail (early and at the end), and the note says why it stands", async () => {
    const now = { ms: 1000 };
    const kernel = { drops: 0 };
    const { g, feed } = mediaGates(now, kernel);
    g.open(0);
    let failed: string | undefined;
    void g.whenFailed(0).then((r) => (failed = r.detail));
    // ISA fails on 3 of 23 with drops: no verdict on that alone
    kernel.drops = 4;
    for (let i = 0; i < 23; i++) feed(answer(forwarded(`run-${i}`, 1001 + i, NEW), i < 3 ? 503 : 200, 1002 + i));
    await Promise.resolve();
    assert.equal(failed, undefined, "ISA alone on lossy evidence: no early fail");
    g.observeMedia("run-5", { judged: true, oneWay: false, expected: 50, lost: 0 });
    g.observeMedia("run-6", { judged: true, oneWay: true, expected: 50, lost: 50 });
    await Promise.resolve();
    assert.match(failed ?? "", /^failed: one-way calls of new <= 0: new 1 one-way of 2 calls with audio judged/);
    assert.doesNotMatch(failed ?? "", /ISA/, "only the gate the drops cannot overturn is named");
    assert.match(failed ?? "", /the kernel dropped 4 HEP datagrams .* the one-way calls stand/);
    assert.equal(g.verdicts.get(0)?.verdict, "fail");
    assert.equal(g.verdicts.get(0)?.hepKernelDrops, 4);
    now.ms = 2000;
    const v = g.evaluate(0);
    assert.equal(v.verdict, "fail");
    assert.match(v.detail, /one-way calls of new <= 0.*; the kernel dropped 4 HEP datagrams/);
  });

  it("with drops and no one-way call the window stays inconclusive", () => {
    const now = { ms: 1000 };
    const kernel = { drops: 0 };
    const { g, feed } = mediaGates(now, kernel);
    g.open(0);
    kernel.drops = 2;
    for (let i = 0; i < 23; i++) feed(answer(forwarded(`run-${i}`, 1001 + i, NEW), 200, 1002 + i));
    for (let i = 0; i < 23; i++) g.observeMedia(`run-${i}`, { judged: true, oneWay: false, expected: 50, lost: 0 });
    now.ms = 2000;
    const v = g.evaluate(0);
    assert.equal(v.verdict, "inconclusive");
    assert.match(v.detail, /inconclusive: the kernel dropped 2 HEP datagrams/);
  });
});

describe("live gates: probe calls counted apart", () => {
  function probeGates(now: { ms: number }) {
    const calls = new Map<string, HepCall>();
    const g = new LiveGates({
      calls: () => calls.values(),
      call: (id) => calls.get(id),
      backends: { old: OLD, new: NEW },
      // a production node: every mirrored call is a user's, but the probe calls
      callIdPrefix: undefined,
      probeCallIdPrefix: "pbxc-abc123-probe",
      timeoutMs: 4000,
      algorithm: 4,
      steps: [{ weightNew: 50, gates: [GateSpecSchema.parse({ kind: "threshold", metric: "isa", atMost: 5 })] }],
      now: () => now.ms,
    });
    const feed = (c: HepCall): void => {
      calls.set(c.callId, c);
      g.observe(c);
    };
    return { g, feed };
  }

  it("failing probe calls do not count in the users' gates (no early fail) but fail the step at its end, with their own numbers", () => {
    const now = { ms: 1000 };
    const { g, feed } = probeGates(now);
    g.open(0);
    for (let i = 0; i < 20; i++) {
      const to = i % 2 === 0 ? OLD : NEW;
      feed(answer(forwarded(`user-${i}`, 1001 + i, to), 200, 1005 + i));
      feed(answer(forwarded(`pbxc-abc123-probe-${i}-1@x`, 1001 + i, to), to === NEW ? 503 : 200, 1005 + i));
    }
    now.ms = 2000;
    assert.equal(g.watch(0).failed, undefined, "the users' calls alone decide early");
    assert.equal(g.watch(0).routed, 40, "a hold waits for every call routed, probes too");
    const v = g.evaluate(0);
    const rec = g.verdicts.get(0)!;
    assert.equal(v.verdict, "fail");
    assert.match(v.detail, /probe calls: .*ISA/);
    assert.equal(rec.judgedOn, "users");
    assert.deepEqual(rec.window.routed, { old: 20, new: 20 });
    assert.deepEqual(rec.probe?.routed, { old: 10, new: 10 });
    assert.deepEqual(
      [rec.metrics.new.invites, rec.probe?.metrics.new.invites, rec.probe?.metrics.new.ineffective],
      [10, 10, 10],
    );
    assert.equal(rec.probe?.verdict, "fail");
  });

  it("a window without a single user call is judged on its probe calls", () => {
    const now = { ms: 1000 };
    const { g, feed } = probeGates(now);
    g.open(0);
    for (let i = 0; i < 40; i++)
      feed(answer(forwarded(`pbxc-abc123-probe-${i}-1@x`, 1001 + i, i % 2 === 0 ? OLD : NEW), 200, 1005 + i));
    now.ms = 2000;
    const v = g.evaluate(0);
    assert.equal(v.verdict, "pass", v.detail);
    assert.match(v.detail, /^no user calls in the window: judged on its 40 probe calls/);
    assert.equal(g.verdicts.get(0)!.judgedOn, "probes");
  });
});
