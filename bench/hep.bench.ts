/**
 * Benchmark: HEP decoding + per-call evidence bookkeeping on datagrams recorded from Kamailio 5.6.3
 * (test/fixtures/kamailio-5.6.3-hep3-both-4-calls.hex, 14 messages per call), cloned into many
 * distinct calls (the SIPp pid in Call-ID, tags and branches replaced by a same-length number, so
 * every datagram keeps its recorded size). Target: at least 100,000 HEP packets/s on
 * one core. Also the pcap record encoding on top, and a sim's whole per-packet path (decode, the SIP
 * head read once, pcap record, live rates, the HEP feed drained into an evidence book:
 * what a `sim` run's collector does per datagram, minus the socket). Then the collector on a real loopback socket at
 * the lab's knee (1000 calls/s x 14 messages = 14,000 datagrams/s, sent by a child process for 5 s)
 * and at twice that: datagrams read, kernel drops, CPU.
 * Usage: node dist/bench/hep.bench.js [calls]
 */
import { fork } from "node:child_process";
import dgram from "node:dgram";
import { rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startHepCapture } from "../src/hep/capture.js";
import { decodeHep } from "../src/hep/decode.js";
import { HepEvidence } from "../src/hep/evidence.js";
import { hepView } from "../src/hep/evidence-source.js";
import { encodePcapRecord } from "../src/hep/pcap.js";
import { pcapRecord } from "../src/hep/pcap.js";
import { RateCounter } from "../src/hep/rate-counter.js";
import { readSipHeadOf } from "../src/sip/message.js";
import { EvidenceBook } from "../src/evidence/book.js";
import { HepFeed } from "../src/evidence/hep-feed.js";
import { recordedBothCalls } from "../test/support/hep-fixtures.js";

const RECORDED_PID = "11543";
/** the recorded Call-IDs' prefix, and one of the same length a sim's evidence book takes for its own (run "rr", burst old) */
const RECORDED_CALL_ID = "hep-fixture-";
const SIM_CALL_ID = "pbxc-rr-old-";

function cloneCalls(calls: number, simCallIds = false): Buffer[] {
  const recorded = recordedBothCalls();
  const out: Buffer[] = [];
  const sets = Math.ceil(calls / 4);
  if (sets > 99_999) throw new Error("at most 399,996 calls");
  for (let i = 0; i < sets; i++) {
    const token = Buffer.from(String(i).padStart(RECORDED_PID.length, "0"), "latin1");
    for (const d of recorded) {
      const b = Buffer.from(d);
      for (let at = b.indexOf(RECORDED_PID, 0, "latin1"); at >= 0; at = b.indexOf(RECORDED_PID, at + 1, "latin1"))
        token.copy(b, at);
      if (simCallIds)
        for (
          let at = b.indexOf(RECORDED_CALL_ID, 0, "latin1");
          at >= 0;
          at = b.indexOf(RECORDED_CALL_ID, at + 1, "latin1")
        )
          b.write(SIM_CALL_ID, at, "latin1");
      out.push(b);
    }
  }
  return out;
}

function run(datagrams: Buffer[], withPcap: boolean): { packetsPerS: number; cpuMs: number; calls: number } {
  const book = new HepEvidence(["127.0.0.1:25060"]);
  const cpu0 = process.cpuUsage();
  for (const d of datagrams) {
    const r = decodeHep(d);
    if (!r.ok) throw new Error(r.malformation.detail);
    book.add(r.packet);
    if (withPcap) pcapRecord(r.packet);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { packetsPerS: datagrams.length / (cpuMs / 1000), cpuMs, calls: book.calls.size };
}

/** a sim's per-packet path without the socket: capture (head, pcap; no proxy book, as `sim` runs it) + rates + feed, drained every 350 packets (25 ms at the knee) */
function runSimPath(datagrams: Buffer[]): { packetsPerS: number; cpuMs: number; calls: number } {
  const proxy = "127.0.0.1:25060";
  const view = hepView([proxy], { old: "127.0.0.1:25062", new: "127.0.0.1:25063" });
  const rates = new RateCounter(view, 0);
  const feed = new HepFeed(view);
  const book = new EvidenceBook("rr");
  const chunk = Buffer.allocUnsafe(256 * 1024);
  let used = 0;
  const cpu0 = process.cpuUsage();
  let n = 0;
  for (const d of datagrams) {
    const r = decodeHep(d);
    if (!r.ok) throw new Error(r.malformation.detail);
    const head = readSipHeadOf(r.packet.payload);
    if (used + 70_000 > chunk.length) used = 0;
    used = encodePcapRecord(r.packet, chunk, used);
    rates.add(r.packet, head);
    feed.push(r.packet, head);
    if (++n % 350 === 0) feed.drain(book);
  }
  feed.drain(book);
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  if (book.calls.size === 0) throw new Error("the evidence book booked no call");
  return { packetsPerS: datagrams.length / (cpuMs / 1000), cpuMs, calls: book.calls.size };
}

/** child process: send `rate` datagrams/s of recorded calls for `secs` to the port, then report the count */
function sender(port: number, rate: number, secs: number): void {
  const all = cloneCalls(Math.min(rate * secs, 200_000) / 14);
  const s = dgram.createSocket("udp4");
  const total = rate * secs;
  const t0 = performance.now();
  let n = 0;
  const tick = (): void => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    for (; n < due; n++) s.send(all[n % all.length]!, port, "127.0.0.1");
    if (n < total) setTimeout(tick, 2);
    else setTimeout(() => s.close(() => process.send?.(n)), 50);
  };
  tick();
}

async function atRate(rate: number, secs: number): Promise<void> {
  const pcapPath = path.join(os.tmpdir(), `hep-bench-${process.pid}.pcap`);
  const cap = await startHepCapture({ address: "127.0.0.1", port: 0, proxy: ["127.0.0.1:25060"], pcapPath });
  const cpu0 = process.cpuUsage();
  const child = fork(fileURLToPath(import.meta.url), ["--send", String(cap.port), String(rate), String(secs)]);
  const sent = await new Promise<number>((resolve) => child.on("message", (m) => resolve(Number(m))));
  const s = await cap.stop();
  const cpu = process.cpuUsage(cpu0);
  rmSync(pcapPath, { force: true });
  console.log(
    `collector at ${rate.toLocaleString("en-US")} datagrams/s for ${secs} s: sent ${sent.toLocaleString("en-US")}, read ${s.datagrams.toLocaleString("en-US")}, ` +
      `kernel drops ${s.kernelDrops ?? "?"}, malformed ${s.malformed}, pcap records ${s.pcap.records.toLocaleString("en-US")}, ` +
      `receive buffer ${(s.recvBufferBytes / 2 ** 20).toFixed(0)} MiB, ${Math.round(((cpu.user + cpu.system) / 1e6 / secs) * 100)}% of a core`,
  );
}

if (process.argv[2] === "--send") {
  sender(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  await main();
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 20_000);
  const datagrams = cloneCalls(calls);
  run(datagrams.slice(0, 14 * 2000), true); // warm up
  for (const withPcap of [false, true]) {
    const r = run(datagrams, withPcap);
    console.log(
      `HEP decode + evidence${withPcap ? " + pcap record" : ""}: ${Math.round(r.packetsPerS).toLocaleString("en-US")} packets/s on one core ` +
        `(${datagrams.length.toLocaleString("en-US")} recorded-size datagrams, ${r.calls.toLocaleString("en-US")} calls, ${r.cpuMs.toFixed(0)} ms CPU; target >= 100,000)`,
    );
  }
  const simDatagrams = cloneCalls(calls, true);
  runSimPath(simDatagrams.slice(0, 14 * 2000)); // warm up
  for (let i = 0; i < 2; i++) {
    const r = runSimPath(simDatagrams);
    console.log(
      `a sim's whole per-packet path (decode, head, pcap record, rates, feed into an evidence book): ${Math.round(r.packetsPerS).toLocaleString("en-US")} packets/s on one core, ` +
        `${((r.cpuMs * 1000) / simDatagrams.length).toFixed(1)} us/packet (${r.calls.toLocaleString("en-US")} calls)`,
    );
  }
  if (process.argv.includes("--no-socket")) process.exit(0);
  await atRate(14_000, 5);
  await atRate(28_000, 5);
}
