/**
 * One call's evidence (pure data): per Call-ID, what each backend received of the call's INVITE and
 * BYE (and which instance of it, and how it answered), and what the caller sent and received. Every
 * evidence source fills the same record through the book (book.ts): the SIPp stand-ins' message logs
 * (sipp-log.ts), HEP mirrored by Kamailio (hep-feed.ts). Its verdicts are views of it: the outcome
 * rules (outcome.ts), sim's assertions (assertions.ts) and the gates' RFC 6076 record (call-record.ts).
 */
import type { SimPhase } from "../events/run-events.js";
import type { BackendRole } from "../core/backend-role.js";
import type { Direction } from "../sip/message-log.js";
import type { BurstLabel } from "./call-id.js";

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
  /**
   * where the proxy forwarded the INVITE (HEP: what Kamailio sent, whether or not the backend
   * answered): names the backend of a call that reached no backend's own evidence (a stopped one)
   */
  forwardedTo?: BackendRole;
  uac: {
    inviteSentStamp?: string;
    /** when the UAC received the first response to the INVITE other than 100 Trying (a 180, 183 or the final) */
    firstResponseStamp?: string;
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
