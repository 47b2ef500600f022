/**
 * Evidence per call (pure): fed with message-log records from the two backends and from the UAC
 * bursts, it knows for every Call-ID which backend received its INVITE and its BYE, and which final
 * responses the UAC saw. Retransmissions never count as calls: a request is one transaction per
 * Call-ID + CSeq + top Via branch, whatever number of copies arrive.
 */
import type { Backend, SimPhase } from "../events/run-events.js";
import type { LoggedMessage } from "../sip/message-log.js";
import { cseqOf, header, parseSipMessage, topViaBranch } from "../sip/message.js";

/** the SIPp bursts of a simulation; the in-flight check has three */
export type BurstLabel = "old" | "both" | "new" | "precheck" | "long" | "post";
export const BURST_LABELS: readonly BurstLabel[] = ["old", "both", "new", "precheck", "long", "post"];

export function phaseOfBurst(b: BurstLabel): SimPhase {
  return b === "old" || b === "both" || b === "new" ? b : "inflight";
}

/** Call-IDs are `pbxc-<run id>-<burst>-<call number>-<pid>@<ip>` (SIPp -cid_str). */
export function callIdTag(runId: string, burst: BurstLabel): string {
  return `pbxc-${runId}-${burst}`;
}

export function parseCallId(callId: string): { runId: string; burst: BurstLabel } | undefined {
  const m = /^pbxc-([0-9a-z]+)-([a-z]+)-\d+-\d+@/.exec(callId);
  if (!m || !(BURST_LABELS as readonly string[]).includes(m[2]!)) return undefined;
  return { runId: m[1]!, burst: m[2] as BurstLabel };
}

export interface RequestSeen {
  /** distinct transactions (Call-ID + CSeq + branch) */
  transactions: number;
  /** copies beyond the first of each transaction */
  retransmissions: number;
  /** SIPp's timestamp of the first copy */
  firstStamp: string;
}

export interface CallEvidence {
  callId: string;
  burst: BurstLabel;
  phase: SimPhase;
  /** backends that received this call's INVITE (one, normally) */
  invite: Partial<Record<Backend, RequestSeen>>;
  bye: Partial<Record<Backend, RequestSeen>>;
  uac: {
    inviteSentStamp?: string;
    /** the first final response to the INVITE the UAC received */
    inviteStatus?: number;
    inviteStatusStamp?: string;
    byeSentStamp?: string;
    byeStatus?: number;
    byeStatusStamp?: string;
    /** SIPp's note, e.g. "Unexpected UDP message received: SIP/2.0 503 No destination" */
    unexpected?: string;
    /** the burst ended without a final answer (SIPp's receive timeout or the burst was stopped) */
    unanswered?: boolean;
  };
}

export type CallOutcome = "completed" | "failed" | "pending";

export function outcomeOf(c: CallEvidence): { outcome: CallOutcome; reason?: string } {
  const u = c.uac;
  if (u.inviteSentStamp === undefined) return { outcome: "failed", reason: "the UAC never sent this INVITE (seen only at a backend)" };
  if (u.inviteStatus === undefined) {
    return u.unanswered ? { outcome: "failed", reason: "no final response to INVITE" } : { outcome: "pending" };
  }
  if (u.inviteStatus < 200 || u.inviteStatus >= 300) return { outcome: "failed", reason: `INVITE answered ${u.inviteStatus}` };
  if (u.byeStatus === undefined) {
    if (!u.unanswered) return { outcome: "pending" };
    return { outcome: "failed", reason: u.byeSentStamp === undefined ? "BYE never sent" : "no final response to BYE" };
  }
  if (u.byeStatus < 200 || u.byeStatus >= 300) return { outcome: "failed", reason: `BYE answered ${u.byeStatus}` };
  return { outcome: "completed" };
}

/** The backend(s) a request reached, as one value: undefined (none), "old", "new" or "old+new". */
export function backendsOf(seen: Partial<Record<Backend, RequestSeen>>): Backend[] {
  return (["old", "new"] as const).filter((b) => seen[b] !== undefined);
}

export interface UnexpectedRequest {
  backend: Backend;
  method: string;
  callId: string;
  stamp: string;
  why: string;
}

/** What a fed record changed, for the live event stream. */
export type EvidenceFact =
  | { kind: "routed"; call: CallEvidence; backend: Backend }
  | { kind: "finished"; call: CallEvidence; completed: boolean; reason?: string };

const IN_DIALOG = new Set(["ACK", "BYE"]);

export class EvidenceBook {
  readonly calls = new Map<string, CallEvidence>();
  readonly unexpected: UnexpectedRequest[] = [];
  /** raw INVITE copies per backend (what the seed's grep counted), for the delta report */
  readonly rawInvites: Record<Backend, number> = { old: 0, new: 0 };
  /** distinct INVITE transactions per backend, any Call-ID */
  readonly inviteTransactions: Record<Backend, number> = { old: 0, new: 0 };
  private readonly transactions = new Set<string>();
  private readonly concluded = new Set<string>();

  constructor(readonly runId: string) {}

  private call(callId: string, burst: BurstLabel): CallEvidence {
    let c = this.calls.get(callId);
    if (!c) {
      c = { callId, burst, phase: phaseOfBurst(burst), invite: {}, bye: {}, uac: {} };
      this.calls.set(callId, c);
    }
    return c;
  }

  /** A record from a backend's message log. */
  addBackend(backend: Backend, rec: LoggedMessage): EvidenceFact[] {
    if (rec.direction !== "received" || rec.note !== undefined) return [];
    const msg = parseSipMessage(rec.text);
    if (!msg || msg.kind !== "request") return [];
    const method = msg.method!;
    if (method === "OPTIONS") return []; // probes and pings are never calls
    const callId = header(msg, "call-id") ?? "";
    const cseq = cseqOf(msg);
    const key = `${backend}|${callId}|${cseq?.seq ?? "?"}|${method}|${topViaBranch(msg) ?? ""}`;
    const isRetransmission = this.transactions.has(key);
    this.transactions.add(key);
    if (method === "INVITE") {
      this.rawInvites[backend]++;
      if (!isRetransmission) this.inviteTransactions[backend]++;
    }
    const id = parseCallId(callId);
    const ours = id !== undefined && id.runId === this.runId;
    if (!ours || !(method === "INVITE" || IN_DIALOG.has(method))) {
      if (!isRetransmission) {
        const why = !ours
          ? id
            ? `Call-ID of another run (${id.runId})`
            : "Call-ID not sent by this run"
          : `unexpected method ${method}`;
        this.unexpected.push({ backend, method, callId, stamp: rec.stamp, why });
      }
      return [];
    }
    const c = this.call(callId, id.burst);
    const bucket = method === "INVITE" ? c.invite : method === "BYE" ? c.bye : undefined;
    if (!bucket) return []; // ACK: part of the dialog, not evidence of routing
    const seen = bucket[backend];
    if (seen) {
      if (isRetransmission) seen.retransmissions++;
      else seen.transactions++;
      return [];
    }
    bucket[backend] = { transactions: 1, retransmissions: 0, firstStamp: rec.stamp };
    return method === "INVITE" ? [{ kind: "routed", call: c, backend }] : [];
  }

  /** A record from a UAC burst's message log. */
  addUac(burst: BurstLabel, rec: LoggedMessage): EvidenceFact[] {
    const msg = parseSipMessage(rec.text);
    if (!msg) return [];
    const callId = header(msg, "call-id") ?? "";
    const id = parseCallId(callId);
    if (!id || id.runId !== this.runId || id.burst !== burst) return [];
    const c = this.call(callId, burst);
    const u = c.uac;
    if (rec.note !== undefined) {
      u.unexpected ??= `${rec.note}: ${msg.startLine}`;
      return [];
    }
    const cseq = cseqOf(msg);
    if (rec.direction === "sent" && msg.kind === "request") {
      if (msg.method === "INVITE") u.inviteSentStamp ??= rec.stamp;
      if (msg.method === "BYE") u.byeSentStamp ??= rec.stamp;
      return [];
    }
    if (rec.direction !== "received" || msg.kind !== "response" || msg.status === undefined || msg.status < 200) return [];
    if (cseq?.method === "INVITE" && u.inviteStatus === undefined) {
      u.inviteStatus = msg.status;
      u.inviteStatusStamp = rec.stamp;
    } else if (cseq?.method === "BYE" && u.byeStatus === undefined) {
      u.byeStatus = msg.status;
      u.byeStatusStamp = rec.stamp;
    }
    return this.conclude(c);
  }

  /** The burst is over: calls of it without a final answer failed. */
  finishBurst(burst: BurstLabel): EvidenceFact[] {
    const facts: EvidenceFact[] = [];
    for (const c of this.calls.values()) {
      if (c.burst !== burst || this.concluded.has(c.callId)) continue;
      c.uac.unanswered = true;
      facts.push(...this.conclude(c));
    }
    return facts;
  }

  private conclude(c: CallEvidence): EvidenceFact[] {
    if (this.concluded.has(c.callId)) return [];
    const o = outcomeOf(c);
    if (o.outcome === "pending") return [];
    this.concluded.add(c.callId);
    return [{ kind: "finished", call: c, completed: o.outcome === "completed", ...(o.reason ? { reason: o.reason } : {}) }];
  }

  callsOf(burst: BurstLabel): CallEvidence[] {
    return [...this.calls.values()].filter((c) => c.burst === burst);
  }
}

/** Call evidence as one flat row (results.json). */
export function callRow(c: CallEvidence): Record<string, unknown> {
  const o = outcomeOf(c);
  const join = (bs: Backend[]): string | null => (bs.length === 0 ? null : bs.join("+"));
  const retrans = (s: Partial<Record<Backend, RequestSeen>>): number =>
    Object.values(s).reduce((n, r) => n + (r?.retransmissions ?? 0), 0);
  return {
    callId: c.callId,
    phase: c.phase,
    burst: c.burst,
    inviteBackend: join(backendsOf(c.invite)),
    byeBackend: join(backendsOf(c.bye)),
    inviteStatus: c.uac.inviteStatus ?? null,
    byeStatus: c.uac.byeStatus ?? null,
    outcome: o.outcome,
    ...(o.reason ? { reason: o.reason } : {}),
    inviteRetransmissionsAtBackend: retrans(c.invite),
    byeRetransmissionsAtBackend: retrans(c.bye),
    ...(c.uac.unexpected ? { uacNote: c.uac.unexpected } : {}),
  };
}
