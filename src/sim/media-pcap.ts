/**
 * The run's one `media.pcap`: once the bursts are over, every burst's capture of its caller's RTP
 * merged in capture-time order (pcap-merge.ts), so Wireshark's or tshark's RTP stream analysis sees
 * the whole run at once. A burst's packets in it are those to and from its caller's ports (its row's
 * `media.ports`), which no other burst of the run shares (port-ranges.ts). Once merged, the bursts'
 * own files are removed (the run's RTP once on disk, not twice); a merge that fails keeps them and
 * says why.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { mergePcapFiles } from "../media/pcap-merge.js";

export const RUN_MEDIA_PCAP = "media.pcap";

/** results.json's `media`: where the run's RTP is */
export interface RunMediaPcap {
  /** `media.pcap` in the run folder, or null when it was not written (`why`) */
  pcap: string | null;
  /** the records (packets) it holds */
  records?: number;
  /** the bursts' captures it was made of: removed once it was written, else kept */
  burstFiles: string[];
  burstFilesRemoved: boolean;
  why?: string;
}

/** Merge `burstFiles` (names in `runDir`, in the order the bursts started) into `runDir`/media.pcap. */
export async function mergeRunMedia(runDir: string, burstFiles: readonly string[]): Promise<RunMediaPcap> {
  const files = [...burstFiles];
  if (files.length === 0) return { pcap: null, burstFiles: files, burstFilesRemoved: false, why: "no burst captured" };
  let records: number;
  try {
    records = await mergePcapFiles(
      files.map((f) => path.join(runDir, f)),
      path.join(runDir, RUN_MEDIA_PCAP),
    );
  } catch (e) {
    return {
      pcap: null,
      burstFiles: files,
      burstFilesRemoved: false,
      why: `not merged (${(e as Error).message}): each burst's capture is kept`,
    };
  }
  const notRemoved: string[] = [];
  for (const f of files) {
    try {
      rmSync(path.join(runDir, f), { force: true });
    } catch (e) {
      notRemoved.push(`${f}: ${(e as Error).message}`);
    }
  }
  return {
    pcap: RUN_MEDIA_PCAP,
    records,
    burstFiles: files,
    burstFilesRemoved: notRemoved.length === 0,
    ...(notRemoved.length > 0 ? { why: `not removed: ${notRemoved.join("; ")}` } : {}),
  };
}
