/**
 * dumpcap's pcap stream as it is read: every RTP packet goes to the count (`onPacket`) and every record
 * to the capture file, written as it came under a cap (capture.pcap's segment writer: the start and
 * the latest part kept), so the count sees every packet whatever the file keeps. The stream may be cut
 * anywhere between two pushes (a record's bytes in two reads), and each push's buffer may be reused
 * by the reader right after (nothing of it is kept).
 */
import { openPcapSegments, RAW_PCAP_RECORD, type PcapKept, type PcapSegments } from "../hep/pcap.js";
import { PcapReader, type RtpPacket } from "./rtp.js";

export class CaptureStream {
  private readonly reader: PcapReader;
  private segments: PcapSegments<Buffer> | undefined;
  /** records read (every one went through the count, whatever the file kept) */
  records = 0;
  /** RTP packets handed to the count */
  packets = 0;
  /** the flush marker came through (set false to wait for the next one) */
  markerSeen = false;

  constructor(
    private readonly o: {
      /** the capture file (its segments beside it) */
      file: string;
      /** the most the files keep (bytes); undefined: no cap */
      maxBytes?: number;
      /** a 12-zero-byte datagram to this port is the flush marker, not media */
      markerPort: number;
      onPacket: (p: RtpPacket) => void;
    },
  ) {
    this.reader = new PcapReader((record) => {
      this.records++;
      this.file().write(record);
    });
  }

  /** dumpcap's file header came through (the capture file exists from then on) */
  get started(): boolean {
    return this.segments !== undefined;
  }

  /** the next bytes of the stream (throws on bytes that are no pcap stream) */
  push(chunk: Buffer): void {
    for (const p of this.reader.pushRtp(chunk, (port, payload) => this.other(port, payload))) {
      this.packets++;
      this.o.onPacket(p);
    }
    if (this.reader.header) this.file();
  }

  kept(): PcapKept | undefined {
    return this.segments?.kept();
  }

  /** flush and close the file (rejects on a write error) */
  async close(): Promise<void> {
    await this.segments?.close();
  }

  private other(port: number, payload: Buffer): void {
    if (port === this.o.markerPort && payload.length === 12 && payload.every((b) => b === 0)) this.markerSeen = true;
  }

  /** the capture file, opened with the stream's own header (dumpcap's link type) once it was read */
  private file(): PcapSegments<Buffer> {
    this.segments ??= openPcapSegments(this.o.file, RAW_PCAP_RECORD, {
      header: this.reader.header!,
      ...(this.o.maxBytes ? { maxBytes: this.o.maxBytes } : {}),
    });
    return this.segments;
  }
}
