/** A finished capture file's RTP, read in bounded chunks (never the whole file in one buffer). */
import { stat } from "node:fs/promises";
import { chunksOf } from "../files/read-range.js";
import { PcapReader, type RtpPacket } from "./rtp.js";

/** The RTP packets of a classic pcap file (rejects when it does not exist or is no pcap file). */
export async function rtpOfPcapFile(file: string, chunkBytes?: number): Promise<RtpPacket[]> {
  await stat(file);
  const reader = new PcapReader();
  const out: RtpPacket[] = [];
  for await (const chunk of chunksOf(file, 0, chunkBytes)) for (const p of reader.pushRtp(chunk)) out.push(p);
  return out;
}
