import type { EslFrame } from "./event-socket.js";

/**
 * Per-call evidence from a FreeSWITCH's own event socket (pure): which calls it received, by the
 * SIP Call-ID, whether it answered them, and how they ended. FreeSWITCH writes no SIPp-style
 * message log, so this is the real PBX's own account of the calls, next to Kamailio's (HEP) and
 * the caller's (SIPp). Tested on events recorded from FreeSWITCH 1.10.3 and 1.10.12.
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

/** What one FreeSWITCH says about one call (by Call-ID). */
export interface FreeswitchCall {
  callId: string;
  /** channel UUIDs seen for this Call-ID (more than one = the dialog reached this PBX twice) */
  channels: string[];
  createdAtMs: number | undefined;
  answeredAtMs: number | undefined;
  hungUpAtMs: number | undefined;
  hangupCause: string | undefined;
  hangupDisposition: string | undefined;
  /** the BYE that ended the call reached this FreeSWITCH (it hung up on the caller's BYE) */
  byeReceived: boolean;
  /** CHANNEL_HANGUP_COMPLETE seen: nothing more will come for this channel */
  complete: boolean;
}

/** Folds channel events into per-Call-ID calls. One book per FreeSWITCH instance. */
export class FreeswitchCallBook {
  private readonly calls = new Map<string, FreeswitchCall>();

  add(e: ChannelEvent): FreeswitchCall {
    let c = this.calls.get(e.callId);
    if (!c) {
      c = {
        callId: e.callId,
        channels: [],
        createdAtMs: undefined,
        answeredAtMs: undefined,
        hungUpAtMs: undefined,
        hangupCause: undefined,
        hangupDisposition: undefined,
        byeReceived: false,
        complete: false,
      };
      this.calls.set(e.callId, c);
    }
    if (!c.channels.includes(e.uniqueId)) c.channels.push(e.uniqueId);
    switch (e.name) {
      case "CHANNEL_CREATE":
        c.createdAtMs ??= e.atMs;
        break;
      case "CHANNEL_ANSWER":
        c.answeredAtMs ??= e.atMs;
        break;
      case "CHANNEL_HANGUP":
        c.hungUpAtMs ??= e.atMs;
        c.hangupCause ??= e.hangupCause;
        break;
      case "CHANNEL_HANGUP_COMPLETE":
        c.hungUpAtMs ??= e.atMs;
        c.hangupCause ??= e.hangupCause;
        c.hangupDisposition = e.hangupDisposition ?? c.hangupDisposition;
        c.byeReceived = c.hangupDisposition === "recv_bye";
        c.complete = true;
        break;
    }
    return c;
  }

  get(callId: string): FreeswitchCall | undefined {
    return this.calls.get(callId);
  }

  /** every call, in the order first seen */
  all(): FreeswitchCall[] {
    return [...this.calls.values()];
  }

  /** calls whose Call-ID starts with `prefix` (a run's or burst's tag) */
  withPrefix(prefix: string): FreeswitchCall[] {
    return this.all().filter((c) => c.callId.startsWith(prefix));
  }

  /** channels up right now by this book (created, not hung up) */
  activeCount(): number {
    return this.all().filter((c) => c.createdAtMs !== undefined && c.hungUpAtMs === undefined).length;
  }
}

/** `api show channels count` -> N (the body is "\n<N> total.\n"); undefined when it says something else. */
export function parseChannelsCount(body: string): number | undefined {
  const m = /^\s*(\d+)\s+total\.\s*$/.exec(body);
  return m ? Number(m[1]) : undefined;
}
