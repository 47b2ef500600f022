import assert from "node:assert/strict";
import { test } from "node:test";
import {
  changedAssertions,
  noLostAssertion,
  phaseAssertions,
  routingAssertion,
  splitAssertion,
  type PhaseEvidence,
} from "./assertions.js";
import type { CallEvidence, RequestSeen } from "./call.js";
import type { BackendRole } from "../core/backend-role.js";

const seen: RequestSeen = { transactions: 1, retransmissions: 0, firstStamp: "2026-12-01 18:00:00.000000" };

/** a call the UAC sent whose INVITE reached `at` (none: lost, or sent to a destination that is neither backend) */
function call(n: number, at: BackendRole[]): CallEvidence {
  return {
    callId: `pbxc-abc123-new-${n}-1@127.0.0.1`,
    burst: "new",
    phase: "new",
    invite: Object.fromEntries(at.map((b) => [b, seen])),
    bye: {},
    uac: { inviteSentStamp: seen.firstStamp, inviteStatus: 503, unanswered: true },
  };
}

function phase(calls: CallEvidence[]): PhaseEvidence {
  return {
    phase: "new",
    expectedCalls: calls.length,
    calls,
    unexpected: [],
    inviteDelta: { old: 0, new: 0 },
    rawInviteDelta: { old: 0, new: 0 },
    backendLogs: true,
  };
}

test("calls that reached no backend read as lost / unknown destination, not as a misroute", () => {
  const p = phase(Array.from({ length: 20 }, (_, i) => call(i + 1, [])));
  const r = routingAssertion(p, "new");
  assert.equal(r.verdict, "fail");
  assert.equal(
    r.details,
    "0/20 calls reached new only, 0 reached old; 20 lost / unknown destination (reached neither old nor new)",
  );
  assert.deepEqual([r.numbers.lost, r.numbers.reached_old, r.numbers.reached_new], [20, 0, 0]);
  assert.equal(r.offenders[0], "pbxc-abc123-new-1-1@127.0.0.1: INVITE reached no backend (lost / unknown destination)");
  const l = noLostAssertion(p);
  assert.equal(
    l.details,
    "0/20 calls seen on exactly one backend; 20 lost / unknown destination (reached no backend), 0 on both",
  );
});

test("misrouted, on both and lost are told apart in one routing line", () => {
  const p = phase([call(1, ["new"]), call(2, ["new"]), call(3, ["old"]), call(4, ["old", "new"]), call(5, [])]);
  const r = routingAssertion(p, "new");
  assert.equal(
    r.details,
    "2/5 calls reached new only, 1 reached old (misrouted), 1 reached both; 1 lost / unknown destination (reached neither old nor new)",
  );
  assert.deepEqual(r.offenders, [
    "pbxc-abc123-new-3-1@127.0.0.1: INVITE reached old",
    "pbxc-abc123-new-4-1@127.0.0.1: INVITE reached old+new",
    "pbxc-abc123-new-5-1@127.0.0.1: INVITE reached no backend (lost / unknown destination)",
  ]);
  const all = routingAssertion(phase([call(1, ["new"]), call(2, ["new"])]), "new");
  assert.deepEqual([all.verdict, all.details], ["pass", "2/2 calls reached new only, 0 reached old"]);
});

test("split names the lost calls too", () => {
  const s = splitAssertion(phase([call(1, ["old"]), call(2, ["new"]), call(3, [])]));
  assert.equal(
    s.details,
    "split old 1 / new 1 of 3 (round-robin: each >= 1, within +-1 of even); 1 lost / unknown destination (reached neither old nor new)",
  );
  assert.equal(s.numbers.lost, 1);
});

test("changedAssertions reports what re-judging changed, and nothing when nothing did", () => {
  const before = phaseAssertions(phase([call(1, ["new"]), call(2, [])]), "new");
  const after = phaseAssertions(phase([call(1, ["new"]), call(2, ["new"])]), "new");
  assert.deepEqual(changedAssertions(before, before), []);
  const changed = changedAssertions(before, after);
  assert.ok(
    changed.includes("new routing: fail -> pass: 2/2 calls reached new only, 0 reached old"),
    changed.join("\n"),
  );
  assert.ok(changed.some((c) => c.startsWith("new no-lost: fail -> pass: ")));
  assert.ok(
    changed.every((c) => !c.startsWith("new completed")),
    "completed did not change: both calls still failed",
  );
});
