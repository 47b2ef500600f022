/**
 * Evidence per call (pure): fed with the SIP messages the backends and the UAC bursts exchanged, it
 * knows for every Call-ID which backend (and which instance of it) received its INVITE and its BYE,
 * how each answered, and which final responses the UAC saw, with the dialog's To-tag. Retransmissions
 * never count as calls: a request is one transaction per Call-ID + CSeq + top Via branch, whatever
 * number of copies arrive.
 *
 * Facts are source-neutral: `backendMessage` / `uacMessage` take a message's head (start line,
 * Call-ID, CSeq, To, top Via: all the book reads) plus a stamp of where and when it was seen, so any
 * evidence source (the SIPp stand-ins' message logs, HEP) can feed the same book; `addBackend` /
 * `addUac` adapt SIPp message-log records (their head read with `readSipHead`).
 *
 * Every message of one of this run's Call-IDs belongs to that call's burst (the Call-ID says which),
 * whenever it arrives: a message read after its burst ended is recorded as late evidence of that
 * burst's phase, never as something that happened in the phase running at the time.
 */
import type { SimPhase } from "../events/run-events.js";
import type { Direction, LoggedMessage } from "../sip/message-log.js";
import { readSipHead, type SipHead } from "../sip/message.js";
import type { BackendRole } from "../core/backend-role.js";

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

/** Where and when an evidence source saw a message. */
export interface SourceStamp {
  /** the source's timestamp; SIPp logs: local time "2026-11-23 22:51:52.507765" ("" when unknown) */
  stamp: string;
  /** from the point of view of the party the source watches (the backend, the UAC) */
  direction: Direction;
  /**
   * which instance of the backend process handled it: a new one after a restart (the lab: a new
   * generation of its message log). Undefined when the source cannot tell.
   */
  instance?: number;
}

/** How one party answered a request: its first final response. */
export interface Answer {
  status: number;
  toTag: string | undefined;
  stamp: string;
}

export interface RequestSeen {
  /** distinct transactions (Call-ID + CSeq + branch) */
  transactions: number;
  /** copies beyond the first of each transaction */
  retransmissions: number;
  /** the source's timestamp of the first copy */
  firstStamp: string;
  /** the backend instance that received the first copy (see SourceStamp.instance) */
  instance?: number;
  /** what that instance is, when it is not the first one, e.g. "its message log was recreated at 21:04:05.123" */
  instanceNote?: string;
  /** the backend's own first final answer to it */
  answer?: Answer;
}

export interface CallEvidence {
  callId: string;
  burst: BurstLabel;
  phase: SimPhase;
  /** backends that received this call's INVITE (one, normally) */
  invite: Partial<Record<BackendRole, RequestSeen>>;
  bye: Partial<Record<BackendRole, RequestSeen>>;
  uac: {
    inviteSentStamp?: string;
    /** the first final response to the INVITE the UAC received */
    inviteStatus?: number;
    inviteStatusStamp?: string;
    /** the To-tag of the 2xx to INVITE: the dialog every later request and answer must belong to */
    dialogToTag?: string;
    byeSentStamp?: string;
    /** the top Via branch of the first BYE the UAC sent: only that transaction's answer is the BYE's
     * answer (SIPp sends a second BYE, without the route set, on a new branch when it aborts a call) */
    byeBranch?: string;
    byeStatus?: number;
    byeStatusStamp?: string;
    /** the To-tag of the BYE's final response */
    byeToTag?: string;
    /** SIPp's note, e.g. "Unexpected UDP message received: SIP/2.0 503 No destination" */
    unexpected?: string;
    /** the burst ended without a final answer (SIPp's receive timeout or the burst was stopped) */
    unanswered?: boolean;
  };
}

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

const isOk = (s: number | undefined): boolean => s !== undefined && s >= 200 && s < 300;

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

export interface UnexpectedRequest {
  backend: BackendRole;
  method: string;
  callId: string;
  stamp: string;
  why: string;
  /** the phase it belongs to: its call's (this run's Call-IDs), else the window it arrived in */
  phase: SimPhase | undefined;
}

/** A message of a call that arrived after the call's burst had ended. */
export interface LateMessage {
  callId: string;
  phase: SimPhase;
  backend: BackendRole;
  /** e.g. "INVITE received", "200 sent" */
  what: string;
  stamp: string;
  /** the phase running when it was read */
  readDuring: SimPhase | undefined;
}

/** What a fed message changed, for the live event stream. */
export type EvidenceFact =
  | { kind: "routed"; call: CallEvidence; backend: BackendRole }
  | { kind: "finished"; call: CallEvidence; completed: boolean; reason?: string };

/** requests that are part of a call the UAC makes (ACK and CANCEL are evidence of nothing else) */
const CALL_METHODS = new Set(["INVITE", "ACK", "BYE", "CANCEL"]);

type PerBackend = Record<BackendRole, number>;
const zero = (): PerBackend => ({ old: 0, new: 0 });

export class EvidenceBook {
  readonly calls = new Map<string, CallEvidence>();
  readonly unexpected: UnexpectedRequest[] = [];
  readonly late: LateMessage[] = [];
  /** raw INVITE copies per backend (what the seed's grep counted), for the delta report */
  readonly rawInvites: PerBackend = zero();
  /** distinct INVITE transactions per backend, any Call-ID */
  readonly inviteTransactions: PerBackend = zero();
  /** the same, per phase: this run's Call-IDs by their own phase, others by the window they arrived in */
  private readonly invitesByPhase = new Map<SimPhase | undefined, { transactions: PerBackend; raw: PerBackend }>();
  /** request transactions seen, with the call and the record they belong to */
  private readonly transactions = new Map<string, RequestSeen | undefined>();
  private readonly concluded = new Set<string>();
  private readonly finishedBursts = new Set<BurstLabel>();
  private readonly instanceNotes = new Map<string, string>();
  private windowPhase: SimPhase | undefined;

  constructor(readonly runId: string) {}

  /** The phase whose window is open: messages of Call-IDs that are not this run's belong to it. */
  openWindow(phase: SimPhase | undefined): void {
    this.windowPhase = phase;
  }

  /** Describe a backend instance after the first, e.g. "its message log was recreated at 21:04:05.123". */
  noteInstance(backend: BackendRole, instance: number, note: string): void {
    this.instanceNotes.set(`${backend}#${instance}`, note);
  }

  /** This run's INVITE counts of a phase (distinct transactions and raw copies per backend). */
  invitesOf(phase: SimPhase): { transactions: PerBackend; raw: PerBackend } {
    const v = this.invitesByPhase.get(phase);
    return { transactions: { ...(v?.transactions ?? zero()) }, raw: { ...(v?.raw ?? zero()) } };
  }

  unexpectedOf(phase: SimPhase): UnexpectedRequest[] {
    return this.unexpected.filter((u) => u.phase === phase);
  }

  lateOf(phase: SimPhase): LateMessage[] {
    return this.late.filter((l) => l.phase === phase);
  }

  private call(callId: string, burst: BurstLabel): CallEvidence {
    let c = this.calls.get(callId);
    if (!c) {
      c = { callId, burst, phase: phaseOfBurst(burst), invite: {}, bye: {}, uac: {} };
      this.calls.set(callId, c);
    }
    return c;
  }

  private countInvite(phase: SimPhase | undefined, backend: BackendRole, retransmission: boolean): void {
    let v = this.invitesByPhase.get(phase);
    if (!v) this.invitesByPhase.set(phase, (v = { transactions: zero(), raw: zero() }));
    v.raw[backend]++;
    this.rawInvites[backend]++;
    if (!retransmission) {
      v.transactions[backend]++;
      this.inviteTransactions[backend]++;
    }
  }

  /** A record from a backend's SIPp message log (`instance`: the log's generation). */
  addBackend(backend: BackendRole, rec: LoggedMessage, instance?: number): EvidenceFact[] {
    if (rec.note !== undefined) return [];
    const msg = readSipHead(rec.text);
    if (!msg) return [];
    return this.backendMessage(backend, msg, {
      stamp: rec.stamp,
      direction: rec.direction,
      ...(instance !== undefined ? { instance } : {}),
    });
  }

  /** A SIP message a backend received or sent. */
  backendMessage(backend: BackendRole, msg: SipHead, at: SourceStamp): EvidenceFact[] {
    const callId = msg.callId ?? "";
    const cseq = msg.cseq;
    const method = msg.kind === "request" ? msg.method! : (cseq?.method ?? "?");
    if (method === "OPTIONS") return []; // probes and pings are never calls
    const key = `${backend}|${callId}|${cseq?.seq ?? "?"}|${method}|${msg.topViaBranch ?? ""}`;
    const id = parseCallId(callId);
    const ours = id !== undefined && id.runId === this.runId;
    const phase = ours ? phaseOfBurst(id.burst) : this.windowPhase;
    if (ours && this.finishedBursts.has(id.burst)) {
      const what = msg.kind === "request" ? `${method} ${at.direction}` : `${msg.status} to ${method} ${at.direction}`;
      this.late.push({ callId, phase: phase!, backend, what, stamp: at.stamp, readDuring: this.windowPhase });
    }
    if (msg.kind === "response") {
      // the backend's own answer (a response it sent) to a request it received
      if (at.direction !== "sent" || (msg.status ?? 0) < 200) return [];
      const seen = this.transactions.get(key);
      if (seen && !seen.answer) seen.answer = { status: msg.status!, toTag: tagOf(msg.to), stamp: at.stamp };
      return [];
    }
    if (at.direction !== "received") return [];
    const isRetransmission = this.transactions.has(key);
    if (method === "INVITE") this.countInvite(phase, backend, isRetransmission);
    if (!ours || !CALL_METHODS.has(method)) {
      if (!isRetransmission) {
        this.transactions.set(key, undefined);
        const why = !ours
          ? id
            ? `Call-ID of another run (${id.runId})`
            : "Call-ID not sent by this run"
          : `unexpected method ${method}`;
        this.unexpected.push({ backend, method, callId, stamp: at.stamp, why, phase });
      }
      return [];
    }
    const c = this.call(callId, id.burst);
    const bucket = method === "INVITE" ? c.invite : method === "BYE" ? c.bye : undefined;
    if (!bucket) {
      // ACK, CANCEL: part of the call, not evidence of routing
      if (!isRetransmission) this.transactions.set(key, undefined);
      return [];
    }
    const seen = bucket[backend];
    if (seen) {
      if (isRetransmission) seen.retransmissions++;
      else {
        seen.transactions++;
        this.transactions.set(key, seen);
      }
      return [];
    }
    const fresh: RequestSeen = { transactions: 1, retransmissions: 0, firstStamp: at.stamp };
    if (at.instance !== undefined) {
      fresh.instance = at.instance;
      const note = this.instanceNotes.get(`${backend}#${at.instance}`);
      if (note !== undefined) fresh.instanceNote = note;
    }
    bucket[backend] = fresh;
    this.transactions.set(key, fresh);
    return method === "INVITE" ? [{ kind: "routed", call: c, backend }] : [];
  }

  /** A record from a UAC burst's SIPp message log. */
  addUac(burst: BurstLabel, rec: LoggedMessage): EvidenceFact[] {
    const msg = readSipHead(rec.text);
    if (!msg) return [];
    return this.uacMessage(burst, msg, { stamp: rec.stamp, direction: rec.direction }, rec.note);
  }

  /**
   * A SIP message the UAC of `burst` sent or received (`note`: the source flagged it, e.g. SIPp's
   * "Unexpected UDP message received"). Calls are concluded by settle(), not here: by then the
   * backends' evidence of what the UAC saw has been read too.
   */
  uacMessage(burst: BurstLabel, msg: SipHead, at: SourceStamp, note?: string): EvidenceFact[] {
    const callId = msg.callId ?? "";
    const id = parseCallId(callId);
    if (!id || id.runId !== this.runId || id.burst !== burst) return [];
    // the burst is over: the caller had given up (a source that sees the caller's side from the
    // proxy, HEP, still sees what Kamailio sent it afterwards, e.g. a 408 at its fr_timer)
    if (this.finishedBursts.has(burst)) return [];
    const u = this.call(callId, burst).uac;
    if (note !== undefined) {
      u.unexpected ??= `${note}: ${msg.startLine}`;
      return [];
    }
    const cseq = msg.cseq;
    if (at.direction === "sent" && msg.kind === "request") {
      if (msg.method === "INVITE") u.inviteSentStamp ??= at.stamp;
      if (msg.method === "BYE" && u.byeSentStamp === undefined) {
        u.byeSentStamp = at.stamp;
        const b = msg.topViaBranch;
        if (b !== undefined) u.byeBranch = b;
      }
      return [];
    }
    if (at.direction !== "received" || msg.kind !== "response" || msg.status === undefined || msg.status < 200)
      return [];
    if (cseq?.method === "INVITE" && u.inviteStatus === undefined) {
      u.inviteStatus = msg.status;
      u.inviteStatusStamp = at.stamp;
      if (isOk(msg.status)) {
        const t = tagOf(msg.to);
        if (t !== undefined) u.dialogToTag = t;
      }
    } else if (
      cseq?.method === "BYE" &&
      u.byeStatus === undefined &&
      (u.byeBranch === undefined || msg.topViaBranch === u.byeBranch)
    ) {
      u.byeStatus = msg.status;
      u.byeStatusStamp = at.stamp;
      const t = tagOf(msg.to);
      if (t !== undefined) u.byeToTag = t;
    }
    return [];
  }

  /**
   * Conclude the calls of a burst whose outcome the evidence now decides. Call it after the UAC's
   * and then the backends' messages were read: whatever a backend did before the UAC saw its answer
   * is in the book by then.
   */
  settle(burst: BurstLabel): EvidenceFact[] {
    const facts: EvidenceFact[] = [];
    for (const c of this.calls.values()) {
      if (c.burst !== burst) continue;
      // seen at a backend before the UAC's own log shows the INVITE: that log lags, wait for it
      if (c.uac.inviteSentStamp === undefined) continue;
      // the UAC has its 2xx to BYE but no backend's log shows the BYE yet: a backend's log can lag
      // the UAC's (a loaded machine); wait for it until the burst ends
      if (isOk(c.uac.byeStatus) && byeTie(c)?.kind === "nowhere") continue;
      facts.push(...this.conclude(c));
    }
    return facts;
  }

  /** The burst is over: calls of it without a final answer failed; later messages of it are late. */
  finishBurst(burst: BurstLabel): EvidenceFact[] {
    this.finishedBursts.add(burst);
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
    return [
      { kind: "finished", call: c, completed: o.outcome === "completed", ...(o.reason ? { reason: o.reason } : {}) },
    ];
  }

  callsOf(burst: BurstLabel): CallEvidence[] {
    return [...this.calls.values()].filter((c) => c.burst === burst);
  }
}

/** Call evidence as one flat row (results.json). */
export function callRow(c: CallEvidence): Record<string, unknown> {
  const o = outcomeOf(c);
  const join = (bs: BackendRole[]): string | null => (bs.length === 0 ? null : bs.join("+"));
  const retrans = (s: Partial<Record<BackendRole, RequestSeen>>): number =>
    Object.values(s).reduce((n, r) => n + (r?.retransmissions ?? 0), 0);
  const instances = (s: Partial<Record<BackendRole, RequestSeen>>): number[] =>
    backendsOf(s).flatMap((b) => (s[b]?.instance !== undefined ? [s[b].instance] : []));
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
    dialogToTag: c.uac.dialogToTag ?? null,
    byeToTag: c.uac.byeToTag ?? null,
    inviteBackendInstance: instances(c.invite)[0] ?? null,
    byeBackendInstance: instances(c.bye)[0] ?? null,
    byeBackendAnswer:
      backendsOf(c.bye)
        .map((b) => c.bye[b]?.answer?.status)
        .find((s) => s !== undefined) ?? null,
    inviteRetransmissionsAtBackend: retrans(c.invite),
    byeRetransmissionsAtBackend: retrans(c.bye),
    ...(c.uac.unexpected ? { uacNote: c.uac.unexpected } : {}),
  };
}
