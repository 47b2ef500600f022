/**
 * The caller's audio counted while one long SIPp run goes on (`migrate --traffic`): the capture
 * (dumpcap's pcap), the media action's log (which call each stream is) and the UAC's message log
 * (each call's offer, answer and BYE) are read as they grow, and each call is counted once its BYE
 * went out and the capture has run past it (or it is long overdue), with the same rules as a sim
 * burst's (callMedia, media-both-ways). Memory holds only the calls not yet counted and the packets
 * they may still own.
 */
import { readRange } from "../files/read-range.js";
import { MessageLogFollower } from "../sip/message-log.js";
import { SIPP_BASE_SSRC, streamOrder } from "../sipp/media.js";
import {
  callMedia,
  callSignalsOf,
  PcapReader,
  rtpOfDatagrams,
  sippCallNumber,
  type CallMedia,
  type CallSignals,
  type RtpPacket,
} from "./rtp.js";

/** a call is counted once the capture holds a packet this long after its BYE went out */
export const COUNT_AFTER_BYE_MS = 300;
/** a call with no BYE this long after its stream started is counted as it is */
const OVERDUE_AFTER_HOLD_MS = 10_000;
/** a message-log call with no stream (refused, never answered) is let go this long after it was read */
const SIGNALS_MAX_AGE_MS = 60_000;
/** the most of the capture one poll reads (in bounded chunks); the rest waits for the next poll */
const PCAP_BYTES_PER_POLL = 16 * 1024 * 1024;
/** the media log (a line per call) is read in chunks this big, at most this many a poll */
const LOG_CHUNK_BYTES = 1024 * 1024;
const LOG_CHUNKS_PER_POLL = 8;

export interface LiveMediaFiles {
  /** dumpcap's capture of the caller's media ports */
  pcap: string;
  /** the UAC's -log_file, where the media action writes `media <Call-ID>` before each stream */
  streamLog: string;
  /** the UAC's message log */
  uacLog: string;
}

/** A call whose stream started (its log line was read). */
interface Stream {
  callId: string;
  /** its SSRC's number (SIPp's call number - 1) */
  k: number;
  /** when its log line was read (wall ms) */
  readAt: number;
  /** when it was counted (wall ms) */
  countedAt?: number;
}

/** a counted call stays this long among the calls a packet may belong to (a PBX's stream near it is not another's) */
const KEEP_COUNTED_MS = 5000;

export class LiveMedia {
  private readonly reader = new PcapReader();
  private pcapPos = 0;
  private logPos = 0;
  private logPending = "";
  private readonly follower: MessageLogFollower;
  /** the calls whose stream started and that are not let go yet, in log order */
  private streams: Stream[] = [];
  private readonly signals = new Map<string, CallSignals & { readAt: number }>();
  private packets: RtpPacket[] = [];
  /** the latest capture time read */
  private captureMs = 0;
  /** calls counted so far */
  total = 0;
  /** the capture's bytes not read yet after the last poll, and the most there were */
  backlogBytes = 0;
  maxBacklogBytes = 0;

  constructor(
    private readonly files: LiveMediaFiles,
    private readonly holdMs: number,
    private readonly onCall: (c: CallMedia) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.follower = new MessageLogFollower(files.uacLog);
  }

  /** Read what the three files gained; count the calls that are ready (`final`: every call left). */
  async poll(final = false): Promise<void> {
    const nowMs = this.now();
    await this.readStreamLog(nowMs);
    for (const [id, s] of callSignalsOf(await this.follower.poll(final))) {
      const e = this.signals.get(id) ?? { readAt: nowMs };
      e.offer ??= s.offer;
      e.answer ??= s.answer;
      e.byeAt ??= s.byeAt;
      this.signals.set(id, e);
    }
    await this.readCapture(nowMs, final);
    this.countReady(nowMs, final);
    this.prune(nowMs);
  }

  /** The media log's new lines (each stream's Call-ID), a bounded chunk at a time. */
  private async readStreamLog(nowMs: number): Promise<void> {
    for (let chunks = 0; chunks < LOG_CHUNKS_PER_POLL; chunks++) {
      const { data: log, from } = await readRange(this.files.streamLog, this.logPos, LOG_CHUNK_BYTES);
      if (from !== this.logPos) this.logPending = "";
      this.logPos = from + log.length;
      if (log.length === 0) return;
      const text = this.logPending + log.toString("latin1");
      const cut = text.lastIndexOf("\n") + 1;
      this.logPending = text.slice(cut);
      for (const callId of streamOrder(text.slice(0, cut))) {
        const n = sippCallNumber(callId);
        if (n !== undefined) this.streams.push({ callId, k: n - 1, readAt: nowMs });
      }
    }
  }

  /**
   * The capture's new records, a bounded chunk at a time (the ready calls counted and the packets no
   * call needs let go after each): at most PCAP_BYTES_PER_POLL a poll, all of it when `final`; what
   * is left waits for the next poll (`backlogBytes`).
   */
  private async readCapture(nowMs: number, final: boolean): Promise<void> {
    for (let read = 0; final || read < PCAP_BYTES_PER_POLL;) {
      const { data: chunk, from, size } = await readRange(this.files.pcap, this.pcapPos);
      if (from !== this.pcapPos) throw new Error(`${this.files.pcap} became shorter than what was read of it`);
      this.pcapPos += chunk.length;
      read += chunk.length;
      this.backlogBytes = size - this.pcapPos;
      if (this.backlogBytes > this.maxBacklogBytes) this.maxBacklogBytes = this.backlogBytes;
      for (const p of rtpOfDatagrams(this.reader.push(chunk))) {
        this.packets.push(p);
        if (p.ms > this.captureMs) this.captureMs = p.ms;
      }
      if (chunk.length === 0 || this.backlogBytes === 0) return;
      this.countReady(nowMs, false);
      this.prune(nowMs);
    }
  }

  private ready(st: Stream, nowMs: number, final: boolean): boolean {
    if (st.countedAt !== undefined) return false;
    if (final) return true;
    const s = this.signals.get(st.callId);
    if (s?.byeAt !== undefined && this.captureMs >= s.byeAt + COUNT_AFTER_BYE_MS) return true;
    return nowMs - st.readAt > this.holdMs + OVERDUE_AFTER_HOLD_MS;
  }

  private countReady(nowMs: number, final: boolean): void {
    const ready = new Set(this.streams.filter((st) => this.ready(st, nowMs, final)).map((st) => st.callId));
    if (ready.size === 0) return;
    // every call still held counts, so each packet goes to its own call; only the ready ones come out
    const ids = this.streams.map((st) => st.callId);
    const signals = new Map<string, CallSignals>();
    for (const id of ids) {
      const s = this.signals.get(id);
      if (s) signals.set(id, s);
    }
    const held = new Set(this.streams.map((st) => st.k));
    const packets = this.packets.filter((p) => {
      const k = (p.ssrc - SIPP_BASE_SSRC) >>> 0;
      return held.has(k) || !this.isCallerSsrc(k);
    });
    for (const c of callMedia(ids, signals, packets, this.holdMs)) {
      if (!ready.has(c.callId)) continue;
      const st = this.streams.find((x) => x.callId === c.callId)!;
      st.countedAt = nowMs;
      this.total++;
      this.onCall(c);
    }
  }

  /**
   * An SSRC numbered like the caller's streams (SIPp's base + k, k at most a little beyond the calls
   * logged so far: a stream's first packets can be read before its log line). A PBX's own is random.
   */
  private isCallerSsrc(k: number): boolean {
    const top = this.streams.reduce((m, st) => Math.max(m, st.k), 0);
    return k <= top + 1000;
  }

  /** Let go of the calls counted a while ago, the packets no call held owns, and stale message-log calls. */
  private prune(nowMs: number): void {
    const gone = this.streams.filter((st) => st.countedAt !== undefined && nowMs - st.countedAt > KEEP_COUNTED_MS);
    if (gone.length > 0) {
      for (const st of gone) this.signals.delete(st.callId);
      this.streams = this.streams.filter((st) => !gone.includes(st));
    }
    const held = new Set(this.streams.map((st) => st.k));
    const lowest = this.streams.reduce((m, st) => Math.min(m, st.k), Infinity);
    const keepFrom = this.captureMs - this.holdMs - OVERDUE_AFTER_HOLD_MS;
    this.packets = this.packets.filter((p) => {
      const k = (p.ssrc - SIPP_BASE_SSRC) >>> 0;
      // one of the caller's streams (its SSRC, echoed or not): kept while its call is held, or may still be logged
      if (this.isCallerSsrc(k)) return held.has(k) || (k > lowest && p.ms >= keepFrom);
      // a PBX's own stream: kept for as long as a call may last
      return p.ms >= keepFrom;
    });
    const streamed = new Set(this.streams.map((st) => st.callId));
    for (const [id, s] of this.signals) {
      if (nowMs - s.readAt < SIGNALS_MAX_AGE_MS) break;
      if (!streamed.has(id)) this.signals.delete(id);
    }
  }
}
