/**
 * Benchmark: HEP decoding + per-call evidence bookkeeping on datagrams recorded from Kamailio 5.6.3
 * (test/fixtures/kamailio-5.6.3-hep3-both-4-calls.hex, 14 messages per call), cloned into many
 * distinct calls (the SIPp pid in Call-ID, tags and branches replaced by a same-length number, so
 * every datagram keeps its recorded size). Target (issue 10): at least 100,000 HEP packets/s on
 * one core. Also the pcap record encoding on top. Usage: node dist/bench/hep.bench.js [calls]
 */
import { decodeHep } from "../src/hep/decode.js";
import { HepEvidence } from "../src/hep/evidence.js";
import { pcapRecord } from "../src/hep/pcap.js";
import { recordedBothCalls } from "../test/support/hep-fixtures.js";

const RECORDED_PID = "11543";

function cloneCalls(calls: number): Buffer[] {
  const recorded = recordedBothCalls();
  const out: Buffer[] = [];
  const sets = Math.ceil(calls / 4);
  if (sets > 99_999) throw new Error("at most 399,996 calls");
  for (let i = 0; i < sets; i++) {
    const token = Buffer.from(String(i).padStart(RECORDED_PID.length, "0"), "latin1");
    for (const d of recorded) {
      const b = Buffer.from(d);
      for (let at = b.indexOf(RECORDED_PID, 0, "latin1"); at >= 0; at = b.indexOf(RECORDED_PID, at + 1, "latin1")) token.copy(b, at);
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
