/**
 * The classic pcap format's fixed parts, shared by what reads a capture (the live media count,
 * src/media/rtp.ts) and what merges captures (src/media/pcap-merge.ts): the sizes, the largest record
 * a real capture holds, and the global header read from its first 24 bytes.
 */

export const PCAP_GLOBAL_HEADER = 24;
export const PCAP_RECORD_HEADER = 16;
/** a record's captured length above this is a corrupt file, not a packet (libpcap's largest snapshot length) */
export const MAX_CAPLEN = 262_144;

/** A pcap file's global header. */
export interface PcapHeader {
  littleEndian: boolean;
  /** nanosecond timestamps (magic a1b23c4d) rather than microseconds */
  nanos: boolean;
  snaplen: number;
  linktype: number;
  /** its 24 bytes (a copy) */
  bytes: Buffer;
}

/** The global header of a classic pcap file at the start of `b`; throws naming `file` when it is not one. */
export function pcapHeaderOf(b: Buffer, file: string): PcapHeader {
  if (b.length < PCAP_GLOBAL_HEADER) throw new Error(`${file}: not a pcap file (${b.length} bytes)`);
  const magics: Record<number, { nanos: boolean }> = { 0xa1b2c3d4: { nanos: false }, 0xa1b23c4d: { nanos: true } };
  const le = magics[b.readUInt32LE(0)];
  const be = magics[b.readUInt32BE(0)];
  const m = le ? { ...le, littleEndian: true } : be ? { ...be, littleEndian: false } : undefined;
  if (!m) throw new Error(`${file}: not a classic pcap file (magic 0x${b.readUInt32BE(0).toString(16)})`);
  const u32 = (at: number): number => (m.littleEndian ? b.readUInt32LE(at) : b.readUInt32BE(at));
  return { ...m, snaplen: u32(16), linktype: u32(20), bytes: Buffer.from(b.subarray(0, PCAP_GLOBAL_HEADER)) };
}
