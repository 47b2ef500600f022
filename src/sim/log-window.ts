/**
 * A phase's window of one backend's message log (pure): the raw bytes the follower read while the
 * window was open, in order, and the log recreations it saw. The phase's artifact
 * (`<phase>.uas-<backend>.messages.log`) is written from these bytes, never from file offsets, which
 * mean nothing once a restarted backend has recreated its log.
 *
 * A window with a cap (`maxBytes`) keeps, like the capped capture, the start of the phase (the first
 * half of the cap) and its latest part (the second half); what lay between is let go whole read by
 * whole read (each read ends on a record) and counted, and the artifact says so where it was.
 */
import type { FollowerRead, LogRecreation } from "../sip/message-log.js";

/** "21:04:05.123", local time (as SIPp's own stamps are) */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** "recreated at 21:04:05.123 (truncated: 50103 -> 0 bytes)" */
export function recreationText(r: LogRecreation): string {
  return `recreated at ${clockTime(r.detectedAt)} (${r.why})`;
}

/** what a capped window let go: the bytes and the reads between its start and its latest part */
export interface LogWindowDropped {
  bytes: number;
  reads: number;
}

export class LogWindow {
  /** the phase's start (everything while under half the cap) */
  private readonly parts: (Buffer | LogRecreation)[] = [];
  private headBytes = 0;
  /** the latest part, once the start is full (oldest first) */
  private readonly tail: (Buffer | LogRecreation)[] = [];
  private tailBytes = 0;
  private readonly recreated: LogRecreation[] = [];
  readonly dropped: LogWindowDropped = { bytes: 0, reads: 0 };

  /** `maxBytes`: at most this many bytes of the log kept (undefined or 0: everything) */
  constructor(private readonly maxBytes?: number) {}

  add(read: FollowerRead): void {
    if (read.recreated) {
      this.recreated.push(read.recreated);
      this.keep(read.recreated, 0);
    }
    if (read.bytes.length > 0) this.keep(read.bytes, read.bytes.length);
  }

  private keep(p: Buffer | LogRecreation, n: number): void {
    const cap = this.maxBytes ?? 0;
    if (cap <= 0 || (this.tail.length === 0 && this.headBytes + n <= cap / 2)) {
      this.parts.push(p);
      this.headBytes += n;
      return;
    }
    this.tail.push(p);
    this.tailBytes += n;
    while (this.tailBytes > cap - this.headBytes && this.tail.length > 1) {
      const old = this.tail.shift()!;
      if (!Buffer.isBuffer(old)) continue; // a recreation's mark goes with the bytes around it; the header still names it
      this.tailBytes -= old.length;
      this.dropped.bytes += old.length;
      this.dropped.reads++;
    }
  }

  get recreations(): LogRecreation[] {
    return [...this.recreated];
  }

  /** the bytes of the log the artifact holds */
  get keptBytes(): number {
    return this.headBytes + this.tailBytes;
  }

  /**
   * The artifact's bytes: what was read, as SIPp wrote it. When the log was recreated during the
   * window, a note line says so first, and another marks where each new log starts (a line that is
   * not a record: message-log parsers report it as skipped text).
   */
  render(logName: string): Buffer {
    const rec = this.recreations;
    const out: Buffer[] = [];
    if (rec.length > 0) {
      out.push(
        Buffer.from(
          `# pbx-cutover: ${logName} was recreated during this window, ${rec.map(recreationText).join(", then ")}: ` +
            `a restarted backend; the records read before and after follow, where each new log starts is marked\n`,
          "latin1",
        ),
      );
    }
    const part = (p: Buffer | LogRecreation): Buffer =>
      Buffer.isBuffer(p)
        ? p
        : Buffer.from(
            `# pbx-cutover: ${logName} ${recreationText(p)}; instance ${p.generation} starts here\n`,
            "latin1",
          );
    for (const p of this.parts) out.push(part(p));
    if (this.dropped.bytes > 0) {
      out.push(
        Buffer.from(
          `# pbx-cutover: ${this.dropped.bytes} bytes of ${logName} (${this.dropped.reads} reads) left out here: ` +
            `this copy is capped at ${this.maxBytes} bytes, the phase's start and its latest part kept\n`,
          "latin1",
        ),
      );
    }
    for (const p of this.tail) out.push(part(p));
    return Buffer.concat(out);
  }
}
