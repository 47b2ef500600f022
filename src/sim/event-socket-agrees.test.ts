import assert from "node:assert/strict";
import { test } from "node:test";
import type { FreeswitchCall } from "../evidence/event-socket.js";
import type { BackendRole } from "../core/backend-role.js";
import type { CallEvidence } from "../evidence/call.js";
import {
  eventSocketAgreesAssertion,
  longCallHungUpAtOldAssertion,
  pbxCallsOfPhase,
  pbxDisagreements,
  pbxPending,
} from "./event-socket-agrees.js";

const id = (burst: string, n: number): string => `pbxc-ab12cd-${burst}-${n}-4242@127.0.0.1`;

/** a call as the HEP book holds it: INVITE and BYE at `b`, each answered `inv` / `bye` */
function hepCall(callId: string, b: BackendRole, o: { inv?: number; bye?: number | null } = {}): CallEvidence {
  const seen = (status: number | undefined, toTag: string) => ({
    transactions: 1,
    retransmissions: 0,
    firstStamp: "",
    ...(status !== undefined ? { answer: { status, toTag, stamp: "" } } : {}),
  });
  const byeStatus = o.bye === undefined ? 200 : o.bye;
  return {
    callId,
    burst: "old",
    phase: "old",
    invite: { [b]: seen(o.inv ?? 200, "t1") },
    bye: byeStatus === null ? {} : { [b]: seen(byeStatus, "t1") },
    uac: {
      inviteSentStamp: "x",
      inviteStatus: 200,
      dialogToTag: "t1",
      byeSentStamp: "y",
      byeStatus: 200,
      byeToTag: "t1",
    },
  };
}

/** a call as a FreeSWITCH's event socket reports it (answered at 1000, hung up at 2000 by default) */
function fsCall(callId: string, o: Partial<FreeswitchCall> = {}): FreeswitchCall {
  return {
    callId,
    channels: ["u1"],
    createdAtMs: 1000,
    answeredAtMs: 1000,
    hungUpAtMs: 2000,
    hangupCause: "NORMAL_CLEARING",
    hangupDisposition: "recv_bye",
    byeReceived: true,
    complete: true,
    ...o,
  };
}

test("HEP and the event sockets agree: same backend for INVITE, answer and the BYE that ended the call", () => {
  const hep = [hepCall(id("old", 1), "old"), hepCall(id("old", 2), "new")];
  const pbx = { old: [fsCall(id("old", 1))], new: [fsCall(id("old", 2))] };
  assert.deepEqual(pbxDisagreements(hep, pbx), []);
  const a = eventSocketAgreesAssertion("old", hep, pbx);
  assert.equal(a.verdict, "pass");
  assert.equal(a.source, "hep+event-socket");
  assert.match(a.details, /agree on all 2 calls/);
});

test("a call FreeSWITCH saw that HEP did not, a BYE HEP saw answered that FreeSWITCH did not end on, another backend: each named", () => {
  const hep = [hepCall(id("old", 1), "old"), hepCall(id("old", 2), "old")];
  const pbx = {
    old: [fsCall(id("old", 1), { byeReceived: false, hangupDisposition: "send_bye" })],
    new: [fsCall(id("old", 2)), fsCall(id("old", 3))],
  };
  const d = pbxDisagreements(hep, pbx);
  assert.deepEqual(d, [
    { callId: id("old", 1), differences: { hungUpByBye: "hep old / event socket none" } },
    {
      callId: id("old", 2),
      differences: {
        invite: "hep old / event socket new",
        answered: "hep old / event socket new",
        hungUpByBye: "hep old / event socket new",
      },
    },
    {
      callId: id("old", 3),
      differences: {
        invite: "hep none / event socket new",
        answered: "hep none / event socket new",
        hungUpByBye: "hep none / event socket new",
      },
    },
  ]);
  const a = eventSocketAgreesAssertion("old", hep, pbx);
  assert.equal(a.verdict, "fail");
  assert.match(a.details, /disagree on 3 of 3 calls/);
  assert.match(a.offenders[0]!, /hungUpByBye hep old \/ event socket none/);
  // no calls at all is not agreement
  assert.equal(eventSocketAgreesAssertion("old", [], { old: [], new: [] }).verdict, "fail");
});

test("a BYE answered 481 (no dialog) is no hang-up on either side; pending = HEP saw the 200, the event socket not the end yet", () => {
  const hep = [hepCall(id("old", 1), "old", { bye: 481 })];
  assert.deepEqual(
    pbxDisagreements(hep, {
      old: [fsCall(id("old", 1), { complete: false, byeReceived: false, hungUpAtMs: undefined })],
      new: [],
    }),
    [],
  );
  const ok = [hepCall(id("old", 2), "old")];
  assert.deepEqual(pbxPending(ok, { old: [fsCall(id("old", 2), { complete: false, byeReceived: false })], new: [] }), [
    `${id("old", 2)}@old`,
  ]);
  assert.deepEqual(pbxPending(ok, { old: [fsCall(id("old", 2))], new: [] }), []);
});

test("a phase's PBX calls are this run's, by the Call-ID's burst", () => {
  const pbx = {
    old: [fsCall(id("old", 1)), fsCall(id("long", 1)), fsCall("pbxc-ffffff-old-1-1@127.0.0.1"), fsCall("foreign@x")],
    new: [fsCall(id("post", 2))],
  };
  const inflight = pbxCallsOfPhase(pbx, "ab12cd", "inflight");
  assert.deepEqual(
    inflight.old.map((c) => c.callId),
    [id("long", 1)],
  );
  assert.deepEqual(
    inflight.new.map((c) => c.callId),
    [id("post", 2)],
  );
  assert.deepEqual(
    pbxCallsOfPhase(pbx, "ab12cd", "old").old.map((c) => c.callId),
    [id("old", 1)],
  );
});

test("long-call-hung-up-at-old: passes only when old's channel ended on the caller's BYE after the cutover and new never saw it", () => {
  const long = { ...hepCall(id("long", 1), "old"), burst: "long" as const, phase: "inflight" as const };
  const ok = longCallHungUpAtOldAssertion(
    long,
    { old: [fsCall(long.callId, { answeredAtMs: 1000, hungUpAtMs: 26000 })], new: [] },
    1500,
  );
  assert.equal(ok.verdict, "pass", ok.details);
  assert.equal(ok.source, "event-socket");
  assert.match(
    ok.details,
    /hung up by the caller's BYE \(recv_bye, NORMAL_CLEARING\) 25000 ms after it answered, 24500 ms after the cutover/,
  );
  const cases: [string, Parameters<typeof longCallHungUpAtOldAssertion>[1], RegExp][] = [
    ["never seen", { old: [], new: [] }, /never reported a channel/],
    [
      "still up",
      { old: [fsCall(long.callId, { complete: false, byeReceived: false, hungUpAtMs: undefined })], new: [] },
      /never ended/,
    ],
    [
      "ended by itself",
      { old: [fsCall(long.callId, { byeReceived: false, hangupDisposition: "send_bye", hungUpAtMs: 26000 })], new: [] },
      /without the caller's BYE \(disposition send_bye/,
    ],
    [
      "at new too",
      { old: [fsCall(long.callId, { hungUpAtMs: 26000 })], new: [fsCall(long.callId)] },
      /new's event socket reported/,
    ],
    ["before the cutover", { old: [fsCall(long.callId, { hungUpAtMs: 1200 })], new: [] }, /before the cutover/],
  ];
  for (const [what, pbx, re] of cases) {
    const a = longCallHungUpAtOldAssertion(long, pbx, 1500);
    assert.equal(a.verdict, "fail", what);
    assert.match(a.details, re, what);
    assert.equal(a.offenders.length, 1, what);
  }
  assert.equal(longCallHungUpAtOldAssertion(undefined, { old: [], new: [] }, 1500).verdict, "fail");
});
