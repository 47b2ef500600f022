/**
 * `evidence-agrees` (pure): with two evidence sources (`--evidence both`: the SIPp stand-ins' logs
 * and HEP mirrored by Kamailio), every call of a phase must look the same in both books: the
 * backend its INVITE and its BYE reached, the final answers the caller got, the backend's own answer
 * to the BYE and the dialog's To-tags. Anything else means one source is wrong or incomplete, and a
 * verdict resting on either would be a guess.
 */
import type { SimPhase } from "../events/run-events.js";
import type { Assertion } from "../evidence/assertions.js";
import { callRow } from "../evidence/book.js";
import type { CallEvidence } from "../evidence/call.js";

/** the facts both sources must agree on, as results.json's call rows name them */
export const AGREEMENT_FIELDS = [
  "inviteBackend",
  "byeBackend",
  "inviteStatus",
  "byeStatus",
  "byeBackendAnswer",
  "dialogToTag",
  "byeToTag",
] as const;

export interface EvidenceDisagreement {
  callId: string;
  /** field: "sipp value / hep value" */
  differences: Record<string, string>;
}

const shown = (v: unknown): string => {
  if (v === null || v === undefined) return "none";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
};

/** Per Call-ID (either book), the fields whose values differ. */
export function disagreements(sipp: CallEvidence[], hep: CallEvidence[]): EvidenceDisagreement[] {
  const rows = (cs: CallEvidence[]): Map<string, Record<string, unknown>> =>
    new Map(cs.map((c) => [c.callId, callRow(c)]));
  const a = rows(sipp);
  const b = rows(hep);
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort();
  const out: EvidenceDisagreement[] = [];
  for (const id of ids) {
    const x = a.get(id);
    const y = b.get(id);
    const differences: Record<string, string> = {};
    for (const f of AGREEMENT_FIELDS) {
      const vx = x ? x[f] : undefined;
      const vy = y ? y[f] : undefined;
      if (shown(vx) !== shown(vy))
        differences[f] = `sipp ${x ? shown(vx) : "(no such call)"} / hep ${y ? shown(vy) : "(no such call)"}`;
    }
    if (Object.keys(differences).length > 0) out.push({ callId: id, differences });
  }
  return out;
}

const MAX_LISTED = 10;

export function evidenceAgreesAssertion(phase: SimPhase, sipp: CallEvidence[], hep: CallEvidence[]): Assertion {
  const d = disagreements(sipp, hep);
  const calls = new Set([...sipp, ...hep].map((c) => c.callId)).size;
  const lines = d.map(
    (x) =>
      `${x.callId}: ${Object.entries(x.differences)
        .map(([f, v]) => `${f} ${v}`)
        .join("; ")}`,
  );
  return {
    phase,
    name: "evidence-agrees",
    verdict: d.length === 0 && calls > 0 ? "pass" : "fail",
    details:
      d.length === 0
        ? `the stand-ins' logs and HEP agree on all ${calls} calls (INVITE and BYE backend, final answers, To-tags)`
        : `the stand-ins' logs and HEP disagree on ${d.length} of ${calls} calls`,
    numbers: { calls, disagree: d.length, sippCalls: sipp.length, hepCalls: hep.length },
    offenders:
      lines.length > MAX_LISTED ? [...lines.slice(0, MAX_LISTED), `... and ${lines.length - MAX_LISTED} more`] : lines,
  };
}
