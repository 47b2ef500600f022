/**
 * Benchmark: the call cutover on the real services.
 *   sim   = `pbx-cutover sim` at the seed defaults on real FreeSWITCH (old 1.10.3, new 1.10.12) vs on
 *           the SIPp stand-ins: wall time of the whole CLI run, and the run's own overhead over its floor;
 *   knee  = the zero-failure call rate through Kamailio with real FreeSWITCH backends (profile both,
 *           round-robin): SIPp bursts of `seconds` at rising rates, calls held `hold` ms, until one
 *           has a failed call; the knee is the last rate with none.
 * Needs `make real-services`. Usage: node dist/bench/sim-freeswitch.bench.js [sim|knee|all] [seconds] [hold]
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { assetPath } from "../src/core/assets.js";
import { parseTraceStat } from "../src/sipp/results.js";
import { freeswitchFlags } from "../test/support/freeswitch-fixture.js";
import { freePorts, labFixture, type LabFixture } from "../test/support/lab-fixture.js";
import { seedEnv } from "../test/support/sim-knobs.js";

const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

async function simOnce(backends: "freeswitch" | "sipp"): Promise<void> {
  const f = await labFixture();
  try {
    const extra = backends === "freeswitch" ? await freeswitchFlags() : [];
    const env = seedEnv();
    const t = performance.now();
    const r = await f.cli(["sim", ...f.flags, ...extra, "--artifacts-dir", path.join(f.dir, "art")], {
      env,
      timeoutMs: 300_000,
    });
    const wall = performance.now() - t;
    const line = /^wall time ([\d.]+) s, floor ([\d.]+) s .*overhead (-?[\d.]+) s$/m.exec(r.stdout);
    const result = r.stdout.trimEnd().split("\n").at(-1);
    console.log(
      `sim at seed defaults on ${backends === "freeswitch" ? "real FreeSWITCH 1.10.3/1.10.12" : "SIPp stand-ins        "}: exit ${r.code}, ` +
        `CLI ${(wall / 1000).toFixed(1)} s (lab start and stop included); run ${line?.[1] ?? "?"} s for a floor of ${line?.[2] ?? "?"} s (overhead ${line?.[3] ?? "?"} s); ${result}`,
    );
    if (r.code !== 0) console.log(r.stderr.trim().split("\n").slice(-3).join("\n"));
  } finally {
    await f.dispose();
  }
}

interface Burst {
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  retransmissions: number;
  exit: number | null;
}

async function burst(f: LabFixture, rate: number, seconds: number, holdMs: number): Promise<Burst> {
  const calls = Math.max(1, Math.round(rate * seconds));
  const uacPort = (await freePorts()).sip;
  const base = path.join(f.dir, `knee-${rate}`);
  const argv = [
    `127.0.0.1:${f.ports.sip}`,
    "-sf",
    assetPath("sipp", "uac-call.xml"),
    "-i",
    "127.0.0.1",
    "-p",
    String(uacPort),
    "-m",
    String(calls),
    "-r",
    String(rate),
    "-d",
    String(holdMs),
    "-l",
    String(Math.max(100, rate * 4)),
    "-cid_str",
    `knee-${rate}-%u-%p@%s`,
    "-nostdin",
    "-timeout",
    String(seconds + 30),
    "-timeout_error",
    "-recv_timeout",
    "5000",
    "-trace_stat",
    "-stf",
    `${base}.stat.csv`,
    "-fd",
    "3600",
    "-trace_err",
    "-error_file",
    `${base}.errors.log`,
  ];
  const uac = spawn("sipp", argv, { stdio: "ignore", cwd: f.dir });
  const exit = await new Promise<number | null>((resolve) => uac.on("close", resolve));
  let stat;
  try {
    stat = parseTraceStat(readFileSync(`${base}.stat.csv`, "utf8"));
  } catch {
    stat = undefined;
  }
  return {
    rate,
    calls,
    successful: stat?.successfulCalls ?? 0,
    failed: stat?.failedCalls ?? calls,
    retransmissions: stat?.retransmissions ?? 0,
    exit,
  };
}

async function knee(seconds: number, holdMs: number): Promise<void> {
  const f = await labFixture();
  try {
    // wide RTP ranges: each call takes an RTP/RTCP pair at its FreeSWITCH for as long as it is up
    const fs = (await freeswitchFlags()).map((a) => a);
    const rtp = (flag: string, lo: number): void => {
      fs[fs.indexOf(flag) + 1] = `${lo}-${lo + 3999}`;
    };
    // above the fixtures' SIP/RPC ports (20000-39999)
    rtp("--old-rtp-ports", 50000);
    rtp("--new-rtp-ports", 54000);
    const up = await f.cli(["lab", "up", ...f.flags, ...fs], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr} ${up.stdout}`);
    const both = await f.cli(["apply", "--mode", "both", ...f.flags]);
    if (both.code !== 0) throw new Error(`apply both failed: ${both.stderr}`);
    console.log(
      `knee: bursts of ${seconds} s, calls held ${holdMs} ms, through Kamailio (children 2) to FreeSWITCH 1.10.3 + 1.10.12 (round-robin); load average ${load()}`,
    );
    let lastClean = 0;
    for (const rate of [25, 50, 100, 150, 200, 300, 400, 500, 700, 1000]) {
      const b = await burst(f, rate, seconds, holdMs);
      console.log(
        `  ${String(rate).padStart(4)} calls/s: ${b.successful}/${b.calls} completed, ${b.failed} failed, ${b.retransmissions} retransmissions (sipp exit ${b.exit})`,
      );
      if (b.failed > 0 || b.successful < b.calls) break;
      lastClean = rate;
    }
    console.log(
      `zero-failure call rate (knee) with real FreeSWITCH backends: ${lastClean} calls/s (held ${holdMs} ms; load average now ${load()})`,
    );
  } finally {
    await f.dispose();
  }
}

async function main(): Promise<void> {
  const what = process.argv[2] ?? "all";
  const seconds = Number(process.argv[3] ?? 5);
  const holdMs = Number(process.argv[4] ?? 1000);
  console.log(`(2-core machine; load average at start ${load()})`);
  if (what === "sim" || what === "all") {
    await simOnce("freeswitch");
    await simOnce("sipp");
  }
  if (what === "knee" || what === "all") await knee(seconds, holdMs);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
