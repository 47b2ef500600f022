/**
 * HEP as an evidence source for the run's per-call book (pure). Kamailio mirrors what it receives
 * and sends; the book wants "what a backend received and sent" and "what the caller sent and
 * received". A mirrored message is one of those, seen from the proxy:
 *
 * | mirrored message                     | party           | direction (the party's view) |
 * | ------------------------------------ | --------------- | ---------------------------- |
 * | Kamailio → a backend's address       | that backend    | received                     |
 * | a backend's address → Kamailio       | that backend    | sent                         |
 * | Kamailio → anyone else (the caller)  | caller          | received                     |
 * | anyone else → Kamailio               | caller          | sent                         |
 *
 * (What Kamailio sent a backend is what the backend was sent: a datagram lost on the way is not
 * visible in HEP; the backend's answer, or its absence, is.)
 */

import type { Direction } from "../sip/message-log.js";
import type { HepPacket } from "./decode.js";
import { endpointKey, type EndpointKey } from "./evidence.js";
import type { BackendRole } from "../core/backend-role.js";

export interface HepView {
  /** Kamailio's SIP sockets */
  proxy: ReadonlySet<EndpointKey>;
  /** the backends' SIP endpoints as the dispatcher addresses them */
  backends: Readonly<Record<BackendRole, EndpointKey>>;
}

export type HepSighting =
  { party: "backend"; backend: BackendRole; direction: Direction } | { party: "caller"; direction: Direction };

export function hepView(proxy: readonly EndpointKey[], backends: Record<BackendRole, EndpointKey>): HepView {
  return { proxy: new Set(proxy), backends };
}

function backendAt(v: HepView, e: EndpointKey): BackendRole | undefined {
  if (v.backends.old === e) return "old";
  if (v.backends.new === e) return "new";
  return undefined;
}

/** Whose message a mirrored packet is; undefined when Kamailio is neither its source nor its destination. */
export function sightingOf(p: HepPacket, v: HepView): HepSighting | undefined {
  const from = endpointKey(p.src);
  const to = endpointKey(p.dst);
  if (v.proxy.has(from)) {
    const b = backendAt(v, to);
    return b ? { party: "backend", backend: b, direction: "received" } : { party: "caller", direction: "received" };
  }
  if (v.proxy.has(to)) {
    const b = backendAt(v, from);
    return b ? { party: "backend", backend: b, direction: "sent" } : { party: "caller", direction: "sent" };
  }
  return undefined;
}

/**
 * The capture time as the SIPp logs print theirs (local time, microseconds:
 * "2026-11-23 22:51:52.507765"), so stamps from both sources compare and parse alike.
 */
export function hepStamp(p: Pick<HepPacket, "tsSec" | "tsUsec">): string {
  // the local date and time of a second, made once per second (thousands of packets share it)
  if (p.tsSec !== stampSecond) {
    const d = new Date(p.tsSec * 1000);
    const two = (n: number): string => String(n).padStart(2, "0");
    stampPrefix = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.`;
    stampSecond = p.tsSec;
  }
  return stampPrefix + String(p.tsUsec).padStart(6, "0");
}
let stampSecond = -1;
let stampPrefix = "";
