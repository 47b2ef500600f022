/**
 * The caller's audio counted while one long SIPp run goes on (`migrate --traffic`): the capture's
 * packets come in as dumpcap's stream is read (`addPacket`, media/capture.ts), the media action's log
 * (which call each stream is) and the UAC's message log (each call's offer, answer and BYE) are read
 * as they grow, and each call is counted once its BYE went out and the capture has run past it (or it
 * is long overdue), with the same rules as a sim burst's (callMedia, media-both-ways). Memory holds
 * only the calls not yet counted and the packets they may still own (held-media.ts); the logs are
 * read in bounded chunks.
 */
import { readRange } from "../files/read-range.js";
import { MessageLogFollower } from "../sip/message-log.js";
import { streamOrder } from "../sipp/media.js";
import { HeldMedia } from "./held-media.js";
import { callSignalsOf, sippCallNumber, type CallMedia, type RtpPacket } from "./rtp.js";

/** the media log (a line per call) is read in chunks this big, at most this many a poll */
const LOG_CHUNK_BYTES = 1024 * 1024;
const LOG_CHUNKS_PER_POLL = 8;

export interface LiveMediaFiles {
  /** the UAC's -log_file, where the media action writes `media <Call-ID>` before each stream */
  streamLog: string;
  /** the UAC's message log */
  uacLog: string;
}

export class LiveMedia {
  private logPos = 0;
  private logPending = "";
  private readonly follower: MessageLogFollower;
  /** the calls not counted yet and the packets they may own */
  readonly held: HeldMedia;
  /** calls counted so far */
  total = 0;

  constructor(
    private readonly files: LiveMediaFiles,
    private readonly holdMs: number,
    private readonly onCall: (c: CallMedia) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.follower = new MessageLogFollower(files.uacLog);
    this.held = new HeldMedia(holdMs);
  }

  /** a packet of the capture, as its stream is read (the stream is drained as it comes: the count is never behind it) */
  addPacket(p: RtpPacket): void {
    this.held.addPacket(p);
  }

  /** Read what the two logs gained; count the calls that are ready (`final`: every call left). */
  async poll(final = false): Promise<void> {
    const nowMs = this.now();
    await this.readStreamLog(nowMs);
    for (const [id, s] of callSignalsOf(await this.follower.poll(final))) this.held.addSignals(id, s, nowMs);
    this.count(nowMs, final);
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
        if (n !== undefined) this.held.addStream(callId, n - 1, nowMs);
      }
    }
  }

  /** Let go of the message log (poll opens it again). */
  close(): Promise<void> {
    return this.follower.close();
  }

  /** count the calls that are ready, let go of what no call needs any more */
  private count(nowMs: number, final: boolean): void {
    for (const c of this.held.countReady(nowMs, final)) {
      this.total++;
      this.onCall(c);
    }
    this.held.prune(nowMs);
  }
}
