/**
 * Benchmark: the lab's zero-failure call rate with and without HEP mirroring (issue 10: mirroring
 * must not cost more than 15% of it). One lab (Kamailio -m 256, children 2, the SIPp stand-ins),
 * the tool's HEP collector running throughout (decoding, booking, writing pcap, as `sim` does);
 * for each rate a 5 s burst of calls held 1 s with `siptrace.status off`, then the same with `on`
 * (pairs, so drift in the machine's load hits both alike), calls failed per SIPp's counters.
 * Usage: node dist/bench/mirror-knee.bench.js [rate ...]   (default 500 600 700 800 900 1000)
 */
import { readdirSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { assetPath } from "../src/assets.js";
import { startHepCapture } from "../src/hep/capture.js";
import { hepView } from "../src/hep/evidence-source.js";
import { HttpJsonRpcClient } from "../src/kamailio/rpc.js";
import { EvidenceBook } from "../src/sim/evidence.js";
import { HepFeed } from "../src/sim/hep-feed.js";
import { uacArgv } from "../src/sipp/argv.js";
import { parseTraceStat } from "../src/sipp/results.js";
import { startSipp } from "../src/sipp/runner.js";
import { labFixture } from "../test/support/lab-fixture.js";

const SECONDS = 5;
const HOLD_MS = 1000;
const TICKS_PER_S = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** CPU seconds used so far by every process whose command line names `needle` (Kamailio and its children) */
function cpuOf(needle: string): number {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / TICKS_PER_S;
}

/** this process's CPU seconds (the collector: receive, decode, evidence, pcap) */
const selfCpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const rates = process.argv.slice(2).map(Number).filter((n) => n > 0);
  if (rates.length === 0) rates.push(500, 600, 700, 800, 900, 1000);
  const f = await labFixture();
  const rpc = new HttpJsonRpcClient("127.0.0.1", f.ports.rpc, 5000);
  const proxy = `127.0.0.1:${f.ports.sip}`;
  const feed = new HepFeed(hepView([proxy], { old: `127.0.0.1:${f.ports.old}`, new: `127.0.0.1:${f.ports.new}` }));
  let book = new EvidenceBook("bench");
  const cap = await startHepCapture({ address: "127.0.0.1", port: f.ports.hep, proxy: [proxy], pcapPath: path.join(f.dir, "capture.pcap"), onPacket: feed.push });
  // the collector's consumer, as in a sim run: drain every 25 ms into an evidence book
  const drain = setInterval(() => feed.drain(book), 25);
  try {
    const up = await f.cli(["lab", "up", ...f.flags]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    await f.cli(["apply", "--mode", "both", ...f.flags]);
    console.log(`mirror knee: ${SECONDS} s bursts, calls held ${HOLD_MS} ms, Kamailio -m 256 children 2, collector running; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
    const kamailioCfg = path.join(f.labDir, "kamailio.cfg");
    const rows: { rate: number; off: number; on: number }[] = [];
    for (const rate of rates) {
      const row = { rate, off: -1, on: -1 };
      for (const mode of ["off", "on"] as const) {
        await rpc.call("siptrace.status", [mode]);
        // a run id per burst: Call-IDs never repeat (FIELD-NOTES trap 6), the book books them as calls
        const id = `bench${randomBytes(3).toString("hex")}`;
        book = new EvidenceBook(id);
        const base = path.join(f.dir, `${rate}-${mode}`);
        const argv = uacArgv("sipp", assetPath("sipp", "uac-call.xml"), {
          proxy: { address: "127.0.0.1", port: f.ports.sip },
          localAddress: "127.0.0.1",
          service: "bench",
          calls: rate * SECONDS,
          rate,
          holdMs: HOLD_MS,
          callIdTag: `pbxc-${id}-old`,
          recvTimeoutMs: 5000,
          messageLog: `${base}.uac.log`,
          statFile: `${base}.stat.csv`,
          errorFile: `${base}.errors.log`,
        });
        const before = cap.summary();
        const cpu0 = { kamailio: cpuOf(kamailioCfg), collector: selfCpu() };
        const p = startSipp(argv, { cwd: f.dir });
        const exit = await p.done;
        await cap.settle(100, 3000);
        const after = cap.summary();
        const calls = rate * SECONDS;
        const us = (sec: number): number => Math.round((sec * 1e6) / calls);
        const cpu = { kamailio: us(cpuOf(kamailioCfg) - cpu0.kamailio), collector: us(selfCpu() - cpu0.collector) };
        const stats = parseTraceStat(readFileSync(`${base}.stat.csv`, "utf8"));
        const failed = stats ? stats.failedCalls + Math.max(0, rate * SECONDS - stats.successfulCalls - stats.failedCalls) : -1;
        row[mode] = failed;
        const drops = (after.kernelDrops ?? 0) - (before.kernelDrops ?? 0);
        console.log(
          `  ${rate} calls/s mirroring ${mode.padEnd(3)}: ${stats?.successfulCalls ?? "?"} ok, ${failed} failed (sipp ${exit.description}); ` +
            `HEP datagrams +${after.datagrams - before.datagrams}, kernel drops +${drops}; CPU per call: Kamailio ${cpu.kamailio} us, collector ${cpu.collector} us`,
        );
        // transactions linger ~5 s in Kamailio's memory: let them go before the next burst
        await new Promise((r) => setTimeout(r, 6000));
      }
      rows.push(row);
    }
    const knee = (k: "off" | "on"): number => {
      let best = 0;
      for (const r of rows) {
        if (r[k] === 0) best = r.rate;
        else break;
      }
      return best;
    };
    const off = knee("off");
    const on = knee("on");
    console.log(`zero-failure rate: off ${off} calls/s, on ${on} calls/s; mirroring costs ${off > 0 ? Math.round((100 * (off - on)) / off) : "?"}% (issue: at most 15%)`);
    console.log(`collector: ${JSON.stringify({ ...cap.summary(), pcap: undefined })}`);
  } finally {
    clearInterval(drain);
    rpc.close();
    await cap.stop();
    await f.dispose();
  }
}

await main();
