/**
 * Benchmark: what media costs the lab's zero-failure call rate. `pbx-cutover sim` with `--media on`
 * and `--media off` at rising call rates (calls held `hold` ms, `seconds` of calls per phase), on the
 * SIPp stand-ins or on real FreeSWITCH (old 1.10.3, new 1.10.12; needs `make real-services`); the
 * knee is the last rate at which the whole run passes (every assertion, media-both-ways included with
 * media on). Each rate runs on a fresh lab.
 * With `sipp-relay` and `freeswitch-relay` it compares media on without and with the lab's rtpengine
 * relay (--media-relay rtpengine, RTP ports 10000-29999: 4 a call kept 30 s after its BYE, so ~5000
 * calls in any 30 s) on the stand-ins or on real FreeSWITCH.
 * Usage: node dist/bench/media.bench.js <sipp|freeswitch|sipp-relay|freeswitch-relay> [seconds] [hold] [rates...]
 */
import os from "node:os";
import path from "node:path";
import { freeswitchFlags } from "../test/support/freeswitch-fixture.js";
import { freeUdpPort, labFixture } from "../test/support/lab-fixture.js";

const load = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

type Backends = "sipp" | "freeswitch";
interface Run {
  media: "on" | "off";
  relay: boolean;
}
const mediaOffOn: Run[] = [
  { media: "off", relay: false },
  { media: "on", relay: false },
];
const relayOffOn: Run[] = [
  { media: "on", relay: false },
  { media: "on", relay: true },
];
async function simAt(
  backends: Backends,
  media: "on" | "off",
  rate: number,
  seconds: number,
  hold: number,
  relay = false,
): Promise<boolean> {
  const f = await labFixture();
  try {
    const extra = backends === "freeswitch" ? await freeswitchFlags() : [];
    if (relay)
      extra.push(
        "--media-relay",
        "rtpengine",
        "--relay-ng-port",
        String(await freeUdpPort()),
        "--relay-ports",
        "10000-29999",
      );
    // wide RTP ranges (above the fixtures' SIP/RPC ports): each call holds a port pair at its FreeSWITCH
    const widen = (flag: string, lo: number): void => void (extra[extra.indexOf(flag) + 1] = `${lo}-${lo + 3999}`);
    if (backends === "freeswitch") {
      widen("--old-rtp-ports", 50000);
      widen("--new-rtp-ports", 54000);
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CALLS_PER_PHASE: String(Math.max(2, Math.round(rate * seconds))),
      CALL_RATE: String(rate),
      CALL_DURATION_MS: String(hold),
      LONG_CALL_MS: "2500",
      POST_CUTOVER_CALLS: "4",
    };
    const t = performance.now();
    const r = await f.cli(["sim", ...f.flags, ...extra, "--media", media, "--artifacts-dir", path.join(f.dir, "art")], {
      env,
      timeoutMs: 600_000,
    });
    const fails = (r.stdout.match(/^FAIL \S+ \S+: .*/gm) ?? []).slice(0, 3);
    console.log(
      `${backends}${relay ? " via rtpengine" : ""} media ${media.padEnd(3)} rate ${String(rate).padStart(4)}/s: exit ${r.code} in ${((performance.now() - t) / 1000).toFixed(1)} s (load ${load()})${fails.length ? "\n    " + fails.join("\n    ") : ""}`,
    );
    return r.code === 0;
  } finally {
    await f.dispose();
  }
}

const MODES: Record<string, { backends: Backends; runs: Run[] }> = {
  sipp: { backends: "sipp", runs: mediaOffOn },
  freeswitch: { backends: "freeswitch", runs: mediaOffOn },
  "sipp-relay": { backends: "sipp", runs: relayOffOn },
  "freeswitch-relay": { backends: "freeswitch", runs: relayOffOn },
};

const [mode = "sipp", ...rest] = process.argv.slice(2);
const chosen = MODES[mode];
if (!chosen) throw new Error(`usage: media.bench.js <${Object.keys(MODES).join("|")}> [seconds] [hold] [rates...]`);
const { backends, runs } = chosen;
const [seconds = 5, hold = 1000, ...rates] = rest.map(Number);
const ladder = rates.length > 0 ? rates : [50, 100, 200, 300, 400];
console.log(
  `machine: ${os.cpus().length} cores; ${backends}; ${seconds} s of calls per phase, held ${hold} ms; load ${load()}`,
);
for (const { media, relay } of runs) {
  let knee = 0;
  for (const rate of ladder) {
    if (!(await simAt(backends, media, rate, seconds, hold, relay))) break;
    knee = rate;
  }
  console.log(
    `${backends}${relay ? " via rtpengine" : ""} media ${media}: zero-failure up to ${knee} calls/s (of ${ladder.join(", ")})`,
  );
}
