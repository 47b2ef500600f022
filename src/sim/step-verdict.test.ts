import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PhaseEvidence } from "../evidence/assertions.js";
import type { CallEvidence } from "../evidence/call.js";
import { planFromInput, planWithMediaGates } from "../plan/plan.js";
import { simPlan } from "./sim-plan.js";
import { simStepVerdict, stepAssertions, type CallAudioVerdict } from "./step-verdict.js";

const stamp = (ms: number): string =>
  `2026-12-07 02:00:${String(10 + Math.floor(ms / 1000)).padStart(2, "0")}.${String(ms % 1000).padStart(3, "0")}000`;

/** call n of a new10 burst: at `backend`, answered `status` 20 ms after its INVITE */
function call(n: number, backend: "old" | "new", status = 200): CallEvidence {
  const at = n * 10;
  const seen = { transactions: 1, retransmissions: 0, firstStamp: stamp(at) };
  return {
    callId: `pbxc-abc123-new10-${n}-1@127.0.0.1`,
    burst: "new10",
    phase: "new10",
    invite: { [backend]: { ...seen, answer: { status, toTag: "t", stamp: stamp(at + 20) } } },
    bye: status === 200 ? { [backend]: seen } : {},
    uac: {
      inviteSentStamp: stamp(at),
      firstResponseStamp: stamp(at + 20),
      inviteStatus: status,
      inviteStatusStamp: stamp(at + 20),
      ...(status === 200
        ? {
            dialogToTag: "t",
            byeSentStamp: stamp(at + 100),
            byeStatus: 200,
            byeStatusStamp: stamp(at + 101),
            byeToTag: "t",
          }
        : {}),
    },
  };
}

/** 200 calls at new=10 %: every tenth to new; `refuse` of new's calls answered 503 */
function burst(toNew: number, refuse = 0): CallEvidence[] {
  const calls: CallEvidence[] = [];
  let refused = 0;
  for (let n = 1; n <= 200; n++) {
    const isNew = n % 10 === 0 && n / 10 <= toNew;
    calls.push(call(n, isNew ? "new" : "old", isNew && refused++ < refuse ? 503 : 200));
  }
  return calls;
}

const evidence = (calls: CallEvidence[]): PhaseEvidence => ({
  phase: "new10",
  expectedCalls: 200,
  calls,
  unexpected: [],
  inviteDelta: { old: 0, new: 0 },
  rawInviteDelta: { old: 0, new: 0 },
  backendLogs: true,
});

const plan = simPlan(planFromInput({ steps: [0, 10, 100] }, "test"), 10, 9);
const step = plan.steps[1]!;

describe("a weighted sim step: its assertions and its gates, from the same calls", () => {
  it("healthy: 20 of 200 calls to new, split within the bound, every gate passes", () => {
    const calls = burst(20);
    const a = stepAssertions(evidence(calls), step, 9);
    assert.deepEqual(
      a.map((x) => [x.name, x.verdict]),
      [
        ["split", "pass"],
        ["completed", "pass"],
        ["no-lost", "pass"],
        ["no-unexpected", "pass"],
      ],
    );
    assert.match(a[0]!.details, /new 20 of 200 calls within the bound/);
    const v = simStepVerdict(step, calls, a);
    assert.equal(v.verdict, "pass", v.detail);
    assert.deepEqual(
      v.gates?.map((g) => [g.name, g.verdict]),
      [
        ["SER of new not worse than old by more than 2 points", "pass"],
        ["ISA of new <= 5%", "pass"],
        ["SRD p95 of new not worse than old by more than 200 ms", "pass"],
      ],
    );
  });

  it("new refuses 4 of its 20 calls: ISA and SER fail, the first refused call named", () => {
    const calls = burst(20, 4);
    const v = simStepVerdict(step, calls, stepAssertions(evidence(calls), step, 9));
    assert.equal(v.verdict, "fail");
    assert.match(v.detail, /ISA of new <= 5%: new 20% \(4 of 20\) > 5%/);
    assert.equal(v.firstFailingCallMs, Date.parse("2026-12-07T02:00:10.100"));
  });

  it("too few calls at new: inconclusive, never pass; a split outside its bound fails the step", () => {
    const few = burst(20).slice(0, 100);
    const v = simStepVerdict(step, few, stepAssertions(evidence(few), step, 9));
    assert.equal(v.verdict, "inconclusive");
    assert.match(v.detail, /new: 10 of the 20 calls needed/);
    // 10 more calls to new than the bound allows
    const skewed = burst(20).map((c, i) => (i % 10 === 4 && i < 100 ? call(i + 1, "new") : c));
    const a = stepAssertions(evidence(skewed), step, 9);
    assert.equal(a[0]!.verdict, "fail");
    assert.equal(simStepVerdict(step, skewed, a).verdict, "fail");
  });

  it("a step without gates: no verdict of its own (the assertions decide the exit code)", () => {
    const bare = simPlan(planFromInput({ defaults: { gates: [] }, steps: [0, 10] }, "test"), 10, 9).steps[1]!;
    assert.equal(simStepVerdict(bare, burst(20), []).verdict, "none");
  });

  describe("with audio: the media gates on the same calls (sim --steps / --plan with media on)", () => {
    const mediaStep = simPlan(planWithMediaGates(planFromInput({ steps: [0, 10, 100] }, "test"), true, "-"), 10, 9)
      .steps[1]!;
    const both = { judged: true, oneWay: false, expected: 49, lost: 0 };
    const why = (id: string): string => `PBX->caller 0 packets from 127.0.0.1:9 (expected >= 45 of 49) [${id}]`;
    /** new's calls one-way when `mute`; old's lose `oldLost` of 49 each */
    const audio =
      (mute: boolean, oldLost = 0) =>
      (callId: string): CallAudioVerdict => {
        const isNew = burst(20).find((c) => c.callId === callId)?.invite.new !== undefined;
        if (isNew && mute) return { audio: { judged: true, oneWay: true, expected: 49, lost: 49 }, why: why(callId) };
        return { audio: { ...both, lost: isNew ? 0 : oldLost }, why: undefined };
      };

    it("every call both ways: the step's gates include one-way calls and RTP loss, and pass", () => {
      const calls = burst(20);
      const v = simStepVerdict(mediaStep, calls, stepAssertions(evidence(calls), mediaStep, 9), audio(false));
      assert.equal(v.verdict, "pass", v.detail);
      assert.deepEqual(
        v.gates?.filter((g) => /one-way|RTP/.test(g.name)).map((g) => [g.name, g.verdict, g.detail]),
        [
          ["one-way calls of new <= 0", "pass", "new 0 (of 20 calls with audio judged) <= 0"],
          [
            "RTP loss of new not worse than old by more than 1 points",
            "pass",
            "new 0% (0 of 980 packets) vs old 0% (0 of 8820 packets): equal (allowed 1 points)",
          ],
        ],
      );
    });

    it("new answers and sends nothing back: one-way calls fail the step, naming calls, direction and counts", () => {
      const calls = burst(20);
      const v = simStepVerdict(mediaStep, calls, stepAssertions(evidence(calls), mediaStep, 9), audio(true));
      assert.equal(v.verdict, "fail", v.detail);
      assert.match(v.detail, /one-way calls of new <= 0: new 20 \(of 20 calls with audio judged\) > 0/);
      const named = /one-way calls of new: (.*)$/.exec(v.detail);
      assert.ok(named, v.detail);
      assert.match(
        named[1]!,
        /^pbxc-abc123-new10-10-1@127\.0\.0\.1: PBX->caller 0 packets from 127\.0\.0\.1:9 \(expected >= 45 of 49\) \[[^\]]+\]; pbxc-abc123-new10-20-1@.*; and 17 more$/,
      );
      // without the calls' audio the same step could not decide on it
      const blind = simStepVerdict(mediaStep, calls, stepAssertions(evidence(calls), mediaStep, 9));
      assert.equal(blind.verdict, "inconclusive", blind.detail);
    });

    it("old losing packets does not fail new; new losing 2 points more than old does", () => {
      const calls = burst(20);
      const a = stepAssertions(evidence(calls), mediaStep, 9);
      assert.equal(simStepVerdict(mediaStep, calls, a, audio(false, 5)).verdict, "pass");
      const lossy = (callId: string): CallAudioVerdict => {
        const isNew = burst(20).find((c) => c.callId === callId)?.invite.new !== undefined;
        return { audio: { ...both, lost: isNew ? 1 : 0 }, why: undefined };
      };
      const v = simStepVerdict(mediaStep, calls, a, lossy);
      assert.equal(v.verdict, "fail", v.detail);
      assert.match(
        v.detail,
        /RTP loss of new not worse than old by more than 1 points: new 2\.04% \(20 of 980 packets\)/,
      );
    });
  });
});
