/**
 * Caller-side media evidence (pure): RTP packets counted per call and direction from a loopback
 * capture of the caller's media ports, and the `media-both-ways` verdict.
 *
 * A call's stream is known by its SSRC (SIPp numbers its streams from SIPP_BASE_SSRC in the order
 * they start, which the scenario's log records); the stand-ins echo each packet unchanged, so what
 * comes back carries the same SSRC. The address a reply came from is checked against the media
 * address in the 200 OK's SDP the caller received.
 */
import path from "node:path";
import type { BackendRole } from "../core/backend-role.js";
import type { FreeswitchCall, PbxCalls } from "../evidence/event-socket.js";
import type { SimPhase } from "../events/run-events.js";
import type { LoggedMessage } from "../sip/message-log.js";
import { readSipHead } from "../sip/message.js";
import { stampMs } from "../sip/message-log.js";
import { expectedPackets, PACKET_MS, SIPP_BASE_SSRC } from "../sipp/media.js";
import type { Assertion } from "../evidence/assertions.js";
import type { CallAudio } from "../evidence/call-record.js";
import { MAX_CAPLEN, PCAP_GLOBAL_HEADER, PCAP_RECORD_HEADER, pcapHeaderOf } from "./pcap-format.js";
import { RtpStreamStats, type RtpStreamFigures } from "./rtp-stats.js";

export interface RtpPacket {
  src: string;
  dst: string;
  ssrc: number;
  seq: number;
  /** RTP timestamp */
  ts: number;
  /** RTP payload type (0 PCMU, 8 PCMA) */
  pt: number;
  /** capture time, ms since the epoch */
  ms: number;
}

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_RAW = 101;
const LINKTYPE_LINUX_SLL = 113;

export interface UdpDatagram {
  src: string;
  dst: string;
  dstPort: number;
  payload: Buffer;
  /** capture time, ms since the epoch */
  ms: number;
}

/** Each IPv4/UDP datagram in a classic pcap file (micro- or nanosecond): addresses, time, payload. */
export function udpDatagramsOf(pcap: Buffer): UdpDatagram[] {
  return new PcapReader().push(pcap);
}

/** the pcap file header's fields a record needs */
interface PcapHead {
  le: boolean;
  nano: boolean;
  linkHeader: number;
}

/** "a.b.c.d:port" strings by address and port, made once each (a capture holds few endpoints, each in many packets) */
class EndpointNames {
  private readonly names = new Map<number, string>();

  of(b: Buffer, ip: number, port: number): string {
    const key = b.readUInt32BE(ip) * 65536 + port;
    let name = this.names.get(key);
    if (name === undefined) {
      // a capture of many endpoints (a fleet of callers) never makes this grow without bound
      if (this.names.size >= 65536) this.names.clear();
      name = `${b[ip]}.${b[ip + 1]}.${b[ip + 2]}.${b[ip + 3]}:${port}`;
      this.names.set(key, name);
    }
    return name;
  }
}

/** the bytes before the IP header in a record of each link type the reader reads */
const LINK_HEADER_BYTES: Partial<Record<number, number>> = {
  [LINKTYPE_ETHERNET]: 14,
  [LINKTYPE_RAW]: 0,
  [LINKTYPE_LINUX_SLL]: 16,
};

/** a record longer than this is no pcap record */
const MAX_RECORD_BYTES = PCAP_RECORD_HEADER + MAX_CAPLEN;

/**
 * A classic pcap file or stream read as it grows: `push` each new chunk of bytes; it returns the
 * IPv4/UDP datagrams of the records completed so far (a partial record waits for its bytes). `pushRtp`
 * returns only the RTP packets, without a datagram object or a payload view per packet (the live
 * count's path). Neither keeps `chunk` (a caller may reuse it for its next read); `push`'s payloads are
 * views of it, valid until then. A record split across two chunks is completed in a small copy of its
 * own. `onRecord` sees every complete record as it is, whatever it holds (its 16-byte header and
 * data: a view, valid only during the call).
 */
export class PcapReader {
  /** the start of a file header or record the last chunk ended in (a copy) */
  private pending: Buffer = Buffer.alloc(0);
  private head: PcapHead | undefined;
  private readonly endpoints = new EndpointNames();
  /** the file's 24-byte global header, once read */
  header: Buffer | undefined;

  constructor(private readonly onRecord?: (record: Buffer) => void) {}

  push(chunk: Buffer): UdpDatagram[] {
    const out: UdpDatagram[] = [];
    this.records(chunk, (b, ip, end, ms) => {
      const udp = this.udpOffset(b, ip);
      const dstPort = b.readUInt16BE(udp + 2);
      out.push({
        src: this.endpoints.of(b, ip + 12, b.readUInt16BE(udp)),
        dst: this.endpoints.of(b, ip + 16, dstPort),
        dstPort,
        payload: b.subarray(udp + 8, end),
        ms,
      });
    });
    return out;
  }

  /** the RTP packets; each other UDP datagram's destination port and payload (a view) to `notRtp` */
  pushRtp(chunk: Buffer, notRtp?: (dstPort: number, payload: Buffer) => void): RtpPacket[] {
    const out: RtpPacket[] = [];
    this.records(chunk, (b, ip, end, ms) => {
      const udp = this.udpOffset(b, ip);
      const rtp = udp + 8;
      if (end - rtp < 12 || b[rtp]! >> 6 !== 2) {
        notRtp?.(b.readUInt16BE(udp + 2), b.subarray(rtp, end));
        return;
      }
      out.push({
        src: this.endpoints.of(b, ip + 12, b.readUInt16BE(udp)),
        dst: this.endpoints.of(b, ip + 16, b.readUInt16BE(udp + 2)),
        ssrc: b.readUInt32BE(rtp + 8),
        seq: b.readUInt16BE(rtp + 2),
        ts: b.readUInt32BE(rtp + 4),
        pt: b[rtp + 1]! & 0x7f,
        ms,
      });
    });
    return out;
  }

  private udpOffset(b: Buffer, ip: number): number {
    return ip + (b[ip]! & 0x0f) * 4;
  }

  /**
   * Each complete IPv4/UDP record of what was pending plus `chunk`: `visit(buffer, ipStart, recordEnd,
   * ms)`. A record (or the file header) split across chunks is completed by copying only its own bytes.
   */
  private records(chunk: Buffer, visit: (b: Buffer, ip: number, end: number, ms: number) => void): void {
    let at = 0;
    while (this.pending.length > 0) {
      const want = this.unitBytes(this.pending);
      if (this.pending.length >= want) {
        this.parse(this.pending, 0, visit);
        this.pending = Buffer.alloc(0);
        break;
      }
      if (at >= chunk.length) return;
      const take = Math.min(want - this.pending.length, chunk.length - at);
      this.pending = Buffer.concat([this.pending, chunk.subarray(at, at + take)]);
      at += take;
    }
    const done = this.parse(chunk, at, visit);
    // keep only the unread tail (a copy: the chunk may be reused by the caller)
    this.pending = Buffer.from(chunk.subarray(done));
  }

  /** the bytes of the unit starting `b`: the file header, a record header, or a whole record */
  private unitBytes(b: Buffer): number {
    if (!this.head) return 24;
    if (b.length < 16) return 16;
    return 16 + this.caplen(b, 0);
  }

  /** a record's captured length, refused beyond any snapshot length (no pcap stream: not an allocation without bound) */
  private caplen(b: Buffer, at: number): number {
    const n = this.head!.le ? b.readUInt32LE(at + 8) : b.readUInt32BE(at + 8);
    if (16 + n > MAX_RECORD_BYTES) throw new Error(`a pcap record of ${n} bytes: not a pcap file or stream`);
    return n;
  }

  /** the file header (once) and every complete record of `pcap` from `at`; where the first incomplete one starts */
  private parse(pcap: Buffer, at: number, visit: (b: Buffer, ip: number, end: number, ms: number) => void): number {
    if (!this.head) {
      if (pcap.length - at < PCAP_GLOBAL_HEADER) return at;
      const h = pcapHeaderOf(pcap.subarray(at), "the capture");
      const linkHeader = LINK_HEADER_BYTES[h.linktype];
      if (linkHeader === undefined) throw new Error(`pcap link type ${h.linktype} is not read`);
      this.head = { le: h.littleEndian, nano: h.nanos, linkHeader };
      this.header = h.bytes;
      at += PCAP_GLOBAL_HEADER;
    }
    const { le, nano, linkHeader } = this.head;
    while (at + 16 <= pcap.length) {
      const caplen = this.caplen(pcap, at);
      const start = at + 16;
      if (start + caplen > pcap.length) break;
      this.onRecord?.(pcap.subarray(at, start + caplen));
      const secs = le ? pcap.readUInt32LE(at) : pcap.readUInt32BE(at);
      const frac = le ? pcap.readUInt32LE(at + 4) : pcap.readUInt32BE(at + 4);
      const ms = secs * 1000 + frac / (nano ? 1e6 : 1e3);
      at = start + caplen;
      const ip = start + linkHeader;
      if (ip + 20 > at || pcap[ip]! >> 4 !== 4 || pcap[ip + 9] !== 17) continue;
      if (this.udpOffset(pcap, ip) + 8 > at) continue;
      visit(pcap, ip, at, ms);
    }
    return at;
  }
}

/** The datagrams that look like RTP (version 2, at least 12 bytes), with their SSRC and payload type. */
export function rtpPacketsOf(pcap: Buffer): RtpPacket[] {
  return udpDatagramsOf(pcap)
    .filter((d) => d.payload.length >= 12 && d.payload[0]! >> 6 === 2)
    .map(rtpOf);
}

/** A datagram that looks like RTP as a packet (the caller checked version and length). */
function rtpOf(d: UdpDatagram): RtpPacket {
  return {
    src: d.src,
    dst: d.dst,
    ssrc: d.payload.readUInt32BE(8),
    seq: d.payload.readUInt16BE(2),
    ts: d.payload.readUInt32BE(4),
    pt: d.payload[1]! & 0x7f,
    ms: d.ms,
  };
}

/** The audio of an SDP body: its address ("127.0.0.1:15072", from the first c= and m=audio lines) and payload types. */
export interface SdpAudio {
  address: string;
  formats: number[];
}

/** An SDP body's audio, undefined without c= and m=audio lines */
export function sdpAudioOf(message: string): SdpAudio | undefined {
  const c = /^c=IN IP4 (\S+)/m.exec(message);
  const m = /^m=audio (\d+) RTP\/AVP((?: \d+)+)/m.exec(message);
  if (!c || !m) return undefined;
  return { address: `${c[1]}:${m[1]}`, formats: m[2]!.trim().split(" ").map(Number) };
}

/** What the caller's message log says of one call's media: the offer, the answer, when its BYE went out. */
export interface CallSignals {
  offer?: SdpAudio;
  answer?: SdpAudio;
  /** when the caller sent its BYE (ms since the epoch) */
  byeAt?: number;
}

/** Per Call-ID: the SDP the caller offered (its INVITE), the one it was answered with (the 2xx), its BYE's time. */
export function callSignalsOf(uacLog: LoggedMessage[]): Map<string, CallSignals> {
  const out = new Map<string, CallSignals>();
  for (const r of uacLog) {
    if (r.note !== undefined) continue;
    const h = readSipHead(r.text);
    if (!h?.callId) continue;
    if (h.cseq?.method === "BYE" && r.direction === "sent" && h.kind === "request") {
      const e = out.get(h.callId) ?? {};
      e.byeAt ??= stampMs(r.stamp);
      out.set(h.callId, e);
      continue;
    }
    if (h.cseq?.method !== "INVITE") continue;
    const a = sdpAudioOf(r.text);
    if (a === undefined) continue;
    const e = out.get(h.callId) ?? {};
    if (r.direction === "sent" && h.kind === "request") e.offer ??= a;
    if (r.direction === "received" && h.status !== undefined && h.status >= 200 && h.status < 300) e.answer ??= a;
    out.set(h.callId, e);
  }
  return out;
}

/** One call's media as the caller saw it. */
export interface CallMedia {
  callId: string;
  /** the caller's RTP address (its SDP offer) */
  caller: string | undefined;
  /** the media address in the 200 OK's SDP */
  answered: string | undefined;
  /** payload types offered (the INVITE) and answered (the 200 OK) */
  offeredFormats: number[];
  answeredFormats: number[];
  /** its stream's SSRC (undefined: its stream never started) */
  ssrc?: number;
  /** packets the caller sent (caller -> PBX) */
  sent: number;
  /**
   * of them, those sent until its BYE went out (what the PBX and the relay can have received: they end
   * the call's media at the BYE, and a busy caller streams on until the BYE's answer); undefined: all
   */
  sentBeforeBye?: number;
  /** packets that came back to the caller from the answered address (PBX -> caller) */
  received: number;
  /** packets of this call that came back from another address than the answered one */
  receivedElsewhere: number;
  /** packets that came back with a payload type the answer did not name */
  wrongPayload: number;
  /** how long media flowed: from the caller's first packet to its BYE, or to its last packet's end (ms; the hold when unknown) */
  windowMs: number;
  /** the packets each direction should carry for that time */
  expected: number;
  /** the answering PBX's own count (FreeSWITCH's hangup event), when it reported one */
  pbx?: PbxRtp;
  /** the media relay's own count (rtpengine's ng query), when the call went through one */
  relay?: RelayRtp;
  /**
   * RFC 3550 figures per direction: caller->PBX over the caller's packets as captured leaving it (its
   * jitter is the sender's own), PBX->caller over the packets that came back to it from the answered address
   */
  callerToPbx: RtpStreamFigures;
  pbxToCaller: RtpStreamFigures;
}

/** What the PBX that answered a call counted of its audio (FreeSWITCH: CHANNEL_HANGUP_COMPLETE). */
export interface PbxRtp {
  backend: BackendRole;
  inPackets: number;
  outPackets: number;
  /** FreeSWITCH's MOS over the packets that arrived: recorded, never judged (it has one for 0 packets) */
  inMos: number | undefined;
}

/** What the media relay received of a call's RTP: from the caller's leg and from the PBX's. */
export interface RelayRtp {
  fromCaller: number;
  fromPbx: number;
}

/**
 * A relay's per-leg counters of one call (rtpengine's ng query) as the call's two directions: the leg
 * whose RTP endpoint is the caller's address is the caller's, the other the PBX's; undefined when the
 * relay does not know the call or the caller's leg.
 */
export function relayRtpOf(
  caller: string | undefined,
  legs: readonly { packets: number; endpoint: string | undefined }[],
): RelayRtp | undefined {
  if (caller === undefined) return undefined;
  const mine = legs.find((l) => l.endpoint === caller);
  if (!mine) return undefined;
  const other = legs.filter((l) => l !== mine).reduce((n, l) => n + l.packets, 0);
  return { fromCaller: mine.packets, fromPbx: other };
}

/** A call's PBX-side audio counts from whichever FreeSWITCH reported them (`call`: each one's account of it). */
export function pbxRtpOf(call: (backend: BackendRole) => FreeswitchCall | undefined): PbxRtp | undefined {
  for (const backend of ["old", "new"] as const) {
    const rtp = call(backend)?.rtp;
    if (rtp) return { backend, ...rtp };
  }
  return undefined;
}

/** Each call's PBX-side audio counts from both FreeSWITCHs' books, by Call-ID. */
export function pbxRtpByCall(pbx: PbxCalls): Map<string, PbxRtp> {
  const out = new Map<string, PbxRtp>();
  for (const backend of ["old", "new"] as const)
    for (const c of pbx[backend]) if (c.rtp) out.set(c.callId, { backend, ...c.rtp });
  return out;
}

/** how far (in streams) a stream may have started out of the order its call logged it */
const STREAM_REORDER_SPAN = 8;

/**
 * The calls in the order of their streams' SSRCs. The log gives the order the streams were asked
 * for; streams started close together can take their SSRCs in another order. Each stream's own
 * packets say where it went (the caller sends to the address its call was answered with), so a
 * stream sent elsewhere than its logged call's answer trades places with a nearby call answered
 * there.
 */
function streamsBySsrc<C extends { caller: string | undefined; answered: string | undefined }>(
  calls: C[],
  packets: readonly RtpPacket[],
  firstStream: number,
): C[] {
  const callers = new Set(calls.map((c) => c.caller));
  const to = new Map<number, string>();
  for (const p of packets) {
    const k = (p.ssrc - SIPP_BASE_SSRC - firstStream) >>> 0;
    if (k < calls.length && !to.has(k) && callers.has(p.src)) to.set(k, p.dst);
  }
  const order = [...calls];
  for (let k = 0; k < order.length; k++) {
    const dst = to.get(k);
    if (dst === undefined || order[k]!.answered === dst) continue;
    const lo = Math.max(0, k - STREAM_REORDER_SPAN);
    const hi = Math.min(order.length - 1, k + STREAM_REORDER_SPAN);
    for (let j = lo; j <= hi; j++) {
      if (j === k || order[j]!.answered !== dst) continue;
      // a stream already matched to its call keeps it
      if (j < k && to.get(j) === order[j]!.answered) continue;
      [order[k], order[j]] = [order[j]!, order[k]!];
      break;
    }
  }
  return order;
}

/**
 * SIPp's call number in a Call-ID the tool placed (`<tag>-<call number>-<pid>@<ip>`, SIPp -cid_str
 * `%u-%p@%s`), undefined for any other Call-ID.
 */
export function sippCallNumber(callId: string): number | undefined {
  const m = /-(\d+)-\d+@[^@]*$/.exec(callId);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/**
 * A call's RTP stream SSRC: SIPp 3.6.1's rtp_stream sets a call's up when the call is created (the
 * [rtpstream_audio_port] of its INVITE), so the n-th call of a SIPp process streams with SSRC
 * 0xCA110000 + n - 1, whenever its stream starts (a call answered late starts late, after calls placed
 * after it: the order of the streams is not the order of the SSRCs).
 */
export const ssrcOfCall = (callNumber: number): number => (SIPP_BASE_SSRC + callNumber - 1) >>> 0;

/**
 * Count each call's packets: `streams` is the Call-IDs whose RTP stream started, in the order they
 * logged it. A call's SSRC comes from its SIPp call number (ssrcOfCall); Call-IDs without one (other
 * callers) are taken in log order, `firstStream` being the stream number of `streams[0]`, and a
 * stream sent elsewhere than its logged call's answer trades places with a nearby call answered
 * there. A packet back to the caller is a call's by its SSRC when the PBX echoes it unchanged (the
 * stand-ins), else by the PBX's own stream (source and SSRC) coming from that call's answered address,
 * the call whose stream started nearest to it when a PBX reused the port for a later call.
 */
export function callMedia(
  streams: readonly string[],
  signals: Map<string, CallSignals>,
  packets: readonly RtpPacket[],
  holdMs: number,
  firstStream = 0,
): CallMedia[] {
  interface Counting extends Omit<CallMedia, "callerToPbx" | "pbxToCaller"> {
    firstSent?: number;
    lastSent?: number;
    byeAt?: number;
    out: RtpStreamStats;
    back: Map<number, RtpStreamStats>;
  }
  const counted = (callId: string): Counting => {
    const s = signals.get(callId) ?? {};
    return {
      callId,
      caller: s.offer?.address,
      answered: s.answer?.address,
      offeredFormats: s.offer?.formats ?? [],
      answeredFormats: s.answer?.formats ?? [],
      sent: 0,
      received: 0,
      receivedElsewhere: 0,
      wrongPayload: 0,
      windowMs: holdMs,
      expected: expectedPackets(holdMs),
      ...(s.byeAt !== undefined ? { byeAt: s.byeAt, sentBeforeBye: 0 } : {}),
      out: new RtpStreamStats(),
      back: new Map(),
    };
  };
  const calls = streams.map(counted);
  const bySsrc = new Map<number, Counting>();
  const numbers = streams.map(sippCallNumber);
  if (numbers.every((n) => n !== undefined)) calls.forEach((c, i) => bySsrc.set(ssrcOfCall(numbers[i]!), c));
  else {
    const order = streamsBySsrc(calls, packets, firstStream);
    order.forEach((c, i) => bySsrc.set((SIPP_BASE_SSRC + firstStream + i) >>> 0, c));
  }
  for (const [ssrc, c] of bySsrc) c.ssrc = ssrc;
  // an answered call whose stream never started carried no audio either way
  const started = new Set(streams);
  for (const [callId, s] of signals) if (s.answer !== undefined && !started.has(callId)) calls.push(counted(callId));
  const back = (c: Counting, p: RtpPacket): void => {
    if (p.src !== c.answered) c.receivedElsewhere++;
    else {
      c.received++;
      const st = c.back.get(p.ssrc) ?? new RtpStreamStats();
      st.add(p.seq, p.ts, p.ms);
      c.back.set(p.ssrc, st);
    }
    if (!c.answeredFormats.includes(p.pt)) c.wrongPayload++;
  };
  // the PBX's own streams (not an echo of the caller's SSRC), by source and SSRC
  const own = new Map<string, RtpPacket[]>();
  for (const p of packets) {
    const c = bySsrc.get(p.ssrc);
    if (c && c.caller !== undefined && p.src === c.caller) {
      c.sent++;
      if (c.sentBeforeBye !== undefined && p.ms <= c.byeAt!) c.sentBeforeBye++;
      c.out.add(p.seq, p.ts, p.ms);
      c.firstSent ??= p.ms;
      c.lastSent = p.ms;
    } else if (c && c.caller !== undefined && p.dst === c.caller) back(c, p);
    else if (!c) {
      const key = `${p.src}/${p.ssrc}`;
      const l = own.get(key) ?? [];
      l.push(p);
      own.set(key, l);
    }
  }
  for (const stream of own.values()) {
    const first = stream[0]!;
    const candidates = calls.filter((c) => c.answered === first.src && c.caller === first.dst);
    const near = (c: Counting): number => Math.abs((c.firstSent ?? Infinity) - first.ms);
    const c = candidates.sort((a, b) => near(a) - near(b))[0];
    if (c) for (const p of stream) back(c, p);
  }
  return calls.map(({ firstSent, lastSent, byeAt, out, back, ...rest }) => {
    const c: CallMedia = { ...rest, callerToPbx: out.figures(), pbxToCaller: combined([...back.values()]) };
    // the last packet carries the 20 ms after it
    const end = byeAt ?? (lastSent !== undefined ? lastSent + PACKET_MS : undefined);
    if (firstSent === undefined || end === undefined || end < firstSent) return c;
    const windowMs = Math.round(end - firstSent);
    return { ...c, windowMs, expected: expectedPackets(windowMs) };
  });
}

/** Several streams of one direction as one: counts added, the jitter of the stream with the most packets. */
function combined(streams: RtpStreamStats[]): RtpStreamFigures {
  const fs = streams.map((s) => s.figures()).sort((a, b) => b.received - a.received);
  const received = fs.reduce((n, f) => n + f.received, 0);
  const expected = fs.reduce((n, f) => n + f.expected, 0);
  const lost = fs.reduce((n, f) => n + f.lost, 0);
  return {
    received,
    expected,
    lost,
    lossPercent: expected === 0 ? undefined : (100 * lost) / expected,
    jitterMs: fs[0]?.jitterMs,
  };
}

/**
 * A call's audio as the gates count it: judged when the caller's stream ran; one-way by
 * media-both-ways; of the packets a direction should have carried, how many did not arrive (the worse
 * direction: PBX->caller against what the caller sent, capped at the window's worth; caller->PBX
 * where the PBX reported its own count)
 */
export function audioOf(c: CallMedia): CallAudio {
  const back = Math.min(c.expected, c.sent);
  const dirs = [{ expected: back, lost: Math.max(0, back - c.received) }];
  const sent = c.sentBeforeBye ?? c.sent;
  if (c.pbx) dirs.push({ expected: sent, lost: Math.max(0, sent - c.pbx.inPackets) });
  const ratio = (d: { expected: number; lost: number }): number => (d.expected === 0 ? 0 : d.lost / d.expected);
  const worst = dirs.sort((a, b) => ratio(b) - ratio(a))[0]!;
  return { judged: c.sent > 0, oneWay: c.sent > 0 && oneWayReason(c) !== undefined, ...worst };
}

/** A call's media for results.json's call rows: packets per direction, addresses, its verdict. */
export function mediaRow(c: CallMedia): Record<string, unknown> {
  const why = oneWayReason(c);
  return {
    ...(c.ssrc !== undefined ? { ssrc: `0x${c.ssrc.toString(16).padStart(8, "0")}` } : {}),
    callerToPbx: c.sent,
    pbxToCaller: c.received,
    pbxToCallerFromElsewhere: c.receivedElsewhere,
    wrongPayload: c.wrongPayload,
    ...(c.pbx ? { pbx: c.pbx } : {}),
    ...(c.relay ? { relay: c.relay } : {}),
    windowMs: c.windowMs,
    expectedEachWay: c.expected,
    rfc3550: { callerToPbx: c.callerToPbx, pbxToCaller: c.pbxToCaller },
    caller: c.caller ?? null,
    answered: c.answered ?? null,
    offeredFormats: c.offeredFormats,
    answeredFormats: c.answeredFormats,
    bothWays: why === undefined,
    ...(why !== undefined ? { why } : {}),
  };
}

/** the per-phase verdict on the calls' audio */
export const MEDIA_VERDICT = "media-both-ways";

/** Share of the expected packets a direction must carry */
export const MIN_SHARE = 0.9;

/** Why a call's media is not both ways, or undefined when it is. */
export function oneWayReason(c: CallMedia): string | undefined {
  const at = (n: number): string => `(expected >= ${Math.ceil(n * MIN_SHARE)} of ${n})`;
  const short = (got: number, of: number): boolean => got === 0 || got < Math.ceil(of * MIN_SHARE);
  const why: string[] = [];
  const pbx = c.pbx;
  const pbxName = pbx ? `${pbx.backend}'s PBX` : undefined;
  // what the caller sent is the caller's own doing (a starved generator sends late or less); the PBX
  // is judged on those packets: each must reach it, and its echo is what can come back, at most the
  // window's worth
  const back = Math.min(c.expected, c.sent);
  // the PBX and the relay are judged on what the caller sent until its BYE (they end the media there)
  const sent = c.sentBeforeBye ?? c.sent;
  if (c.sent === 0) why.push(`caller->PBX 0 packets (the caller's stream did not run)`);
  else if (pbx && short(pbx.inPackets, sent))
    why.push(`caller->PBX: ${pbxName} received ${pbx.inPackets} of the caller's ${sent} packets ${at(sent)}`);
  const relay = c.relay;
  if (relay && c.sent > 0 && short(relay.fromCaller, sent))
    why.push(`caller->PBX: the relay received ${relay.fromCaller} of the caller's ${sent} packets ${at(sent)}`);
  if (c.received === 0 || short(c.received, back)) {
    const from = `PBX->caller ${c.received} packets from ${c.answered ?? "(no answer SDP)"} ${at(back)}`;
    const parts = [from];
    if (pbx)
      parts.push(
        pbx.outPackets === 0
          ? `${pbxName} sent none`
          : `${pbxName} sent ${pbx.outPackets}: lost between it and the caller`,
      );
    if (relay)
      parts.push(
        relay.fromPbx > c.received
          ? `the relay received ${relay.fromPbx} from the PBX: ${relay.fromPbx - c.received} lost between the relay and the caller`
          : `the relay received ${relay.fromPbx} from the PBX`,
      );
    why.push(parts.join("; "));
  }
  if (c.receivedElsewhere > 0)
    why.push(`${c.receivedElsewhere} packets came back from an address not in the 200 OK's SDP`);
  if (c.answered !== undefined && !c.answeredFormats.some((f) => c.offeredFormats.includes(f)))
    why.push(
      `codec mismatch: the 200 OK answers payload ${c.answeredFormats.join(",") || "none"}, the INVITE offered ${c.offeredFormats.join(",")}`,
    );
  if (c.wrongPayload > 0) why.push(`${c.wrongPayload} packets came back with a payload type the answer did not name`);
  return why.length > 0 ? why.join("; ") : undefined;
}

/**
 * media-both-ways: every completed call of the phase carried audio both ways (at least 90% of the
 * packets its hold should carry, from the answered address). Inconclusive when there is no capture.
 */
export function mediaAssertion(phase: SimPhase, calls: CallMedia[] | undefined, why?: string): Assertion {
  if (!calls) {
    return {
      phase,
      name: "media-both-ways",
      verdict: "inconclusive",
      details: `no media evidence: ${why ?? "no capture"}`,
      numbers: {},
      offenders: [],
      source: "rtp-capture",
    };
  }
  // a call whose stream never started (the caller's generator, starved at short holds) says nothing of the PBX
  const unjudged = calls.filter((c) => c.sent === 0).length;
  const judged = calls.filter((c) => c.sent > 0);
  const bad = judged.map((c) => ({ c, why: oneWayReason(c) })).filter((x) => x.why !== undefined);
  const sum = (f: (c: CallMedia) => number): number => judged.reduce((n, c) => n + f(c), 0);
  const noBack = judged.filter((c) => c.received === 0).length;
  const offenders = bad.map((x) => `${x.c.callId}: ${x.why!}`);
  const q = qualityOf(judged);
  return {
    phase,
    name: "media-both-ways",
    verdict: judged.length === 0 ? "inconclusive" : bad.length === 0 ? "pass" : "fail",
    details:
      `${judged.length - bad.length}/${judged.length} calls with audio both ways; caller->PBX ${sum((c) => c.sent)} packets, ` +
      `PBX->caller ${sum((c) => c.received)} (expected ${sum((c) => c.expected)} each way); ` +
      `${noBack} calls with no audio PBX->caller` +
      (unjudged > 0 ? `; ${unjudged} not judged (the caller's stream never started)` : "") +
      (judged.length > 0 ? `; ${qualityText(q)}` : ""),
    numbers: {
      calls: calls.length,
      judged: judged.length,
      notJudged: unjudged,
      oneWay: bad.length,
      sent: sum((c) => c.sent),
      received: sum((c) => c.received),
      expected: sum((c) => c.expected),
      noAudioPbxToCaller: noBack,
      ...qualityNumbers(q),
    },
    offenders: offenders.length > 10 ? [...offenders.slice(0, 10), `... and ${offenders.length - 10} more`] : offenders,
    source: "rtp-capture",
  };
}

/** RFC 3550 figures over calls: PBX->caller loss (summed) and jitter (median and worst call), the sender's jitter. */
export interface MediaQuality {
  lost: number;
  expected: number;
  lossPercent: number | undefined;
  jitterP50Ms: number | undefined;
  jitterMaxMs: number | undefined;
  senderJitterP50Ms: number | undefined;
}

export function qualityOf(calls: readonly CallMedia[]): MediaQuality {
  const median = (xs: number[]): number | undefined => {
    if (xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.ceil(s.length / 2) - 1];
  };
  const back = calls.map((c) => c.pbxToCaller);
  const jit = back.flatMap((f) => (f.jitterMs === undefined ? [] : [f.jitterMs]));
  const lost = back.reduce((n, f) => n + f.lost, 0);
  const expected = back.reduce((n, f) => n + f.expected, 0);
  return {
    lost,
    expected,
    lossPercent: expected === 0 ? undefined : (100 * lost) / expected,
    jitterP50Ms: median(jit),
    jitterMaxMs: jit.length === 0 ? undefined : Math.max(...jit),
    senderJitterP50Ms: median(
      calls.flatMap((c) => (c.callerToPbx.jitterMs === undefined ? [] : [c.callerToPbx.jitterMs])),
    ),
  };
}

const ms1 = (x: number | undefined): string => (x === undefined ? "n/a" : `${x.toFixed(1)} ms`);

/** "PBX->caller loss 0.00% (0 of 2450, RFC 3550), jitter p50 0.4 ms, max 2.1 ms; caller's own sending jitter p50 0.3 ms" */
export function qualityText(q: MediaQuality): string {
  return (
    `PBX->caller loss ${q.lossPercent === undefined ? "n/a" : `${q.lossPercent.toFixed(2)}%`} (${q.lost} of ${q.expected}, RFC 3550), ` +
    `jitter p50 ${ms1(q.jitterP50Ms)}, max ${ms1(q.jitterMaxMs)}; caller's own sending jitter p50 ${ms1(q.senderJitterP50Ms)}`
  );
}

function qualityNumbers(q: MediaQuality): Record<string, number> {
  const out: Record<string, number> = { lostPbxToCaller: q.lost };
  const put = (k: string, v: number | undefined): void => {
    if (v !== undefined) out[k] = Math.round(v * 1000) / 1000;
  };
  put("lossPbxToCallerPercent", q.lossPercent);
  put("jitterPbxToCallerP50Ms", q.jitterP50Ms);
  put("jitterPbxToCallerMaxMs", q.jitterMaxMs);
  put("jitterCallerToPbxP50Ms", q.senderJitterP50Ms);
  return out;
}

/** One burst's media: each call's counts, or why they could not be had. */
export interface BurstMedia {
  calls: CallMedia[] | undefined;
  why?: string;
  pcap: string;
}

/** The run's media so far: each call's counts, and per phase its bursts' calls for media-both-ways. */
export class MediaBook {
  private readonly byCall = new Map<string, CallMedia>();
  private readonly byPhase = new Map<SimPhase, { calls: CallMedia[]; why?: string }>();

  /** a burst of phase `p` ended (media off: nothing to add) */
  add(p: SimPhase, m: BurstMedia | undefined): void {
    if (!m) return;
    const acc = this.byPhase.get(p) ?? { calls: [] };
    for (const c of m.calls ?? []) {
      acc.calls.push(c);
      this.byCall.set(c.callId, c);
    }
    if (m.calls === undefined) acc.why ??= m.why ?? "no capture";
    this.byPhase.set(p, acc);
  }

  /**
   * media-both-ways over every burst of the phase (none when the phase carried no media); with the
   * PBXs' own counts (a lab of real FreeSWITCH), each call's are added first
   */
  assertions(p: SimPhase, pbx?: PbxCalls): Assertion[] {
    const acc = this.byPhase.get(p);
    if (!acc) return [];
    if (pbx) {
      const rtp = pbxRtpByCall(pbx);
      for (const c of acc.calls) {
        const r = rtp.get(c.callId);
        if (r) c.pbx = r;
      }
    }
    return [mediaAssertion(p, acc.why === undefined ? acc.calls : undefined, acc.why)];
  }

  /** a call's audio as the gates count it, and why it is one-way (undefined: both ways, or not counted) */
  audio(callId: string): { audio: CallAudio; why: string | undefined } | undefined {
    const c = this.byCall.get(callId);
    return c ? { audio: audioOf(c), why: oneWayReason(c) } : undefined;
  }

  /** results.json's `media` of a call row */
  row(callId: string): Record<string, unknown> | undefined {
    const c = this.byCall.get(callId);
    return c ? mediaRow(c) : undefined;
  }
}

/** results.json's `media` of a burst row */
export function burstMediaRow(m: BurstMedia): { pcap: string; calls: number | null; why?: string } {
  return {
    pcap: path.basename(m.pcap),
    calls: m.calls?.length ?? null,
    ...(m.why !== undefined ? { why: m.why } : {}),
  };
}
