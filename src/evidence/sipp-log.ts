/**
 * The SIPp stand-ins' message logs (`-trace_msg`) as an evidence source (pure): each logged record is
 * a message a backend or a caller (a UAC burst) received or sent, fed into the book with the log's
 * own timestamp. A backend log's generation (a recreated log: a restarted backend) is the instance.
 */
import type { BackendRole } from "../core/backend-role.js";
import type { LoggedMessage } from "../sip/message-log.js";
import { readSipHead } from "../sip/message.js";
import type { EvidenceBook, EvidenceFact } from "./book.js";
import type { BurstLabel } from "./call-id.js";

/** A record from a backend's SIPp message log (`instance`: the log's generation). */
export function backendLogRecord(
  book: EvidenceBook,
  backend: BackendRole,
  rec: LoggedMessage,
  instance?: number,
): EvidenceFact[] {
  if (rec.note !== undefined) return [];
  const msg = readSipHead(rec.text);
  if (!msg) return [];
  return book.backendMessage(backend, msg, {
    stamp: rec.stamp,
    direction: rec.direction,
    ...(instance !== undefined ? { instance } : {}),
  });
}

/** A record from a UAC burst's SIPp message log (SIPp's notes reach the book as the call's note). */
export function uacLogRecord(book: EvidenceBook, burst: BurstLabel, rec: LoggedMessage): EvidenceFact[] {
  const msg = readSipHead(rec.text);
  if (!msg) return [];
  return book.uacMessage(burst, msg, { stamp: rec.stamp, direction: rec.direction }, rec.note);
}
