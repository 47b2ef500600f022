import type { EslFrame } from "./event-socket.js";

/**
 * FreeSWITCH's channel events (pure): CREATE, ANSWER, HANGUP and HANGUP_COMPLETE read from the event
 * socket's frames, each with the SIP Call-ID of its dialog (src/evidence/event-socket.ts folds them
 * per call). Tested on events recorded from FreeSWITCH 1.10.3 and 1.10.12.
 *
 * Subscribe with `event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE`;
 * each event arrives as a `text/event-plain` frame whose body is `Name: url-encoded value` lines.
 */

export const CHANNEL_EVENTS = [
  "CHANNEL_CREATE",
  "CHANNEL_ANSWER",
  "CHANNEL_HANGUP",
  "CHANNEL_HANGUP_COMPLETE",
] as const;
export type ChannelEventName = (typeof CHANNEL_EVENTS)[number];

/** The subscription command for the events this module reads. */
export const CHANNEL_EVENT_SUBSCRIPTION = `event plain ${CHANNEL_EVENTS.join(" ")}`;

export interface ChannelEvent {
  name: ChannelEventName;
  /** the SIP Call-ID of the channel's dialog (variable_sip_call_id) */
  callId: string;
  /** FreeSWITCH's channel UUID */
  uniqueId: string;
  direction: string | undefined;
  /** Event-Date-Timestamp (µs since the epoch) in ms */
  atMs: number;
  /** the instance's switchname (the lab sets pbx-cutover-old / -new) */
  switchname: string | undefined;
  /** Core-UUID: one per FreeSWITCH process run */
  coreUuid: string | undefined;
  destination: string | undefined;
  hangupCause: string | undefined;
  /** variable_sip_hangup_disposition: recv_bye = the caller's BYE reached this FreeSWITCH */
  hangupDisposition: string | undefined;
}

function decode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** The body of a text/event-plain frame: header lines, values URL-encoded (first occurrence wins). */
export function parseEventPlain(body: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of body.split("\n")) {
    if (line === "") break; // an event's own body (if any) follows a blank line
    const c = line.indexOf(":");
    if (c <= 0) continue;
    const key = line.slice(0, c).trim();
    if (!out.has(key)) out.set(key, decode(line.slice(c + 1).trim()));
  }
  return out;
}

/** A channel event from one frame, or undefined for anything else (replies, other events, no Call-ID). */
export function channelEventFrom(frame: EslFrame): ChannelEvent | undefined {
  if ((frame.headers.get("content-type") ?? "") !== "text/event-plain") return undefined;
  const h = parseEventPlain(frame.body);
  const name = h.get("Event-Name") as ChannelEventName | undefined;
  if (name === undefined || !CHANNEL_EVENTS.includes(name)) return undefined;
  const callId = h.get("variable_sip_call_id");
  const uniqueId = h.get("Unique-ID");
  if (!callId || !uniqueId) return undefined;
  const us = Number(h.get("Event-Date-Timestamp"));
  return {
    name,
    callId,
    uniqueId,
    direction: h.get("Caller-Direction") ?? h.get("Call-Direction"),
    atMs: Number.isFinite(us) ? us / 1000 : NaN,
    switchname: h.get("FreeSWITCH-Switchname"),
    coreUuid: h.get("Core-UUID"),
    destination: h.get("Caller-Destination-Number"),
    hangupCause: h.get("Hangup-Cause"),
    hangupDisposition: h.get("variable_sip_hangup_disposition"),
  };
}

/** `api show channels count` -> N (the body is "\n<N> total.\n"); undefined when it says something else. */
export function parseChannelsCount(body: string): number | undefined {
  const m = /^\s*(\d+)\s+total\.\s*$/.exec(body);
  return m ? Number(m[1]) : undefined;
}
