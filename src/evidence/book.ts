/**
 * Evidence per call (pure): fed with the SIP messages the backends and the UAC bursts exchanged, it
 * knows for every Call-ID which backend (and which instance of it) received its INVITE and its BYE,
 * how each answered, and which final responses the UAC saw, with the dialog's To-tag. Retransmissions
 * never count as calls: a request is one transaction per Call-ID + CSeq + top Via branch, whatever
 * number of copies arrive.
 *
 * Facts are source-neutral: `backendMessage` / `uacMessage` take a message's head (start line,
 * Call-ID, CSeq, To, top Via: all the book reads) plus a stamp of where and when it was seen, so any
 * evidence source (the SIPp stand-ins' message logs: sipp-log.ts; HEP: hep-feed.ts) can feed the same book.
 *
 * Every message of one of this run's Call-IDs belongs to that call's burst (the Call-ID says which),
 * whenever it arrives: a message read after its burst ended is recorded as late evidence of that
 * burst's phase, never as something that happened in the phase running at the time.
 */
import type { SimPhase } from "../events/run-events.js";
import type { BackendRole } from "../core/backend-role.js";
import type { SipHead } from "../sip/message.js";
import { parseCallId, phaseOfBurst, type BurstLabel } from "./call-id.js";
import type { CallEvidence, RequestSeen, SourceStamp } from "./call.js";
import { backendsOf, byeTie, isOk, outcomeOf, tagOf } from "./outcome.js";

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
  /** per burst, its calls not concluded yet (in the order they were first seen): what settle looks at */
  private readonly open = new Map<BurstLabel, Map<string, CallEvidence>>();
  /** calls with new evidence since their burst's last settle: only their outcome can have changed */
  private readonly touched = new Set<CallEvidence>();
  /** each call's place in the order calls were first seen (settle concludes in that order) */
  private readonly firstSeen = new WeakMap<CallEvidence, number>();
  private seen = 0;
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
      this.firstSeen.set(c, this.seen++);
      let open = this.open.get(burst);
      if (!open) this.open.set(burst, (open = new Map<string, CallEvidence>()));
      open.set(callId, c);
    }
    if (!this.concluded.has(callId)) this.touched.add(c);
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
      if (seen && !seen.answer) {
        seen.answer = { status: msg.status!, toTag: tagOf(msg.to), stamp: at.stamp };
        const c = this.calls.get(callId);
        if (c && !this.concluded.has(callId)) this.touched.add(c);
      }
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

  /** The proxy forwarded a call's INVITE to `backend` (HEP), answered or not: the first forward names it. */
  forwarded(backend: BackendRole, callId: string): void {
    const id = parseCallId(callId);
    if (id === undefined || id.runId !== this.runId) return;
    this.call(callId, id.burst).forwardedTo ??= backend;
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
    if (at.direction !== "received" || msg.kind !== "response" || msg.status === undefined) return [];
    if (cseq?.method === "INVITE" && msg.status !== 100) u.firstResponseStamp ??= at.stamp;
    if (msg.status < 200) return [];
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
    const open = this.open.get(burst);
    if (open === undefined) return facts;
    // the burst's open calls with new evidence, in the order first seen: a poll's worth, not every open call
    const mine: CallEvidence[] = [];
    for (const c of this.touched) if (c.burst === burst) mine.push(c);
    mine.sort((a, b) => this.firstSeen.get(a)! - this.firstSeen.get(b)!);
    for (const c of mine) {
      this.touched.delete(c);
      if (open.get(c.callId) !== c) continue;
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
    for (const c of this.open.get(burst)?.values() ?? []) {
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
    this.touched.delete(c);
    this.open.get(c.burst)?.delete(c.callId);
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
