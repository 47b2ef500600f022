/**
 * Benchmark: the lab's zero-failure call rate with and without HEP mirroring (target: mirroring
 * must not cost more than 15% of it). One lab (Kamailio -m 256, children 2, the SIPp stand-ins),
 * the tool's HEP collector running throughout (decoding, booking, writing pcap, as `sim` does);
 * for each rate a 5 s burst of calls held 1 s with `siptrace.status off`, then the same with `on`
 * (pairs, so drift in the machine's load hits both alike), calls failed per SIPp's counters.
 * Per burst also the CPU per call of Kamailio (all its processes, from /proc) and of the collector
 * (this process: the collector, the HEP feed and its evidence book, the rate counter, pcap), and the
 * load average, which the figures depend on when the machine is shared.
 * Usage: node dist/bench/mirror-knee.bench.js [--read-pause-ms N] [rate ...]   (default 500 600 700 800 900 1000;
 * --read-pause-ms: the collector's pause between read rounds, 0 = read continuously, default 5)
 */
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { assetPath } from "../src/core/assets.js";
import { startHepCapture } from "../src/hep/capture.js";
import { hepView } from "../src/hep/evidence-source.js";
import { labRpc } from "../test/support/lab-runtime.js";
import { EvidenceBook } from "../src/evidence/book.js";
import { HepFeed } from "../src/evidence/hep-feed.js";
import { RateCounter } from "../src/hep/rate-counter.js";
import { findLabProcesses } from "../src/os/ownership.js";
import { uacArgv } from "../src/sipp/argv.js";
import { parseTraceStat } from "../src/sipp/results.js";
import { startSipp } from "../src/sipp/runner.js";
import { labFixture } from "../test/support/lab-fixture.js";

const SECONDS = 5;
const HOLD_MS = 1000;

const load = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** CPU time (user + system, microseconds) of the lab's kamailio processes so far */
function kamailioCpuUs(labDir: string): number {
  const tick = 1e6 / 100; // USER_HZ
  let sum = 0;
  for (const p of findLabProcesses(labDir)) {
    if (p.comm !== "kamailio") continue;
    try {
      const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      sum += (Number(rest[14 - 3]) + Number(rest[15 - 3])) * tick;
    } catch {
      /* gone */
    }
  }
  return sum;
}

const cpuUs = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const pauseAt = args.indexOf("--read-pause-ms");
  const readPauseMs = pauseAt >= 0 ? Number(args.splice(pauseAt, 2)[1]) : undefined;
  const rates = args.map(Number).filter((n) => n > 0);
  if (rates.length === 0) rates.push(500, 600, 700, 800, 900, 1000);
  const f = await labFixture();
  const rpc = labRpc(f, 5000);
  const proxy = `127.0.0.1:${f.ports.sip}`;
  const view = hepView([proxy], { old: `127.0.0.1:${f.ports.old}`, new: `127.0.0.1:${f.ports.new}` });
  const feed = new HepFeed(view);
  const rateCounter = new RateCounter(view, Date.now());
  let book = new EvidenceBook("bench");
  const cap = await startHepCapture({
    address: "127.0.0.1",
    port: f.ports.hep,
    proxy: [proxy],
    pcapPath: path.join(f.dir, "capture.pcap"),
    book: false,
    ...(readPauseMs !== undefined ? { readPauseMs } : {}),
    onPacket: (p, head) => {
      rateCounter.add(p, head);
      feed.push(p, head);
    },
  });
  // the collector's consumer, as in a sim run: drain every 25 ms into an evidence book
  const drain = setInterval(() => feed.drain(book), 25);
  try {
    const up = await f.cli(["lab", "up", ...f.flags]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    await f.cli(["apply", "--mode", "both", ...f.flags]);
    console.log(
      `mirror knee: ${SECONDS} s bursts, calls held ${HOLD_MS} ms, Kamailio -m 256 children 2, collector running (read pause ${readPauseMs ?? "default"} ms); load ${load()}`,
    );
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
        const k0 = kamailioCpuUs(f.labDir);
        const c0 = cpuUs();
        const p = startSipp(argv, { cwd: f.dir });
        const exit = await p.done;
        await cap.settle(100, 3000);
        feed.drain(book);
        const kamUs = kamailioCpuUs(f.labDir) - k0;
        const colUs = cpuUs() - c0;
        const after = cap.summary();
        const stats = parseTraceStat(readFileSync(`${base}.stat.csv`, "utf8"));
        const failed = stats
          ? stats.failedCalls + Math.max(0, rate * SECONDS - stats.successfulCalls - stats.failedCalls)
          : -1;
        row[mode] = failed;
        const drops = (after.kernelDrops ?? 0) - (before.kernelDrops ?? 0);
        console.log(
          `  ${rate} calls/s mirroring ${mode.padEnd(3)}: ${stats?.successfulCalls ?? "?"} ok, ${failed} failed (sipp ${exit.description}); ` +
            `HEP datagrams +${after.datagrams - before.datagrams}, kernel drops +${drops}; CPU per call: Kamailio ${Math.round(kamUs / (rate * SECONDS))} us, ` +
            `collector ${Math.round(colUs / (rate * SECONDS))} us (${after.datagrams > before.datagrams ? Math.round(colUs / (after.datagrams - before.datagrams)) : "-"} us/datagram); load ${load()}`,
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
    console.log(
      `zero-failure rate: off ${off} calls/s, on ${on} calls/s; mirroring costs ${off > 0 ? Math.round((100 * (off - on)) / off) : "?"}% (target: at most 15%)`,
    );
    console.log(`collector: ${JSON.stringify({ ...cap.summary(), pcap: undefined })}`);
  } finally {
    clearInterval(drain);
    rpc.close();
    await cap.stop();
    await f.dispose();
  }
}

await main();
