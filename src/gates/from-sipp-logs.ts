/**
 * Call records from SIPp message logs (pure): the caller's own log (the UAC's -trace_msg) gives the
 * RFC 6076 timings as the user agent sees them, end to end; the backends' logs say which backend got
 * each call. This is today's lab evidence; HEP or a PBX's event socket can fill the same records.
 *
 * Per Call-ID, from the UAC's records (SIPp's notes about a message already logged are skipped):
 *   inviteSentMs              the first INVITE sent (a retransmission is not a new call)
 *   firstProvisionalOrFinalMs the first response to the INVITE other than 100
 *   finalStatus               the first final (>= 200) response to the INVITE
 *   byeSentMs, byeFinalMs     the first BYE sent and the first final response to a BYE
 *   timedOut                  no final response to the INVITE and the burst is over (`final`)
 * A call without a final answer while the burst still runs is `pending`, not a record yet; a call
 * no backend received (Kamailio answered it itself, e.g. 503 No destination) is `unrouted`: it
 * belongs to no backend's metrics.
 */

import { stampMs, type LoggedMessage } from "../sip/message-log.js";
import { cseqOf, header, parseSipMessage } from "../sip/message.js";
import type { CallRecord } from "./call-record.js";
import type { BackendRole } from "../core/backend-role.js";

/** Call-ID -> the backend whose log shows the call's INVITE received. */
export function backendsByCallId(
  logs: Partial<Record<BackendRole, readonly LoggedMessage[]>>,
): Map<string, BackendRole> {
  const out = new Map<string, BackendRole>();
  for (const backend of ["old", "new"] as const) {
    for (const r of logs[backend] ?? []) {
      if (r.note !== undefined || r.direction !== "received") continue;
      const m = parseSipMessage(r.text);
      const id = m ? header(m, "call-id") : undefined;
      if (m?.method === "INVITE" && id !== undefined && !out.has(id)) out.set(id, backend);
    }
  }
  return out;
}

interface CallTimes {
  inviteSentMs?: number;
  firstProvisionalOrFinalMs?: number;
  finalStatus?: number;
  byeSentMs?: number;
  byeFinalMs?: number;
}

export interface RecordsFromLogs {
  records: CallRecord[];
  /** Call-IDs still waiting for a final answer (only when not `final`) */
  pending: string[];
  /** Call-IDs no backend received */
  unrouted: string[];
}

export function callRecordsFromUacLog(
  uac: readonly LoggedMessage[],
  backendOf: ReadonlyMap<string, BackendRole>,
  opts: { final: boolean },
): RecordsFromLogs {
  const calls = new Map<string, CallTimes>();
  for (const r of uac) {
    if (r.note !== undefined) continue;
    const at = stampMs(r.stamp);
    const m = parseSipMessage(r.text);
    const id = m ? header(m, "call-id") : undefined;
    const cseq = m ? cseqOf(m) : undefined;
    if (m === undefined || id === undefined || cseq === undefined || at === undefined) continue;
    const c = calls.get(id) ?? {};
    if (m.kind === "request" && r.direction === "sent") {
      if (m.method === "INVITE" && c.inviteSentMs === undefined) c.inviteSentMs = at;
      if (m.method === "BYE" && c.byeSentMs === undefined) c.byeSentMs = at;
    } else if (m.kind === "response" && r.direction === "received" && m.status !== undefined) {
      if (cseq.method === "INVITE") {
        if (m.status !== 100 && c.firstProvisionalOrFinalMs === undefined) c.firstProvisionalOrFinalMs = at;
        if (m.status >= 200 && c.finalStatus === undefined) c.finalStatus = m.status;
      } else if (cseq.method === "BYE" && m.status >= 200 && c.byeFinalMs === undefined) {
        c.byeFinalMs = at;
      }
    }
    calls.set(id, c);
  }
  const out: RecordsFromLogs = { records: [], pending: [], unrouted: [] };
  for (const [callId, c] of calls) {
    if (c.inviteSentMs === undefined) continue; // not a call this UAC started
    const backend = backendOf.get(callId);
    if (backend === undefined) {
      out.unrouted.push(callId);
      continue;
    }
    if (c.finalStatus === undefined && !opts.final) {
      out.pending.push(callId);
      continue;
    }
    out.records.push({
      callId,
      backend,
      inviteSentMs: c.inviteSentMs,
      firstProvisionalOrFinalMs: c.firstProvisionalOrFinalMs,
      finalStatus: c.finalStatus,
      timedOut: c.finalStatus === undefined,
      byeSentMs: c.byeSentMs,
      byeFinalMs: c.byeFinalMs,
    });
  }
  return out;
}
