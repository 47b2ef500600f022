/**
 * A phase's window of one backend's message log (pure): the raw bytes the follower read while the
 * window was open, in order, and the log recreations it saw. The phase's artifact
 * (`<phase>.uas-<backend>.messages.log`) is written from these bytes, never from file offsets, which
 * mean nothing once a restarted backend has recreated its log.
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

export class LogWindow {
  private readonly parts: (Buffer | LogRecreation)[] = [];

  add(read: FollowerRead): void {
    if (read.recreated) this.parts.push(read.recreated);
    if (read.bytes.length > 0) this.parts.push(read.bytes);
  }

  get recreations(): LogRecreation[] {
    return this.parts.filter((p): p is LogRecreation => !Buffer.isBuffer(p));
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
    for (const p of this.parts) {
      out.push(
        Buffer.isBuffer(p)
          ? p
          : Buffer.from(
              `# pbx-cutover: ${logName} ${recreationText(p)}; instance ${p.generation} starts here\n`,
              "latin1",
            ),
      );
    }
    return Buffer.concat(out);
  }
}
