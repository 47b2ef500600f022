/**
 * The caller's audio counted while one long SIPp run goes on (`migrate --traffic`): the capture
 * (dumpcap's pcap), the media action's log (which call each stream is) and the UAC's message log
 * (each call's offer, answer and BYE) are read as they grow, and each call is counted once its BYE
 * went out and the capture has run past it (or it is long overdue), with the same rules as a sim
 * burst's (callMedia, media-both-ways). Memory holds only the calls not yet counted and the packets
 * they may still own (held-media.ts); the files are read in bounded chunks.
 */
import { READ_CHUNK_BYTES, readRange } from "../files/read-range.js";
import { MessageLogFollower } from "../sip/message-log.js";
import { streamOrder } from "../sipp/media.js";
import { HeldMedia } from "./held-media.js";
import { callSignalsOf, PcapReader, sippCallNumber, type CallMedia } from "./rtp.js";

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

export class LiveMedia {
  private readonly reader = new PcapReader();
  /** every read of the capture goes into this one buffer (nothing read from it is kept: pushRtp copies out) */
  private readonly pcapBuf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private pcapPos = 0;
  private logPos = 0;
  private logPending = "";
  private readonly follower: MessageLogFollower;
  /** the calls not counted yet and the packets they may own */
  readonly held: HeldMedia;
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
    this.held = new HeldMedia(holdMs);
  }

  /** Read what the three files gained; count the calls that are ready (`final`: every call left). */
  async poll(final = false): Promise<void> {
    const nowMs = this.now();
    await this.readStreamLog(nowMs);
    for (const [id, s] of callSignalsOf(await this.follower.poll(final))) this.held.addSignals(id, s, nowMs);
    await this.readCapture(nowMs, final);
    this.count(nowMs, final, this.backlogBytes === 0);
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

  /**
   * The capture's new records, a bounded chunk at a time (the ready calls counted and the packets no
   * call needs let go after each): at most PCAP_BYTES_PER_POLL a poll, all of it when `final`; what
   * is left waits for the next poll (`backlogBytes`).
   */
  private async readCapture(nowMs: number, final: boolean): Promise<void> {
    for (let read = 0; final || read < PCAP_BYTES_PER_POLL;) {
      const {
        data: chunk,
        from,
        size,
      } = await readRange(this.files.pcap, this.pcapPos, READ_CHUNK_BYTES, this.pcapBuf);
      if (from !== this.pcapPos) throw new Error(`${this.files.pcap} became shorter than what was read of it`);
      this.pcapPos += chunk.length;
      read += chunk.length;
      this.backlogBytes = size - this.pcapPos;
      if (this.backlogBytes > this.maxBacklogBytes) this.maxBacklogBytes = this.backlogBytes;
      for (const p of this.reader.pushRtp(chunk)) this.held.addPacket(p);
      if (chunk.length === 0 || this.backlogBytes === 0) return;
      this.count(nowMs, false, false);
    }
  }

  /** Let go of the message log (poll opens it again). */
  close(): Promise<void> {
    return this.follower.close();
  }

  /** count the calls that are ready, let go of what no call needs any more */
  private count(nowMs: number, final: boolean, caughtUp: boolean): void {
    for (const c of this.held.countReady(nowMs, final, caughtUp)) {
      this.total++;
      this.onCall(c);
    }
    this.held.prune(nowMs);
  }
}
