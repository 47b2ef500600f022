/**
 * Follows a run folder's events.ndjson written by another process (`pbx-cutover watch`): reads what
 * is there, then polls from its last offset; a partial last line waits for its newline. Every line
 * goes through the same lenient reader as report.html (lines that are not events are counted).
 */
import { closeSync, openSync, readSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { RunEvent } from "../events/run-events.js";
import { parseEventLine } from "./view-model.js";

export class EventLogFollower {
  private offset = 0;
  private pending = "";
  /** a UTF-8 character split across two reads is decoded whole */
  private readonly decoder = new StringDecoder("utf8");
  private readonly listeners = new Set<(e: RunEvent) => void>();
  /** lines that were not events */
  unreadable = 0;

  constructor(private readonly file: string) {}

  subscribe(fn: (e: RunEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Read what was appended since the last call; returns the events delivered. */
  poll(): number {
    const fd = openSync(this.file, "r");
    let delivered = 0;
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.pending += this.decoder.write(buf.subarray(0, n));
        let i;
        while ((i = this.pending.indexOf("\n")) >= 0) {
          const line = this.pending.slice(0, i);
          this.pending = this.pending.slice(i + 1);
          if (line.trim() === "") continue;
          const e = parseEventLine(line);
          if (!e) {
            this.unreadable++;
            continue;
          }
          delivered++;
          for (const fn of this.listeners) fn(e);
        }
      }
    } finally {
      closeSync(fd);
    }
    return delivered;
  }
}
