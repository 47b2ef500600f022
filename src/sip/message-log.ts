/**
 * SIPp `-trace_msg` message logs (SIPp 3.6.1): parse records, and follow a growing log.
 *
 * One record, as SIPp writes it (it fflush()es after each record, so a reader sees records as they
 * happen; a record larger than stdio's buffer can still reach the file in two writes, so the last
 * record read may be partial):
 *
 *   ----------------------------------------------- 2026-11-23 22:51:52.507765\n
 *   UDP message received [380] bytes :\n        (or: UDP message sent (398 bytes):\n)
 *   \n
 *   <exactly N bytes of SIP message>\n
 *
 * The byte count makes a record self-delimiting: a record is complete when its N bytes and the
 * closing newline are there. SIPp also writes notes about a message it logged already:
 *
 *   -----------------------------------------------\n          (no timestamp)
 *   Unexpected UDP message received:\n
 *   \n
 *   <the message again>\n
 *
 * A note has no byte count; it ends where the next separator starts. Offsets are byte offsets into the file (the text is read as latin1,
 * one char per byte, so lengths and offsets agree).
 */
import { open, stat, type FileHandle } from "node:fs/promises";
import { readSpan } from "../files/read-range.js";

/** "2026-11-23 22:51:52.507765" (local time, as SIPp prints it) -> ms since epoch */
export function stampMs(stamp: string | undefined): number | undefined {
  if (!stamp) return undefined;
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(stamp);
  if (!m) return undefined;
  const frac = Number(`0.${m[7] ?? "0"}`) * 1000;
  return new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!).getTime() + frac;
}

export type Direction = "received" | "sent";

export interface LoggedMessage {
  /** byte offset of the record's separator line in the file */
  offset: number;
  /** the timestamp SIPp printed, local time: "2026-11-23 22:51:52.507765" ("" for notes) */
  stamp: string;
  direction: Direction;
  /** UDP, TCP, ... */
  transport: string;
  /** the SIP message, exactly the bytes SIPp logged */
  text: string;
  /**
   * set for SIPp's notes about a message it already logged, e.g. "Unexpected UDP message received"
   * (a separator without timestamp, no byte count; the message is a copy of the previous record)
   */
  note?: string;
}

const DASHES = "-".repeat(47);
const SIZED = /^(\w+) message (?:received \[(\d+)\] bytes :|sent \((\d+) bytes\):)$/;
const NOTE = /^(.*?(\w+) message (received|sent).*):$/;

export interface ParseResult {
  records: LoggedMessage[];
  /** bytes of `text` that formed complete records (or skipped garbage); the rest is a partial record */
  consumed: number;
  /** lines that were neither a record nor part of one (reported, never silently dropped) */
  skipped: { offset: number; line: string }[];
}

/**
 * Parse complete records from `text` (latin1); `base` is the file offset of text[0]. With `final`
 * (the writer has exited) a trailing note without a following separator is complete too.
 */
export function parseMessageLog(text: string, base = 0, final = false): ParseResult {
  const records: LoggedMessage[] = [];
  const skipped: ParseResult["skipped"] = [];
  let pos = 0;
  while (pos < text.length) {
    if (!text.startsWith(DASHES, pos)) {
      // not at a record (never seen from SIPp): skip to the next separator, reporting what was skipped
      const next = text.indexOf("\n" + DASHES, pos);
      if (next < 0) break; // maybe the start of a record is still being written
      const junk = text.slice(pos, next + 1).trim();
      if (junk !== "") skipped.push({ offset: base + pos, line: junk.slice(0, 200) });
      pos = next + 1;
      continue;
    }
    const sepEnd = text.indexOf("\n", pos);
    if (sepEnd < 0) break;
    const headEnd = text.indexOf("\n", sepEnd + 1);
    if (headEnd < 0) break;
    const headLine = text.slice(sepEnd + 1, headEnd);
    const stamp = text.slice(pos + DASHES.length, sepEnd).trim();
    const bodyStart = headEnd + 2; // the header line, then one empty line
    const sized = SIZED.exec(headLine);
    if (sized) {
      const size = Number(sized[2] ?? sized[3]);
      const end = bodyStart + size + 1; // the N bytes, then a newline
      if (end > text.length) break;
      records.push({
        offset: base + pos,
        stamp,
        direction: sized[2] !== undefined ? "received" : "sent",
        transport: sized[1]!,
        text: text.slice(bodyStart, bodyStart + size),
      });
      pos = end;
      continue;
    }
    // a note: its text runs to the next separator line
    const next = text.indexOf("\n" + DASHES, headEnd);
    if (next < 0 && !final) break;
    const end = next < 0 ? text.length : next + 1;
    const note = NOTE.exec(headLine);
    if (note) {
      records.push({
        offset: base + pos,
        stamp,
        direction: note[3] === "sent" ? "sent" : "received",
        transport: note[2]!,
        text: text.slice(Math.min(bodyStart, end), end).replace(/\n$/, ""),
        note: note[1]!,
      });
    } else {
      skipped.push({ offset: base + pos, line: headLine.slice(0, 200) });
    }
    pos = end;
  }
  return { records, consumed: pos, skipped };
}

/** Parse a whole log held in a Buffer (e.g. a recorded fixture). */
export function parseMessageLogBuffer(buf: Buffer): ParseResult {
  return parseMessageLog(buf.toString("latin1"), 0, true);
}

/** The follower saw its log replaced, truncated or rewritten: a new writer (a restarted backend). */
export interface LogRecreation {
  /** the generation that starts here (the first writer's is 1) */
  generation: number;
  /** when the follower noticed (ms since epoch) */
  detectedAt: number;
  /** what it saw, e.g. "inode changed", "truncated: 20480 -> 512 bytes" */
  why: string;
}

/** One read of a followed log. */
export interface FollowerRead {
  records: LoggedMessage[];
  /** the raw bytes of what this read consumed (complete records and skipped text), exactly as in the file */
  bytes: Buffer;
  /** the generation of the log the bytes came from */
  generation: number;
  /** set when this read found the log recreated (it then read the new log from its start) */
  recreated?: LogRecreation;
}

/** bytes before the read position kept to recognise a log rewritten in place */
const ANCHOR_BYTES = 64;
/** skipped lines kept (the first ones; the rest only counted) */
export const SKIPPED_KEPT = 100;
/** at most this much of a log is read by one read() while its writer runs: a follower that fell behind catches up in steps */
export const MAX_READ_BYTES = 8 * 1024 * 1024;

/**
 * Follows one message log: each read() takes the file from the last offset towards its end (at most
 * MAX_READ_BYTES while the writer runs) and returns the records completed since, and their raw bytes.
 * A partial trailing record stays pending until its bytes arrive.
 *
 * The log stays open between reads, so a log renamed away (SIPp's -ringbuffer rotation: it closes the
 * log, renames it and creates a new one under the name) is read to its end before the new file under
 * the name is taken up. A new file under the name, a smaller size, or the bytes just before the read
 * position changed (SIPp reopens its log with "w", truncating it in place) start a new generation,
 * read from its start. close() lets the log go.
 */
export class MessageLogFollower {
  private pending = "";
  private readPos: number;
  private skippedLines: ParseResult["skipped"] = [];
  private skippedN = 0;
  private identity: { dev: number; ino: number } | undefined;
  private anchor: string | undefined;
  private gen = 1;
  private readonly history: LogRecreation[] = [];
  private fh: FileHandle | undefined;
  /** the open log is no longer the one under the name: once read to its end, take up the new one */
  private movedAway = false;
  /** why the next log under the name is a new generation, when the last one was seen moving away */
  private movedWhy: string | undefined;

  constructor(
    readonly file: string,
    startOffset = 0,
  ) {
    this.readPos = startOffset;
  }

  /** file offset up to which every record has been returned */
  get offset(): number {
    return this.readPos - this.pending.length;
  }

  /** the generation of the log being read (1, then +1 each time it was found recreated) */
  get generation(): number {
    return this.gen;
  }

  get recreations(): readonly LogRecreation[] {
    return this.history;
  }

  /** the first SKIPPED_KEPT lines skipped (not a record), each a string of its own */
  get skipped(): readonly { offset: number; line: string }[] {
    return this.skippedLines;
  }

  /** how many lines were skipped in all */
  get skippedCount(): number {
    return this.skippedN;
  }

  /** `final`: the writer has exited, so a trailing note is complete and everything is read */
  async poll(final = false): Promise<LoggedMessage[]> {
    const records: LoggedMessage[] = [];
    for (;;) {
      const r = await this.read(final);
      records.push(...r.records);
      // a rotated log's tail came first; the new log under the name follows
      if (!this.movedAway) return records;
    }
  }

  async read(final = false): Promise<FollowerRead> {
    if (this.movedAway) {
      // the old log was read to its end by the previous read
      await this.close();
      this.movedAway = false;
    }
    const fh = await this.handle();
    if (!fh) return { records: [], bytes: Buffer.alloc(0), generation: this.gen };
    const st = await fh.stat();
    const recreated = await this.checkIdentity(fh, st);
    const limit = final ? Infinity : MAX_READ_BYTES;
    let bytes = await readRange(fh, this.readPos, Math.min(st.size, this.readPos + limit));
    if (this.readPos + bytes.length >= st.size && (await this.renamedAway(fh))) {
      // the writer closed it before renaming it: whatever it holds past what was read is its end
      bytes = Buffer.concat([bytes, await readRange(fh, this.readPos + bytes.length, Infinity)]);
      this.movedAway = true;
      this.movedWhy = "renamed away (rotated; read to its end), a new log under its name";
      if (bytes.length === 0 && this.pending === "") return this.read(final);
    }
    if (bytes.length === 0 && !((final || this.movedAway) && this.pending !== ""))
      return this.result([], "", recreated);
    const base = this.offset;
    this.readPos += bytes.length;
    const text = this.pending + bytes.toString("latin1");
    const r = parseMessageLog(text, base, final || this.movedAway);
    this.pending = text.slice(r.consumed);
    this.skippedN += r.skipped.length;
    // a line cut from `text` would keep the whole read alive: keep a few, each copied out
    for (const k of r.skipped.slice(0, SKIPPED_KEPT - this.skippedLines.length))
      this.skippedLines.push({ offset: k.offset, line: Buffer.from(k.line, "latin1").toString("latin1") });
    const tail = bytes.subarray(Math.max(0, bytes.length - ANCHOR_BYTES)).toString("latin1");
    this.anchor = ((this.anchor ?? "") + tail).slice(-ANCHOR_BYTES);
    return this.result(r.records, text.slice(0, r.consumed), recreated);
  }

  /** Let go of the open log (a later read opens it again). */
  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  /** The open log, or the one under the name now (undefined while there is none). */
  private async handle(): Promise<FileHandle | undefined> {
    if (this.fh) return this.fh;
    try {
      this.fh = await open(this.file, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return this.fh;
  }

  /** Is another file (or none) under the name now than the one held open? */
  private async renamedAway(fh: FileHandle): Promise<boolean> {
    let now;
    try {
      now = await stat(this.file);
    } catch (err) {
      // renamed, its successor not created yet: keep reading the open one
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    const held = await fh.stat();
    return now.ino !== held.ino || now.dev !== held.dev;
  }

  private result(records: LoggedMessage[], consumed: string, recreated: LogRecreation | undefined): FollowerRead {
    return {
      records,
      bytes: Buffer.from(consumed, "latin1"),
      generation: this.gen,
      ...(recreated ? { recreated } : {}),
    };
  }

  /** Is this still the log read so far? If not: a new generation, read from its start. */
  private async checkIdentity(
    fh: FileHandle,
    st: { dev: number; ino: number; size: number },
  ): Promise<LogRecreation | undefined> {
    const seen = this.identity;
    this.identity = { dev: st.dev, ino: st.ino };
    let why: string | undefined;
    if (seen !== undefined && (seen.dev !== st.dev || seen.ino !== st.ino))
      why = this.movedWhy ?? "replaced: inode changed";
    else if (st.size < this.readPos) why = `truncated: ${this.readPos} -> ${st.size} bytes`;
    else if (this.readPos > 0) {
      const n = Math.min(ANCHOR_BYTES, this.readPos);
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, this.readPos - n);
      const now = buf.subarray(0, bytesRead).toString("latin1");
      if (this.anchor === undefined)
        this.anchor = now; // started at an offset: what was there then
      else if (now !== this.anchor.slice(-n)) why = "rewritten in place (the bytes before the read position changed)";
    }
    this.movedWhy = undefined;
    if (why === undefined) return undefined;
    this.gen++;
    this.readPos = 0;
    this.pending = "";
    this.anchor = "";
    const r: LogRecreation = { generation: this.gen, detectedAt: Date.now(), why };
    this.history.push(r);
    return r;
  }
}

/** The bytes of an open file from `from` up to `to` (or its end). */
async function readRange(fh: FileHandle, from: number, to: number): Promise<Buffer> {
  const end = to === Infinity ? (await fh.stat()).size : to;
  return readSpan(fh, from, end - from);
}

/** The size of a file now (0 when it does not exist): where a follower of new records starts. */
export async function fileSize(file: string): Promise<number> {
  try {
    const fh = await open(file, "r");
    try {
      return (await fh.stat()).size;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}
