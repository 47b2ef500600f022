/**
 * Benchmark: `pbx-cutover verify` on the native lab (whole CLI processes), and one Kamailio RPC call
 * over JSON-RPC/HTTP vs over kamcmd (the transport the docker driver uses, here without docker exec).
 * Prints medians. Usage: node dist/bench/verify.bench.js [iterations]
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { labRpc } from "../test/support/lab-runtime.js";
import { runArgv } from "../src/os/run-argv.js";
import { KamcmdRpcClient } from "../src/kamailio/kamcmd-rpc.js";
import { labFixture } from "../test/support/lab-fixture.js";
import { median } from "./support/median.js";

const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;

interface Report {
  durationMs: number;
  rows: { component: string; rttMs?: number }[];
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10);
  const f = await labFixture();
  try {
    const up = await f.cli(["lab", "up", ...f.flags]);
    if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
    const noProxy = path.join(f.dir, "no-proxy.json");
    writeFileSync(noProxy, JSON.stringify({ verify: { throughProxy: false } }));
    for (const [label, extra] of [
      ["all probes", [] as string[]],
      ["direct probes only (throughProxy false)", ["--config", noProxy]],
    ] as const) {
      const cli: number[] = [];
      const inside: number[] = [];
      const direct: number[] = [];
      const via: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const r = await f.cli(["verify", "--json", ...f.flags, "--artifacts-dir", "artifacts", ...extra]);
        cli.push(performance.now() - t);
        if (r.code !== 0) throw new Error(`verify failed: ${r.stdout}${r.stderr}`);
        const rep = JSON.parse(r.stdout) as Report;
        inside.push(rep.durationMs);
        for (const row of rep.rows) {
          if (row.rttMs === undefined) continue;
          if (row.component.endsWith("(SIP OPTIONS)")) direct.push(row.rttMs);
          if (row.component.endsWith("(OPTIONS from Kamailio)")) via.push(row.rttMs);
        }
      }
      console.log(`verify, ${label} (n=${n})`);
      console.log(`  CLI start to exit:         ${fmt(cli)}`);
      console.log(`  probes, inside the process: ${fmt(inside)}`);
      console.log(`  direct OPTIONS round trip:  ${fmt(direct)}`);
      if (via.length > 0) console.log(`  OPTIONS from Kamailio:      ${fmt(via)}`);
    }
    const http = labRpc(f);
    const kamcmd = new KamcmdRpcClient(
      "kamcmd",
      (m, p) => ["/usr/sbin/kamcmd", "-s", `unix:${path.join(f.labDir, "kamailio_ctl")}`, m, ...p],
      runArgv,
    );
    for (const [name, c] of [
      ["JSON-RPC over HTTP (keep-alive)", http],
      ["kamcmd process per call", kamcmd],
    ] as const) {
      const xs: number[] = [];
      for (let i = 0; i < n * 5; i++) {
        const t = performance.now();
        await c.call("dispatcher.list");
        xs.push(performance.now() - t);
      }
      console.log(`dispatcher.list via ${name} (n=${n * 5}): ${fmt(xs)}`);
    }
    http.close();
  } finally {
    await f.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
