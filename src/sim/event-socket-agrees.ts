/**
 * HEP against the PBXs' own account (pure): on a lab of real FreeSWITCH, Kamailio's mirror (HEP)
 * says where each call's INVITE and BYE were forwarded and how the backend answered them; each
 * FreeSWITCH's event socket says which calls it created a channel for (by SIP Call-ID), answered,
 * and hung up because the caller's BYE reached it (`recv_bye`). Every call of a phase must look the
 * same from both sides (`event-socket-agrees`), and the in-flight long call's channel on old must
 * have been ended by the caller's BYE (`long-call-hung-up-at-old`).
 */
import type { FreeswitchCall, PbxCalls } from "../evidence/event-socket.js";
import type { SimPhase } from "../events/run-events.js";
import type { BackendRole } from "../core/backend-role.js";
import type { Assertion } from "../evidence/assertions.js";
import { backendsOf } from "../evidence/outcome.js";
import { parseCallId, phaseOfBurst } from "../evidence/call-id.js";
import type { CallEvidence } from "../evidence/call.js";

const BACKENDS = ["old", "new"] as const;
const isOk = (s: number | undefined): boolean => s !== undefined && s >= 200 && s < 300;

export type { PbxCalls };

/** the facts both sides must agree on, per call: the backends each one names */
export const PBX_AGREEMENT_FIELDS = ["invite", "answered", "hungUpByBye"] as const;
type Field = (typeof PBX_AGREEMENT_FIELDS)[number];

function hepSide(c: CallEvidence | undefined): Record<Field, BackendRole[]> {
  if (!c) return { invite: [], answered: [], hungUpByBye: [] };
  return {
    invite: backendsOf(c.invite),
    answered: backendsOf(c.invite).filter((b) => isOk(c.invite[b]?.answer?.status)),
    hungUpByBye: backendsOf(c.bye).filter((b) => isOk(c.bye[b]?.answer?.status)),
  };
}

function pbxSide(callId: string, pbx: PbxCalls): Record<Field, BackendRole[]> {
  const at = (pred: (c: FreeswitchCall) => boolean): BackendRole[] =>
    BACKENDS.filter((b) => pbx[b].some((c) => c.callId === callId && pred(c)));
  return {
    invite: at(() => true),
    answered: at((c) => c.answeredAtMs !== undefined),
    hungUpByBye: at((c) => c.byeReceived),
  };
}

/** The PBXs' calls of one phase of this run (by the Call-ID's burst). */
export function pbxCallsOfPhase(pbx: PbxCalls, runId: string, phase: SimPhase): PbxCalls {
  const of = (cs: FreeswitchCall[]): FreeswitchCall[] =>
    cs.filter((c) => {
      const id = parseCallId(c.callId);
      return id !== undefined && id.runId === runId && phaseOfBurst(id.burst) === phase;
    });
  return { old: of(pbx.old), new: of(pbx.new) };
}

export interface PbxDisagreement {
  callId: string;
  /** field: "hep old / event socket none" */
  differences: Record<string, string>;
}

const named = (bs: BackendRole[]): string => (bs.length === 0 ? "none" : bs.join("+"));

/** Per Call-ID (either side), the fields whose backends differ. `pbx` holds this phase's calls only. */
export function pbxDisagreements(hep: CallEvidence[], pbx: PbxCalls): PbxDisagreement[] {
  const byId = new Map(hep.map((c) => [c.callId, c]));
  const ids = [...new Set([...byId.keys(), ...pbx.old.map((c) => c.callId), ...pbx.new.map((c) => c.callId)])].sort();
  const out: PbxDisagreement[] = [];
  for (const id of ids) {
    const h = hepSide(byId.get(id));
    const p = pbxSide(id, pbx);
    const differences: Record<string, string> = {};
    for (const f of PBX_AGREEMENT_FIELDS) {
      if (named(h[f]) !== named(p[f])) differences[f] = `hep ${named(h[f])} / event socket ${named(p[f])}`;
    }
    if (Object.keys(differences).length > 0) out.push({ callId: id, differences });
  }
  return out;
}

/**
 * Calls the event sockets still owe an account of: HEP shows a backend answered the BYE 2xx but its
 * FreeSWITCH has not reported the channel's end yet (CHANNEL_HANGUP_COMPLETE follows the 200 by a
 * few ms). The run waits for these, briefly, before judging.
 */
export function pbxPending(hep: CallEvidence[], pbx: PbxCalls): string[] {
  const out: string[] = [];
  for (const c of hep) {
    for (const b of hepSide(c).hungUpByBye) {
      if (!pbx[b].some((x) => x.callId === c.callId && x.complete)) out.push(`${c.callId}@${b}`);
    }
  }
  return out;
}

const MAX_LISTED = 10;

export function eventSocketAgreesAssertion(phase: SimPhase, hep: CallEvidence[], pbx: PbxCalls): Assertion {
  const d = pbxDisagreements(hep, pbx);
  const calls = new Set([...hep.map((c) => c.callId), ...pbx.old.map((c) => c.callId), ...pbx.new.map((c) => c.callId)])
    .size;
  const lines = d.map(
    (x) =>
      `${x.callId}: ${Object.entries(x.differences)
        .map(([f, v]) => `${f} ${v}`)
        .join("; ")}`,
  );
  return {
    phase,
    name: "event-socket-agrees",
    verdict: d.length === 0 && calls > 0 ? "pass" : "fail",
    details:
      d.length === 0
        ? `HEP and the FreeSWITCH event sockets agree on all ${calls} calls (INVITE reached, answered, hung up by the caller's BYE: same backend)`
        : `HEP and the FreeSWITCH event sockets disagree on ${d.length} of ${calls} calls`,
    numbers: {
      calls,
      disagree: d.length,
      hepCalls: hep.length,
      oldChannels: pbx.old.length,
      newChannels: pbx.new.length,
    },
    offenders:
      lines.length > MAX_LISTED ? [...lines.slice(0, MAX_LISTED), `... and ${lines.length - MAX_LISTED} more`] : lines,
    source: "hep+event-socket",
  };
}

/**
 * The long call, from old's own event socket: old created and answered its channel, and ended it
 * because the caller's BYE reached it (recv_bye), after the cutover; new never saw the call.
 */
export function longCallHungUpAtOldAssertion(
  long: CallEvidence | undefined,
  pbx: PbxCalls,
  cutoverAtMs: number | undefined,
): Assertion {
  const base = { phase: "inflight" as const, name: "long-call-hung-up-at-old", source: "event-socket" as const };
  if (!long) return { ...base, verdict: "fail", details: "no long call was made", numbers: {}, offenders: [] };
  const old = pbx.old.find((c) => c.callId === long.callId);
  const atNew = pbx.new.some((c) => c.callId === long.callId);
  const afterCutover = old?.hungUpAtMs !== undefined && cutoverAtMs !== undefined && old.hungUpAtMs > cutoverAtMs;
  const ok = old !== undefined && old.answeredAtMs !== undefined && old.byeReceived && !atNew && afterCutover;
  const heldMs =
    old?.answeredAtMs !== undefined && old.hungUpAtMs !== undefined
      ? Math.round(old.hungUpAtMs - old.answeredAtMs)
      : -1;
  const why = !old
    ? "old's event socket never reported a channel for the long call"
    : old.answeredAtMs === undefined
      ? "old never answered the long call's channel"
      : !old.complete
        ? "old's channel for the long call never ended (no CHANNEL_HANGUP_COMPLETE)"
        : !old.byeReceived
          ? `old's channel ended without the caller's BYE (disposition ${old.hangupDisposition ?? "none"}, cause ${old.hangupCause ?? "none"})`
          : atNew
            ? "new's event socket reported a channel for the long call too"
            : !afterCutover
              ? "old's channel ended before the cutover"
              : `old's channel was hung up by the caller's BYE (recv_bye, ${old.hangupCause ?? "no cause"}) ${heldMs} ms after it answered, ${Math.round(old.hungUpAtMs! - cutoverAtMs)} ms after the cutover; new never saw the call`;
  return {
    ...base,
    verdict: ok ? "pass" : "fail",
    details: why,
    numbers: { oldChannel: old ? 1 : 0, byeReceivedAtOld: old?.byeReceived ? 1 : 0, atNew: atNew ? 1 : 0, heldMs },
    offenders: ok ? [] : [`${long.callId}: ${why}`],
  };
}
