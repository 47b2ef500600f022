/**
 * Which backend each call went to, from Kamailio's own view (pure): the destination it forwarded the
 * call's INVITE to, as HEP mirrored it. Unlike the backends' logs this also names a backend that
 * never answered (stopped, or a packet lost on the way), which is exactly the call a gate must see.
 */

import { forwardedTo, type EndpointKey, type HepCall } from "../hep/evidence.js";
import { collectRecords, type CallRecords, type CallRecordState } from "./call-record.js";
import type { BackendRole } from "../core/backend-role.js";

export function backendsFromHep(
  calls: Iterable<HepCall>,
  backends: Readonly<Record<BackendRole, EndpointKey>>,
): Map<string, BackendRole> {
  const out = new Map<string, BackendRole>();
  for (const c of calls) {
    const to = forwardedTo(c, "INVITE")[0];
    const b = to === backends.old ? "old" : to === backends.new ? "new" : undefined;
    if (b !== undefined) out.set(c.callId, b);
  }
  return out;
}

/**
 * Per-call records for the gates from what Kamailio mirrored alone (pure), seen from the proxy:
 *
 *   backend                    where Kamailio forwarded the INVITE (backendsFromHep's rule)
 *   inviteSentMs               when Kamailio received the caller's first INVITE (its forward's time
 *                              when the caller's copy was not mirrored)
 *   firstProvisionalOrFinalMs  the first response other than 100 Kamailio sent the caller for INVITE
 *   finalStatus                the first final response Kamailio sent the caller (a backend's 503
 *                              reaches the caller as 500, RFC 3261 16.7; both are RFC 6076 ISA)
 *   timedOut                   no final response `timeoutMs` after the INVITE (`nowMs`)
 *   byeSentMs, byeFinalMs      when Kamailio forwarded the BYE, and sent the caller its final answer
 *
 * SRD and SDD are thus the proxy's view: the caller's own delays less its two loopback hops. A call
 * without a final answer younger than `timeoutMs` is pending, not a record yet. Only Call-IDs `accept`
 * admits count (a run's own traffic on a lab others may also call through).
 */
export function callRecordsFromHep(
  calls: Iterable<HepCall>,
  backends: Readonly<Record<BackendRole, EndpointKey>>,
  o: { nowMs: number; timeoutMs: number; accept?: (callId: string) => boolean },
): CallRecords {
  return collectRecords(calls, (c) =>
    o.accept && !o.accept(c.callId) ? { kind: "none" } : callRecordFromHep(c, backends, o),
  );
}

/** One call's record by callRecordsFromHep's rules (pure). */
export function callRecordFromHep(
  c: HepCall,
  backends: Readonly<Record<BackendRole, EndpointKey>>,
  o: { nowMs: number; timeoutMs: number },
): CallRecordState {
  const leg = c.forwarded.INVITE?.[0];
  // unrouted: Kamailio's own answer. A relayed answer proves the INVITE was forwarded, whose mirror
  // another worker has not sent yet (each worker mirrors what it sends, in its own order): not yet known
  if (leg === undefined)
    return c.answerToInvite?.origin === "proxy" && c.inviteReceivedUs !== undefined
      ? { kind: "unrouted" }
      : { kind: "none" };
  const backend: BackendRole | undefined =
    leg.to === backends.old ? "old" : leg.to === backends.new ? "new" : undefined;
  if (backend === undefined) return { kind: "none" };
  const inviteSentMs = (c.inviteReceivedUs ?? leg.firstUs) / 1000;
  const final = c.answerToInvite;
  const timedOut = final === undefined && o.nowMs - inviteSentMs >= o.timeoutMs;
  if (final === undefined && !timedOut) return { kind: "pending", backend, inviteSentMs };
  const toCaller = c.responses.find(
    (r) => r.method === "INVITE" && r.status !== 100 && r.origin !== "backend" && r.to === c.caller,
  );
  const bye = c.forwarded.BYE?.[0];
  return {
    kind: "record",
    record: {
      callId: c.callId,
      backend,
      inviteSentMs,
      firstProvisionalOrFinalMs: toCaller === undefined ? undefined : toCaller.firstUs / 1000,
      finalStatus: final?.status,
      timedOut,
      byeSentMs: bye === undefined ? undefined : bye.firstUs / 1000,
      byeFinalMs: c.answerToBye === undefined ? undefined : c.answerToBye.firstUs / 1000,
    },
  };
}
