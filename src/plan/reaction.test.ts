import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { reactionChain, reactionSegments, reactionText } from "./reaction.js";

const timings = { lockMs: 0.1, backupMs: 1.9, writeMs: 1, reloadMs: 30, verifyMs: 2, totalMs: 35 };

describe("the reaction chain", () => {
  it("links from the decision, the runner and the apply's timings; segments between consecutive links", () => {
    const c = reactionChain(
      1000,
      { firstFailingAnswerMs: 1003, decidingAnswerMs: 1100, decidingSeenMs: 1101, verdictMs: 1101.5 },
      1102,
      1103,
      { timings, reload: { lastAttemptMs: 1 } as never },
      1140,
    );
    // written = start + lock + backup + write; the accepted reload was the last 1 ms of the 30 ms reload
    assert.deepEqual([c.writtenMs, c.reloadSentMs, c.reloadAnsweredMs], [1106, 1135, 1136]);
    const seg = reactionSegments(c);
    assert.deepEqual(seg, {
      answer: 3,
      evidence: 97,
      mirror: 1,
      verdict: 0.5,
      notice: 0.5,
      start: 1,
      write: 3,
      guard: 29,
      reload: 1,
      verify: 4,
    });
    const total = Object.values(seg).reduce((a, b) => a + b, 0);
    assert.equal(total, c.restoredMs - c.firstFailingInviteMs, "the segments add up to the reaction");
    assert.equal(
      reactionText(seg),
      "answer 3 ms, evidence 97 ms, mirror 1 ms, verdict 1 ms, notice 1 ms, start 1 ms, write 3 ms, guard 29 ms, reload 1 ms, verify 4 ms",
    );
  });

  it("a fail found at the hold's end has no live decision: its time is in the notice segment", () => {
    const c = reactionChain(1000, undefined, 1500, 1501, { timings, reload: undefined }, 1540);
    const seg = reactionSegments(c);
    assert.deepEqual(Object.keys(seg), ["notice", "start", "write", "guard", "reload", "verify"]);
    assert.equal(seg.notice, 500);
    assert.equal(seg.guard, 0, "no reload report: the whole reload counts as the reload");
  });
});
