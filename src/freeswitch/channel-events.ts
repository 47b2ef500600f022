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
  /** CHANNEL_HANGUP_COMPLETE: the channel's audio RTP counters (variable_rtp_audio_*), when it had media */
  rtp?: ChannelRtp;
}

/**
 * FreeSWITCH's own count of a channel's audio: packets it received from the caller and sent to it.
 * Its MOS is kept for the record only: it is computed over the packets that arrived, so a channel
 * that received none still reports one (4.50 on 1.10.3 and 1.10.12).
 */
export interface ChannelRtp {
  inPackets: number;
  outPackets: number;
  inMos: number | undefined;
}

function rtpOf(h: Map<string, string>): ChannelRtp | undefined {
  const inPackets = Number(h.get("variable_rtp_audio_in_packet_count"));
  const outPackets = Number(h.get("variable_rtp_audio_out_packet_count"));
  if (!h.has("variable_rtp_audio_in_packet_count") || !Number.isFinite(inPackets) || !Number.isFinite(outPackets))
    return undefined;
  const mos = Number(h.get("variable_rtp_audio_in_mos"));
  return { inPackets, outPackets, inMos: h.has("variable_rtp_audio_in_mos") && Number.isFinite(mos) ? mos : undefined };
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
    ...(name === "CHANNEL_HANGUP_COMPLETE" && rtpOf(h) ? { rtp: rtpOf(h)! } : {}),
  };
}

/** `api show channels count` -> N (the body is "\n<N> total.\n"); undefined when it says something else. */
export function parseChannelsCount(body: string): number | undefined {
  const m = /^\s*(\d+)\s+total\.\s*$/.exec(body);
  return m ? Number(m[1]) : undefined;
}
