/**
 * The calls behind a failed gate (pure): on the backend the gate judged, the calls that are bad for
 * its metric. The first of them is where the automatic rollback's reaction time starts (RFC 6076
 * metrics, see metrics.ts):
 *
 *   ser       no 2xx (3xx are left out, as SER leaves them out), a timeout included
 *   isa       408, 500, 503, 504 or no final answer
 *   srd_*     a session request delay above the limit: the threshold's atMost, or for a relative
 *             gate old's value plus maxWorseBy
 *   sdd_*     the same for the session disconnect delay
 */
import type { BackendRole } from "../core/backend-role.js";
import type { CallRecord } from "../evidence/call-record.js";
import type { GateResult } from "./gate.js";
import { INEFFECTIVE_STATUSES } from "./metrics.js";

/** The backend a gate reads: a threshold's own, new for a relative gate. */
export function gateBackend(r: Pick<GateResult, "gate">): BackendRole {
  return r.gate.kind === "threshold" ? r.gate.backend : "new";
}

/** The calls that count against a failed gate, by INVITE time; [] for a gate that did not fail. */
export function failingCalls(r: GateResult, records: readonly CallRecord[]): CallRecord[] {
  if (r.verdict !== "fail") return [];
  const backend = gateBackend(r);
  const g = r.gate;
  const limit = g.kind === "threshold" ? g.atMost : (r.values.old ?? 0) + g.maxWorseBy;
  const final = (c: CallRecord): number | undefined => (c.timedOut ? undefined : c.finalStatus);
  const bad = (c: CallRecord): boolean => {
    const f = final(c);
    switch (g.metric) {
      case "ser":
        return f === undefined || f < 200 || f >= 400;
      case "isa":
        return f === undefined || INEFFECTIVE_STATUSES.includes(f);
      case "srd_p50":
      case "srd_p95":
        return (
          c.firstProvisionalOrFinalMs !== undefined &&
          limit !== undefined &&
          c.firstProvisionalOrFinalMs - c.inviteSentMs > limit
        );
      case "sdd_p50":
      case "sdd_p95":
        return (
          c.byeSentMs !== undefined &&
          c.byeFinalMs !== undefined &&
          limit !== undefined &&
          c.byeFinalMs - c.byeSentMs > limit
        );
    }
  };
  return records.filter((c) => c.backend === backend && bad(c)).sort((a, b) => a.inviteSentMs - b.inviteSentMs);
}

/** The earliest call (by INVITE) that counts against any failed gate: where the reaction time starts. */
export function firstFailingCall(
  results: readonly GateResult[],
  records: readonly CallRecord[],
): CallRecord | undefined {
  return results
    .flatMap((g) => failingCalls(g, records).slice(0, 1))
    .reduce<CallRecord | undefined>((m, c) => (m === undefined || c.inviteSentMs < m.inviteSentMs ? c : m), undefined);
}
