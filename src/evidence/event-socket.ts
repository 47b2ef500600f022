/**
 * A FreeSWITCH's own event socket as an evidence source (pure): its channel events
 * (src/freeswitch/channel-events.ts) folded per SIP Call-ID: which calls it received, whether it
 * answered them, and how they ended. FreeSWITCH writes no SIPp-style message log, so this is the real
 * PBX's own account of the calls, next to Kamailio's (HEP) and the caller's; sim checks that they
 * agree call by call (src/sim/event-socket-agrees.ts). One book per FreeSWITCH instance.
 */
import type { BackendRole } from "../core/backend-role.js";
import type { ChannelEvent, ChannelRtp } from "../freeswitch/channel-events.js";

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
  /** its audio as FreeSWITCH counted it (from CHANNEL_HANGUP_COMPLETE) */
  rtp?: ChannelRtp;
}

/**
 * How long a book keeps its calls. Unbounded (the default: sim judges every call of the run at its
 * end), or bounded for a long run (migrate --traffic): a call is kept while its channel is open and
 * until the run has taken what it needs of it (`release`, once its row is written), and a finished
 * call never released is let go `keepFinishedMs` after its CHANNEL_HANGUP_COMPLETE (by the events'
 * own clock), so the book holds the calls up now plus at most that long of finished ones.
 */
export interface CallBookRetention {
  keepFinishedMs: number;
}

/** Folds channel events into per-Call-ID calls. One book per FreeSWITCH instance. */
export class FreeswitchCallBook {
  private readonly calls = new Map<string, FreeswitchCall>();
  /** bounded: finished calls not released yet, in the order they finished, with when */
  private readonly finished = new Map<string, number>();
  /** bounded: calls released while still up (let go at their CHANNEL_HANGUP_COMPLETE) */
  private readonly released = new Set<string>();
  private seenCalls = 0;

  constructor(private readonly retention?: CallBookRetention) {}

  /** calls held now */
  get size(): number {
    return this.calls.size;
  }

  /** calls seen since the book was opened (held or let go) */
  get seen(): number {
    return this.seenCalls;
  }

  add(e: ChannelEvent): FreeswitchCall {
    const c = this.fold(e);
    if (this.retention && c.complete && e.name === "CHANNEL_HANGUP_COMPLETE") {
      if (this.released.delete(c.callId)) this.calls.delete(c.callId);
      else {
        this.finished.delete(c.callId);
        this.finished.set(c.callId, e.atMs);
      }
    }
    if (this.retention) this.letGoFinishedBefore(e.atMs - this.retention.keepFinishedMs);
    return c;
  }

  /**
   * The run is done with this call (bounded books; an unbounded one keeps it): a finished call is let
   * go now, one still up at its CHANNEL_HANGUP_COMPLETE.
   */
  release(callId: string): void {
    if (!this.retention) return;
    const c = this.calls.get(callId);
    if (!c) return;
    if (c.complete) {
      this.calls.delete(callId);
      this.finished.delete(callId);
    } else this.released.add(callId);
  }

  private letGoFinishedBefore(ms: number): void {
    for (const [callId, at] of this.finished) {
      if (!(at < ms)) break;
      this.finished.delete(callId);
      this.calls.delete(callId);
    }
  }

  private fold(e: ChannelEvent): FreeswitchCall {
    let c = this.calls.get(e.callId);
    if (!c) {
      this.seenCalls++;
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
        if (e.rtp) c.rtp = e.rtp;
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

/** What the event sockets said, per backend: every call of this run seen by that FreeSWITCH. */
export type PbxCalls = Record<BackendRole, FreeswitchCall[]>;
