import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import { rtpOfPcapFile } from "./pcap-file.js";
import { pcapOf, rtp } from "./pcap-fixture.js";
import { rtpPacketsOf } from "./rtp.js";

const pcap = pcapOf(
  Array.from({ length: 30 }, (_, i) => ({
    src: ["127.0.0.1", 30000] as [string, number],
    dst: ["127.0.0.1", 6000] as [string, number],
    payload: rtp(SIPP_BASE_SSRC + (i % 3), 0, i, i * 160),
    ms: 1_700_000_000_000 + 20 * i,
  })),
);

test("rtpOfPcapFile: read in chunks that split records (and the file header) anywhere, the same packets as the whole file", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "pcap-file-"));
  const file = path.join(dir, "media.pcap");
  try {
    writeFileSync(file, pcap);
    const whole = rtpPacketsOf(pcap);
    assert.equal(whole.length, 30);
    // a record is 16 + 14 + 20 + 8 + 172 = 230 bytes: 7, 100 and 229 cut records (and the 24-byte header) apart
    for (const chunk of [7, 100, 229, 4096])
      assert.deepEqual(await rtpOfPcapFile(file, chunk), whole, `chunk ${chunk}`);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("rtpOfPcapFile: a capture file that is not there rejects (no media evidence, not 0 packets)", async () => {
  await assert.rejects(rtpOfPcapFile(path.join(tmpdir(), "no-such-dir-pcap", "media.pcap")), /ENOENT/);
});
