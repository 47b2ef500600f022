/**
 * HEP into the run's evidence book (pure): mirrored packets, queued as the collector receives them,
 * drained into an `EvidenceBook` as the messages a backend or the caller exchanged
 * (src/hep/evidence-source.ts says whose and which way).
 *
 * A request Kamailio forwarded to a backend counts as received by that backend once the backend
 * answered it (any response, 100 Trying included): HEP shows what Kamailio sent, not what arrived,
 * so a forward to a stopped backend is "Kamailio sent it, nobody is shown to have received it",
 * exactly what that backend's own log would say. ACK has no answer and counts when forwarded.
 * Until its answer arrives a forwarded request waits here; `unanswered()` lists those never answered.
 *
 * Kamailio's workers mirror independently, so the mirror of a backend's answer can arrive before the
 * mirror of the request another worker forwarded (seen on the lab at 20 calls/s): an answer whose
 * request was not seen yet waits for it.
 */

import type { HepPacket } from "../hep/decode.js";
import { hepStamp, sightingOf, type HepSighting, type HepView } from "../hep/evidence-source.js";
import { readSipHeadOf, type SipHead } from "../sip/message.js";
import { parseCallId } from "./call-id.js";
import type { EvidenceBook, EvidenceFact } from "./book.js";
import type { BackendRole } from "../core/backend-role.js";

interface Forwarded {
  backend: BackendRole;
  msg: SipHead;
  stamp: string;
}

export interface UnansweredForward {
  backend: BackendRole;
  method: string;
  callId: string;
  stamp: string;
}

/** transaction key as the backend sees it: Call-ID, CSeq, method, top Via branch (Kamailio's) */
function txKey(backend: BackendRole, msg: SipHead): string {
  const cseq = msg.cseq;
  const method = msg.kind === "request" ? msg.method! : (cseq?.method ?? "?");
  return `${backend}|${msg.callId ?? ""}|${cseq?.seq ?? "?"}|${method}|${msg.topViaBranch ?? ""}`;
}

export class HepFeed {
  private queue: HepPacket[] = [];
  /** the queued packets' heads as the capture read them (undefined: read when drained) */
  private heads: (SipHead | undefined)[] = [];
  private readonly waiting = new Map<string, Forwarded[]>();
  private readonly answered = new Set<string>();
  /** answers whose request's mirror had not arrived yet */
  private readonly early = new Map<string, { backend: BackendRole; msg: SipHead; stamp: string }[]>();
  /** transactions whose request was delivered to the book */
  private readonly delivered = new Set<string>();
  /** TEST-ONLY (src/sim/test-faults.ts, hep-drop-bye): messages the evidence loses */
  drop: ((msg: SipHead, s: HepSighting) => boolean) | undefined;
  /** packets that were neither a backend's nor the caller's (Kamailio is neither end) or not SIP */
  ignored = 0;

  constructor(private readonly view: HepView) {}

  /**
   * The collector's onPacket: only queues (the payload is a view into a datagram nobody reuses).
   * `head`: the payload's SIP head if the capture read it already (the book reads nothing else).
   */
  readonly push = (p: HepPacket, head?: SipHead): void => {
    this.queue.push(p);
    this.heads.push(head);
  };

  /** Feed every queued packet into `book`; returns the facts it produced. */
  drain(book: EvidenceBook): EvidenceFact[] {
    const q = this.queue;
    const heads = this.heads;
    this.queue = [];
    this.heads = [];
    const facts: EvidenceFact[] = [];
    for (let i = 0; i < q.length; i++) {
      const f = this.feed(book, q[i]!, heads[i]);
      for (const x of f) facts.push(x);
    }
    return facts;
  }

  private feed(book: EvidenceBook, p: HepPacket, head: SipHead | undefined): EvidenceFact[] {
    const s = sightingOf(p, this.view);
    const msg = s ? (head ?? readSipHeadOf(p.payload)) : undefined;
    if (!s || !msg) {
      this.ignored++;
      return [];
    }
    if (this.drop?.(msg, s)) return [];
    const stamp = hepStamp(p);
    if (s.party === "caller") {
      const id = parseCallId(msg.callId ?? "");
      return id ? book.uacMessage(id.burst, msg, { stamp, direction: s.direction }) : [];
    }
    const b = s.backend;
    if (s.direction === "received") {
      const key = txKey(b, msg);
      if (msg.method === "INVITE") book.forwarded(b, msg.callId ?? "");
      if (msg.kind === "request" && msg.method !== "ACK" && !this.answered.has(key)) {
        const w = this.waiting.get(key);
        if (w) w.push({ backend: b, msg, stamp });
        else this.waiting.set(key, [{ backend: b, msg, stamp }]);
        return [];
      }
      const facts = book.backendMessage(b, msg, { stamp, direction: "received" });
      if (msg.kind === "request") this.delivered.add(key);
      for (const e of this.early.get(key) ?? [])
        facts.push(...book.backendMessage(e.backend, e.msg, { stamp: e.stamp, direction: "sent" }));
      this.early.delete(key);
      return facts;
    }
    // the backend answered: what it was sent of this transaction reached it
    const facts: EvidenceFact[] = [];
    if (msg.kind === "response") {
      const key = txKey(b, msg);
      this.answered.add(key);
      const w = this.waiting.get(key);
      if (!w && !this.delivered.has(key)) {
        // its request's mirror is still on the way
        const e = this.early.get(key);
        if (e) e.push({ backend: b, msg, stamp });
        else this.early.set(key, [{ backend: b, msg, stamp }]);
        return [];
      }
      for (const f of w ?? [])
        facts.push(...book.backendMessage(f.backend, f.msg, { stamp: f.stamp, direction: "received" }));
      this.waiting.delete(key);
      this.delivered.add(key);
    }
    facts.push(...book.backendMessage(b, msg, { stamp, direction: "sent" }));
    return facts;
  }

  /** requests Kamailio forwarded that their backend never answered (first copy of each) */
  unanswered(): UnansweredForward[] {
    return [...this.waiting.values()].map((w) => {
      const f = w[0]!;
      return { backend: f.backend, method: f.msg.method ?? "?", callId: f.msg.callId ?? "", stamp: f.stamp };
    });
  }
}
