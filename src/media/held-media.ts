/**
 * The live count's state (pure): the calls whose stream started and are not counted yet, what the
 * caller's message log says of them, and the RTP packets they may still own, indexed so that counting
 * a call touches only its own packets. The caller's streams (and the stand-ins' echoes of them) are
 * held by their stream number k (SSRC - SIPP_BASE_SSRC = SIPp's call number - 1); a PBX's own streams
 * (random SSRC) by source and SSRC, and go to the held call answered from that source whose stream
 * started nearest to them (callMedia's rule). A counted call's packets are let go at once; packets no
 * call claims are let go by capture time.
 */
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import { callMedia, type CallMedia, type CallSignals, type RtpPacket } from "./rtp.js";

/** a call is counted once the capture holds a packet this long after its BYE went out */
export const COUNT_AFTER_BYE_MS = 300;
/** a call with no BYE this long after its stream started is counted as it is */
export const OVERDUE_AFTER_HOLD_MS = 10_000;
/** a message-log call with no stream (refused, never answered) is let go this long after it was read */
const SIGNALS_MAX_AGE_MS = 60_000;
/** a counted call stays this long among the calls a PBX's stream may belong to (one near it is not another's) */
const KEEP_COUNTED_MS = 5000;
/** an SSRC at most this far beyond the calls logged so far is a caller's stream (its first packets can be read before its log line) */
const CALLER_SSRC_AHEAD = 1000;

/** A call whose stream started (its log line was read). */
interface Stream {
  callId: string;
  k: number;
  /** when its log line was read (wall ms) */
  readAt: number;
  /** when it was counted (wall ms) */
  countedAt?: number;
  /** when its caller sent its first packet (kept when counted: its packets are let go) */
  firstSentMs?: number;
}

/** A PBX's own stream (an SSRC not the caller's), from its first packet. */
interface OwnStream {
  key: string;
  /** `answered>caller`: the call it can belong to */
  pair: string;
  firstMs: number;
  lastMs: number;
  packets: RtpPacket[];
}

/**
 * A string of its own: a Call-ID or address cut from a log chunk would otherwise keep the whole chunk
 * (a read of up to megabytes) alive for as long as the call is held. Call-IDs and SDP are latin1 text.
 */
const own = (s: string): string => Buffer.from(s, "latin1").toString("latin1");

const pairOf = (answered: string | undefined, caller: string | undefined): string => `${answered}>${caller}`;

export class HeldMedia {
  /** the calls not let go yet, in log order */
  private readonly streams = new Map<string, Stream>();
  private readonly signals = new Map<string, CallSignals & { readAt: number }>();
  /** the caller's streams' packets by stream number, and the latest capture time of each */
  private readonly byK = new Map<number, { packets: RtpPacket[]; lastMs: number }>();
  /** stream numbers counted -> when (their late packets are dropped) */
  private readonly countedK = new Map<number, number>();
  private readonly own = new Map<string, OwnStream>();
  /** own streams given to a counted call -> when (their late packets are dropped) */
  private readonly ownDone = new Map<string, number>();
  /** the highest stream number logged */
  private topK = -1;
  /** the latest capture time seen */
  captureMs = 0;

  constructor(private readonly holdMs: number) {}

  /** a call's stream started (its media log line) */
  addStream(callId: string, k: number, nowMs: number): void {
    if (this.streams.has(callId)) return;
    const id = own(callId);
    this.streams.set(id, { callId: id, k, readAt: nowMs });
    if (k > this.topK) this.topK = k;
  }

  /** what the caller's message log said of a call (first offer, answer and BYE kept) */
  addSignals(callId: string, s: CallSignals, nowMs: number): void {
    let e = this.signals.get(callId);
    if (e === undefined) {
      e = { readAt: nowMs };
      this.signals.set(own(callId), e);
    }
    e.offer ??= s.offer && { address: own(s.offer.address), formats: s.offer.formats };
    e.answer ??= s.answer && { address: own(s.answer.address), formats: s.answer.formats };
    e.byeAt ??= s.byeAt;
  }

  addPacket(p: RtpPacket): void {
    if (p.ms > this.captureMs) this.captureMs = p.ms;
    const k = (p.ssrc - SIPP_BASE_SSRC) >>> 0;
    if (k <= this.topK + CALLER_SSRC_AHEAD) {
      if (this.countedK.has(k)) return;
      const b = this.byK.get(k);
      if (b) {
        b.packets.push(p);
        if (p.ms > b.lastMs) b.lastMs = p.ms;
      } else this.byK.set(k, { packets: [p], lastMs: p.ms });
      return;
    }
    const key = `${p.src}/${p.ssrc}`;
    if (this.ownDone.has(key)) return;
    const o = this.own.get(key);
    if (o) {
      o.packets.push(p);
      if (p.ms > o.lastMs) o.lastMs = p.ms;
    } else this.own.set(key, { key, pair: pairOf(p.src, p.dst), firstMs: p.ms, lastMs: p.ms, packets: [p] });
  }

  /** packets held (caller's and PBXs' streams) */
  get packets(): number {
    let n = 0;
    for (const b of this.byK.values()) n += b.packets.length;
    for (const o of this.own.values()) n += o.packets.length;
    return n;
  }

  /** calls held (counted ones included until let go) */
  get calls(): number {
    return this.streams.size;
  }

  private ready(st: Stream, nowMs: number, final: boolean, caughtUp: boolean): boolean {
    if (st.countedAt !== undefined) return false;
    if (final) return true;
    const s = this.signals.get(st.callId);
    if (s?.byeAt !== undefined && this.captureMs >= s.byeAt + COUNT_AFTER_BYE_MS) return true;
    // overdue by the capture's clock (its packets up to then are read), by the wall clock only when
    // nothing of the capture is left unread: a count behind the capture never counts a call before its packets
    const overdueAt = st.readAt + this.holdMs + OVERDUE_AFTER_HOLD_MS;
    return this.captureMs > overdueAt || (caughtUp && nowMs > overdueAt);
  }

  /**
   * The calls ready to be counted (`final`: every call left), each counted once from its own packets.
   * `caughtUp`: every packet captured so far has been added (a call may be overdue by the wall clock).
   */
  countReady(nowMs: number, final = false, caughtUp = true): CallMedia[] {
    const ready: Stream[] = [];
    for (const st of this.streams.values()) if (this.ready(st, nowMs, final, caughtUp)) ready.push(st);
    if (ready.length === 0) return [];
    const owners = this.ownStreamOwners(ready);
    const out: CallMedia[] = [];
    for (const st of ready) {
      const s = this.signals.get(st.callId);
      const packets = [...(this.byK.get(st.k)?.packets ?? [])];
      for (const o of owners.get(st.callId) ?? []) {
        packets.push(...o.packets);
        this.own.delete(o.key);
        this.ownDone.set(o.key, nowMs);
      }
      st.firstSentMs = this.firstSent(st);
      this.byK.delete(st.k);
      this.countedK.set(st.k, nowMs);
      st.countedAt = nowMs;
      const signals = new Map<string, CallSignals>(s ? [[st.callId, s]] : []);
      out.push(...callMedia([st.callId], signals, packets, this.holdMs));
    }
    return out;
  }

  /**
   * The PBX's own streams a ready call owns: of the held calls with the stream's answered and caller
   * addresses, the one whose caller started sending nearest the stream's first packet.
   */
  private ownStreamOwners(ready: readonly Stream[]): Map<string, OwnStream[]> {
    const out = new Map<string, OwnStream[]>();
    if (this.own.size === 0) return out;
    const readyPairs = new Set(ready.map((st) => this.pair(st)));
    const candidates = new Map<string, Stream[]>();
    for (const st of this.streams.values()) {
      const p = this.pair(st);
      if (!readyPairs.has(p)) continue;
      const l = candidates.get(p) ?? [];
      l.push(st);
      candidates.set(p, l);
    }
    const readyIds = new Set(ready.map((st) => st.callId));
    for (const o of this.own.values()) {
      const cs = candidates.get(o.pair);
      if (!cs) continue;
      let best: Stream | undefined;
      let bestNear = Infinity;
      for (const c of cs) {
        const near = Math.abs(this.firstSent(c) - o.firstMs);
        if (best === undefined || near < bestNear) {
          best = c;
          bestNear = near;
        }
      }
      if (best && readyIds.has(best.callId)) out.set(best.callId, [...(out.get(best.callId) ?? []), o]);
    }
    return out;
  }

  private pair(st: Stream): string {
    const s = this.signals.get(st.callId);
    return pairOf(s?.answer?.address, s?.offer?.address);
  }

  /** when the call's caller sent its first packet (Infinity: none held) */
  private firstSent(st: Stream): number {
    if (st.firstSentMs !== undefined) return st.firstSentMs;
    const caller = this.signals.get(st.callId)?.offer?.address;
    for (const p of this.byK.get(st.k)?.packets ?? []) if (p.src === caller) return p.ms;
    return Infinity;
  }

  /** Let go of the calls counted a while ago, packets no call can still own, stale message-log calls. */
  prune(nowMs: number): void {
    for (const [id, st] of this.streams) {
      if (st.countedAt === undefined || nowMs - st.countedAt <= KEEP_COUNTED_MS) continue;
      this.streams.delete(id);
      this.signals.delete(id);
    }
    forgetBefore(this.countedK, nowMs - KEEP_COUNTED_MS);
    forgetBefore(this.ownDone, nowMs - KEEP_COUNTED_MS);
    // a packet may belong to a call for as long as a call lasts
    const keepFrom = this.captureMs - this.holdMs - OVERDUE_AFTER_HOLD_MS;
    const held = new Set<number>();
    for (const st of this.streams.values()) held.add(st.k);
    for (const [k, b] of this.byK) if (!held.has(k) && b.lastMs < keepFrom) this.byK.delete(k);
    for (const [key, o] of this.own) if (o.lastMs < keepFrom) this.own.delete(key);
    for (const [id, s] of this.signals) {
      if (nowMs - s.readAt < SIGNALS_MAX_AGE_MS) break;
      if (!this.streams.has(id)) this.signals.delete(id);
    }
  }
}

/** Delete a map's entries set before `ms` (its values are times, in the order they were set). */
function forgetBefore<K>(m: Map<K, number>, ms: number): void {
  for (const [k, at] of m) {
    if (at >= ms) return;
    m.delete(k);
  }
}
