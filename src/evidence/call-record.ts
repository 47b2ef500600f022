/**
 * The per-call record the gates read (pure data), and the book's calls as such records. Every
 * evidence source ends here: the book's calls (SIPp message logs, HEP through the feed) by
 * `callRecordOf`, what Kamailio mirrored by `callRecordFromHep` (hep-records.ts). Times are
 * milliseconds on one clock (epoch ms, or any monotonic origin shared by the records of a window);
 * the metrics only ever subtract times of the same call, and compare inviteSentMs with the window.
 */
import type { BackendRole } from "../core/backend-role.js";
import { stampMs } from "../sip/message-log.js";
import type { CallEvidence } from "./call.js";
import { backendsOf } from "./outcome.js";

export interface CallRecord {
  callId: string;
  /** the backend that received the call's INVITE */
  backend: BackendRole;
  /** when the caller sent the INVITE (the first copy) */
  inviteSentMs: number;
  /** when the caller received the first response other than 100 Trying: a provisional (180, 183) or the final */
  firstProvisionalOrFinalMs: number | undefined;
  /** the final response to the INVITE (200, 486, 503...), undefined when none came */
  finalStatus: number | undefined;
  /** no final response within the caller's timeout */
  timedOut: boolean;
  /** when the caller sent BYE, undefined for a call that never got that far */
  byeSentMs: number | undefined;
  /** when the caller received the final response to that BYE */
  byeFinalMs: number | undefined;
  /** its audio, once counted (calls that carry media; after the call ended) */
  media?: CallAudio;
}

/** A call's audio as verdicts count it (src/media/ decides it from the caller's capture). */
export interface CallAudio {
  /** the caller's stream ran: the call says something of the PBX */
  judged: boolean;
  /** media-both-ways failed for it */
  oneWay: boolean;
  /** packets the worse direction should have carried, and how many of them did not arrive */
  expected: number;
  lost: number;
}

/**
 * The call is over: its final answer set up no dialog (not a 2xx, or none: a timeout), or its BYE
 * was answered. A 2xx call whose BYE is still unanswered is not.
 */
export function recordOver(r: CallRecord): boolean {
  const answered = !r.timedOut && r.finalStatus !== undefined && r.finalStatus >= 200 && r.finalStatus < 300;
  return !answered || r.byeFinalMs !== undefined;
}

/** A call as the gates see it: a record, still waiting for its final answer, or reaching no backend. */
export type CallRecordState =
  | { kind: "record"; record: CallRecord }
  /** routed, no final answer yet (the burst still runs) */
  | { kind: "pending"; backend: BackendRole; inviteSentMs: number }
  /** no backend received its INVITE (Kamailio answered it itself, or it was lost) */
  | { kind: "unrouted" }
  /** not a call the caller placed (seen only at a backend), or its INVITE's time is unknown */
  | { kind: "none" };

/**
 * One call of the book as the gates' record, seen from the caller (its own clock, as its evidence
 * source stamped it):
 *
 *   backend                    the backend that received the INVITE (the first, if it reached two);
 *                              without a backend's own evidence, where the proxy forwarded it (HEP)
 *   inviteSentMs               the caller sent its first INVITE
 *   firstProvisionalOrFinalMs  it received the first response other than 100 to it
 *   finalStatus                the first final response to it
 *   timedOut                   no final response and the burst is over (`uac.unanswered`)
 *   byeSentMs, byeFinalMs      it sent its first BYE, and received that BYE's final response
 */
export function callRecordOf(c: CallEvidence): CallRecordState {
  const u = c.uac;
  const inviteSentMs = stampMs(u.inviteSentStamp);
  if (inviteSentMs === undefined) return { kind: "none" };
  const backend = backendsOf(c.invite)[0] ?? c.forwardedTo;
  if (backend === undefined) return { kind: "unrouted" };
  if (u.inviteStatus === undefined && !u.unanswered) return { kind: "pending", backend, inviteSentMs };
  const record: CallRecord = { callId: c.callId, backend, inviteSentMs, ...callerTimes(c.uac) };
  return { kind: "record", record };
}

/** The caller's side of a record: its answers and when they came. */
function callerTimes(u: CallEvidence["uac"]): Omit<CallRecord, "callId" | "backend" | "inviteSentMs"> {
  return {
    firstProvisionalOrFinalMs: stampMs(u.firstResponseStamp),
    finalStatus: u.inviteStatus,
    timedOut: u.inviteStatus === undefined,
    byeSentMs: stampMs(u.byeSentStamp),
    byeFinalMs: u.byeStatus === undefined ? undefined : stampMs(u.byeStatusStamp),
  };
}

/** A window's calls as records, with the Call-IDs still pending and those no backend received. */
export interface CallRecords {
  records: CallRecord[];
  /** routed and still waiting for a final answer */
  pending: string[];
  /** no backend received the INVITE (e.g. Kamailio's own 503 No destination) */
  unrouted: string[];
}

/** Calls sorted by their state: records, pending and unrouted (any other state is left out). */
export function collectRecords<C extends { callId: string }>(
  calls: Iterable<C>,
  stateOf: (c: C) => CallRecordState,
): CallRecords {
  const out: CallRecords = { records: [], pending: [], unrouted: [] };
  for (const c of calls) {
    const s = stateOf(c);
    if (s.kind === "record") out.records.push(s.record);
    else if (s.kind === "pending") out.pending.push(c.callId);
    else if (s.kind === "unrouted") out.unrouted.push(c.callId);
  }
  return out;
}

/** The records of some of the book's calls. */
export function callRecordsOf(calls: Iterable<CallEvidence>): CallRecords {
  return collectRecords(calls, callRecordOf);
}
