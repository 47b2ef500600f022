import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { recordedBothCalls } from "../../test/support/hep-fixtures.js";
import { readSipHeadOf, type SipHead } from "../sip/message.js";
import { startHepCapture } from "./capture.js";
import type { HepPacket } from "./decode.js";

// The capture on a real loopback socket, fed the 56 datagrams Kamailio 5.6.3 mirrored for 4 calls
// (its SIP socket 127.0.0.1:25060).

async function sendAll(datagrams: Buffer[], port: number): Promise<void> {
  const s = dgram.createSocket("udp4");
  for (const d of datagrams) await new Promise<void>((r, j) => s.send(d, port, "127.0.0.1", (e) => (e ? j(e) : r())));
  s.close();
}

async function captured(opts: {
  book?: boolean;
  proxy: string;
}): Promise<{ calls: number; records: number; book: number | undefined; seen: [HepPacket, SipHead | undefined][] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "capture-test-"));
  const seen: [HepPacket, SipHead | undefined][] = [];
  try {
    const c = await startHepCapture({
      address: "127.0.0.1",
      port: 0,
      proxy: [opts.proxy],
      pcapPath: path.join(dir, "capture.pcap"),
      ...(opts.book === false ? { book: false } : {}),
      onPacket: (p, head) => seen.push([p, head]),
    });
    await sendAll(recordedBothCalls(), c.port);
    const deadline = Date.now() + 3000;
    while (c.summary().datagrams < 56 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const s = await c.stop();
    return { calls: s.calls, records: s.pcap.records, book: c.evidence?.calls.size, seen };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("every consumer gets the packet with its SIP head, read once by the capture", async () => {
  const r = await captured({ proxy: "127.0.0.1:25060" });
  assert.equal(r.seen.length, 56);
  for (const [p, head] of r.seen) assert.deepEqual(head, readSipHeadOf(p.payload));
  assert.equal(r.seen.filter(([, h]) => h?.method === "INVITE").length, 8, "4 calls: INVITE in, INVITE out");
});

test("book: false keeps no proxy book and still counts the calls through the proxy, as the book does", async () => {
  const withBook = await captured({ proxy: "127.0.0.1:25060" });
  const without = await captured({ book: false, proxy: "127.0.0.1:25060" });
  assert.equal(withBook.book, 4);
  assert.equal(withBook.calls, 4);
  assert.equal(without.book, undefined, "no HepEvidence");
  assert.equal(without.calls, 4);
  assert.equal(without.records, 56, "capture.pcap has every message either way");
  // messages that do not go through the proxy's socket are no calls, in both modes
  const elsewhere = await captured({ book: false, proxy: "127.0.0.1:9" });
  const elsewhereBook = await captured({ proxy: "127.0.0.1:9" });
  assert.equal(elsewhere.calls, 0);
  assert.equal(elsewhereBook.calls, 0);
});

test("--capture-max-mb: whole MB, 0 for no cap; anything else is exit 2 naming the flag", async () => {
  const { parseCaptureMaxMb } = await import("./capture.js");
  const { UsageError } = await import("../core/errors.js");
  assert.equal(parseCaptureMaxMb("512"), 512);
  assert.equal(parseCaptureMaxMb(" 0 "), 0);
  for (const bad of ["-1", "1.5", "abc", "", "12345678"])
    assert.throws(
      () => parseCaptureMaxMb(bad),
      (e: unknown) => e instanceof UsageError && /--capture-max-mb must be a whole number of MB/.test(e.message),
      bad,
    );
});
