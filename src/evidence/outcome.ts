/**
 * The outcome rules (pure): whether a call completed, failed or is still pending, and where its BYE
 * went against the backend that answered its INVITE, from its evidence alone.
 */
import type { BackendRole } from "../core/backend-role.js";
import type { CallEvidence, RequestSeen } from "./call.js";

/** The tag parameter of a To (or From) header value. */
export function tagOf(headerValue: string | undefined): string | undefined {
  return headerValue === undefined ? undefined : /;\s*tag=([^;>\s,]+)/i.exec(headerValue)?.[1];
}

export type CallOutcome = "completed" | "failed" | "pending";

/** The backend(s) a request reached. */
export function backendsOf(seen: Partial<Record<BackendRole, RequestSeen>>): BackendRole[] {
  return (["old", "new"] as const).filter((b) => seen[b] !== undefined);
}

/** Where a call's BYE went, against the backend (and the instance of it) that answered its INVITE. */
export type ByeTie =
  | { kind: "same"; home: BackendRole }
  | { kind: "nowhere"; home: BackendRole }
  | { kind: "elsewhere"; home: BackendRole; byeAt: BackendRole[] }
  | { kind: "other-instance"; home: BackendRole; note: string | undefined }
  /** the home backend answered the BYE 481: it does not hold the dialog (a restart a source without instances cannot see) */
  | { kind: "not-held"; home: BackendRole };

/**
 * Did the BYE reach the dialog that was set up: the backend, and the instance of it, that answered
 * the INVITE? Undefined when no backend evidence exists for the call (a backend without a log).
 */
export function byeTie(c: CallEvidence): ByeTie | undefined {
  const invitedAt = backendsOf(c.invite);
  if (invitedAt.length === 0) return undefined;
  // the backend that answered the INVITE with a 2xx; without its answers, the one that received it
  const answered = invitedAt.filter((b) => isOk(c.invite[b]?.answer?.status));
  const home = (answered.length > 0 ? answered : invitedAt)[0]!;
  const byeAt = backendsOf(c.bye);
  if (byeAt.length === 0) return { kind: "nowhere", home };
  if (byeAt.some((b) => b !== home)) return { kind: "elsewhere", home, byeAt };
  const inv = c.invite[home]!;
  const bye = c.bye[home]!;
  if (inv.instance !== undefined && bye.instance !== undefined && inv.instance !== bye.instance) {
    return { kind: "other-instance", home, note: bye.instanceNote };
  }
  if (bye.answer?.status === 481) return { kind: "not-held", home };
  return { kind: "same", home };
}

/** "a different instance than the one that answered the INVITE (its message log was recreated at ...)" */
export function otherInstanceText(note: string | undefined): string {
  return `a different instance than the one that answered the INVITE${note ? ` (${note})` : ""}`;
}

export const isOk = (s: number | undefined): boolean => s !== undefined && s >= 200 && s < 300;

/**
 * completed = the UAC got a 2xx to its INVITE and a 2xx to its BYE carrying the dialog's To-tag, and,
 * where the backends' evidence exists, the BYE reached the instance that answered the INVITE.
 */
export function outcomeOf(c: CallEvidence): { outcome: CallOutcome; reason?: string } {
  const u = c.uac;
  // the backend's log can be read before the UAC's shows the INVITE it sent: decided when the burst ends
  if (u.inviteSentStamp === undefined)
    return u.unanswered
      ? { outcome: "failed", reason: "the UAC never sent this INVITE (seen only at a backend)" }
      : { outcome: "pending" };
  if (u.inviteStatus === undefined) {
    return u.unanswered ? { outcome: "failed", reason: "no final response to INVITE" } : { outcome: "pending" };
  }
  if (!isOk(u.inviteStatus)) return { outcome: "failed", reason: `INVITE answered ${u.inviteStatus}` };
  if (u.byeStatus === undefined) {
    if (!u.unanswered) return { outcome: "pending" };
    return { outcome: "failed", reason: u.byeSentStamp === undefined ? "BYE never sent" : "no final response to BYE" };
  }
  if (u.byeStatus === 481)
    return { outcome: "failed", reason: "BYE answered 481 by a backend that does not hold the dialog (restarted?)" };
  if (!isOk(u.byeStatus)) return { outcome: "failed", reason: `BYE answered ${u.byeStatus}` };
  if (u.dialogToTag === undefined || u.byeToTag !== u.dialogToTag) {
    return {
      outcome: "failed",
      reason: `BYE answered ${u.byeStatus} outside the dialog: To-tag ${u.byeToTag ?? "(none)"}, the dialog's is ${u.dialogToTag ?? "(none)"}`,
    };
  }
  const tie = byeTie(c);
  const answered = `BYE answered ${u.byeStatus}`;
  switch (tie?.kind) {
    case "nowhere":
      return { outcome: "failed", reason: `${answered}, but no backend received it` };
    case "elsewhere":
      return {
        outcome: "failed",
        reason: `${answered} after reaching ${tie.byeAt.join("+")}, not ${tie.home} that answered the INVITE`,
      };
    case "other-instance":
      return { outcome: "failed", reason: `${answered} by ${tie.home}, but by ${otherInstanceText(tie.note)}` };
    case "not-held":
      return {
        outcome: "failed",
        reason: `${answered}, but ${tie.home} answered it 481 (it does not hold the dialog)`,
      };
    default:
      return { outcome: "completed" };
  }
}
