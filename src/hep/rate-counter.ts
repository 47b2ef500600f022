/**
 * Live per-backend rates from the HEP stream (pure): what Kamailio mirrored, counted per window.
 *
 *   routed   initial INVITEs Kamailio forwarded to a backend (a new call routed there): an INVITE
 *            from the proxy to the backend's address without a To-tag; Kamailio's own
 *            retransmissions of it are not counted again
 *   answers  responses to INVITE the backend sent Kamailio, by class 1xx (100 Trying and 180
 *            included), 2xx, 3xx-6xx; the backend's retransmissions of a response are not counted again
 *
 * `take(at)` closes the window: the counts since the previous take and how long it was, so a
 * consumer shows per second (`perSecond`). Cheap per packet (12-14 mirrored messages per call at
 * 1000 calls/s): the first bytes of the payload decide whether the head is read at all. Duplicates
 * are recognised within the current and the previous window (retransmissions come within seconds),
 * so memory stays bounded by two windows of calls.
 */
import type { AnswerClass, BackendCounts } from "../events/run-events.js";
import { readSipHeadOf, type SipHead } from "../sip/message.js";
import type { HepPacket } from "./decode.js";
import { sightingOf, type HepView } from "./evidence-source.js";
import type { BackendRole } from "../core/backend-role.js";

export const ANSWER_CLASSES = ["1xx", "2xx", "3xx-6xx"] as const satisfies readonly AnswerClass[];
export type { AnswerClass, BackendCounts };

export interface RateWindow {
  /** when the window closed (ms since the epoch) */
  at: number;
  /** how long it was, ms */
  windowMs: number;
  backends: Record<BackendRole, BackendCounts>;
}

export const emptyCounts = (): BackendCounts => ({ routed: 0, answers: { "1xx": 0, "2xx": 0, "3xx-6xx": 0 } });

export function answerClass(status: number): AnswerClass | undefined {
  if (status >= 100 && status < 200) return "1xx";
  if (status >= 200 && status < 300) return "2xx";
  if (status >= 300 && status < 700) return "3xx-6xx";
  return undefined;
}

/** n events over windowMs, per second (0 for an empty window) */
export function perSecond(n: number, windowMs: number): number {
  return windowMs > 0 ? (n * 1000) / windowMs : 0;
}

/** Counts added up (totals over many windows). */
export function addCounts(a: BackendCounts, b: BackendCounts): BackendCounts {
  return {
    routed: a.routed + b.routed,
    answers: {
      "1xx": a.answers["1xx"] + b.answers["1xx"],
      "2xx": a.answers["2xx"] + b.answers["2xx"],
      "3xx-6xx": a.answers["3xx-6xx"] + b.answers["3xx-6xx"],
    },
  };
}

/** does the payload start with `prefix` (ASCII)? */
function startsWith(payload: Buffer, prefix: string): boolean {
  if (payload.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (payload[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

/** the tag parameter of a To header value, if any */
function hasToTag(to: string | undefined): boolean {
  return to !== undefined && /;\s*tag\s*=/i.test(to);
}

export class RateCounter {
  private current: Record<BackendRole, BackendCounts> = { old: emptyCounts(), new: emptyCounts() };
  private seen = new Set<string>();
  private seenBefore = new Set<string>();
  private openedAt: number;
  /** mirrored packets counted (routed or answer) since the start */
  counted = 0;

  constructor(
    private readonly view: HepView,
    at: number,
  ) {
    this.openedAt = at;
  }

  /** `head`: the payload's head when the caller read it already (read here otherwise, only for INVITEs to and responses from a backend) */
  add(p: HepPacket, head?: SipHead): void {
    const s = sightingOf(p, this.view);
    if (!s || s.party !== "backend") return;
    const toBackend = s.direction === "received";
    if (toBackend ? !startsWith(p.payload, "INVITE ") : !startsWith(p.payload, "SIP/2.0 ")) return;
    const h = head ?? readSipHeadOf(p.payload);
    if (!h || h.cseq?.method !== "INVITE") return;
    let key: string;
    if (toBackend) {
      if (h.kind !== "request" || hasToTag(h.to)) return; // a re-INVITE is no new call
      key = `${s.backend}|i|${h.callId ?? ""}|${h.cseq.seq}|${h.topViaBranch ?? ""}`;
    } else {
      if (h.status === undefined) return;
      const cls = answerClass(h.status);
      if (!cls) return;
      key = `${s.backend}|r|${h.callId ?? ""}|${h.cseq.seq}|${h.status}|${h.topViaBranch ?? ""}`;
      if (this.duplicate(key)) return;
      this.current[s.backend].answers[cls]++;
      this.counted++;
      return;
    }
    if (this.duplicate(key)) return;
    this.current[s.backend].routed++;
    this.counted++;
  }

  private duplicate(key: string): boolean {
    if (this.seen.has(key) || this.seenBefore.has(key)) return true;
    this.seen.add(key);
    return false;
  }

  /** Close the window at `at`: its counts, and a new window starts. */
  take(at: number): RateWindow {
    const w: RateWindow = { at, windowMs: Math.max(0, at - this.openedAt), backends: this.current };
    this.current = { old: emptyCounts(), new: emptyCounts() };
    this.seenBefore = this.seen;
    this.seen = new Set();
    this.openedAt = at;
    return w;
  }
}
