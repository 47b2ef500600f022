/** Classic pcap files and RTP payloads built in memory, for the media tests. */

/** a classic pcap of Ethernet frames (what dumpcap writes for lo), each an IPv4/UDP datagram */
export type Frame = { src: [string, number]; dst: [string, number]; payload: Buffer; ms?: number };
export function pcapOf(frames: Frame[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const recs = frames.map((f) => {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip[9] = 17;
    Buffer.from(f.src[0].split(".").map(Number)).copy(ip, 12);
    Buffer.from(f.dst[0].split(".").map(Number)).copy(ip, 16);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(f.src[1], 0);
    udp.writeUInt16BE(f.dst[1], 2);
    udp.writeUInt16BE(8 + f.payload.length, 4);
    const frame = Buffer.concat([Buffer.alloc(14), ip, udp, f.payload]);
    const rec = Buffer.alloc(16);
    const ms = f.ms ?? 0;
    rec.writeUInt32LE(Math.floor(ms / 1000), 0);
    rec.writeUInt32LE(Math.round((ms % 1000) * 1000), 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...recs]);
}

export function rtp(ssrc: number, pt = 0, seq = 0, ts = 0): Buffer {
  const b = Buffer.alloc(12 + 160);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}
