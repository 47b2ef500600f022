/** tshark's RTP stream analysis of a pcap, as the e2e tests compare it with the tool's counts. */
import { execFileSync } from "node:child_process";

export interface TsharkStream {
  src: string;
  dst: string;
  /** lower-case hex, 0x-prefixed */
  ssrc: string;
  packets: number;
  /** tshark's "Lost" column */
  lost: number;
  /** the running RFC 3550 jitter's smallest and largest value over the stream (ms; undefined when not shown) */
  jitterMinMs: number | undefined;
  jitterMaxMs: number | undefined;
}

/** `tshark -z rtp,streams` over a pcap (every UDP datagram tried as RTP): source, destination, SSRC, packets, lost. */
export function tsharkStreams(pcap: string): TsharkStream[] {
  const out = execFileSync("tshark", ["-r", pcap, "-o", "rtp.heuristic_rtp:TRUE", "-q", "-z", "rtp,streams"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    maxBuffer: 64 * 1024 * 1024,
  });
  const rows: TsharkStream[] = [];
  for (const line of out.split("\n")) {
    const m =
      /^\s*[\d.]+\s+[\d.]+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(0x[0-9A-Fa-f]+)\s+\S+\s+(\d+)\s+(-?\d+)(?:\s+\([^)]*\)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+([\d.]+))?/.exec(
        line,
      );
    if (m)
      rows.push({
        src: `${m[1]}:${m[2]}`,
        dst: `${m[3]}:${m[4]}`,
        ssrc: m[5]!.toLowerCase(),
        packets: +m[6]!,
        lost: +m[7]!,
        jitterMinMs: m[8] === undefined ? undefined : +m[8],
        jitterMaxMs: m[9] === undefined ? undefined : +m[9],
      });
  }
  return rows;
}
