/**
 * Benchmark: the Docker real-services lab on a real engine, whole CLI processes.
 *   images, cached: `lab up --driver docker` with every image's inputs unchanged (the hash check);
 *   images, cold (only with --cold: removes the project's images first, then builds them all);
 *   lab up --driver docker to ready (images cached; FreeSWITCH backends), and lab down;
 *   sim at the seed's defaults (10 calls per phase at 5/s held 1.2 s, a 25 s long call, 8 post-cutover
 *   calls) on the Docker lab (SIPp UAS containers) vs the native lab (SIPp stand-ins on loopback).
 * Starts dockerd when none runs (and stops it). Usage: node dist/bench/docker.bench.js [iterations] [--cold]
 */
import { execFileSync } from "node:child_process";
import os from "node:os";
import { labFixture, runCli, ROOT } from "../test/support/lab-fixture.js";
import { dockerEnv, engineRunning } from "../test/support/docker-engine.js";
import { median } from "./support/median.js";

const fmt = (xs: number[]): string =>
  `median ${(median(xs) / 1000).toFixed(1)} s (min ${(Math.min(...xs) / 1000).toFixed(1)}, max ${(Math.max(...xs) / 1000).toFixed(1)}, n=${xs.length})`;

async function timed(args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Promise<{ ms: number; stdout: string }> {
  const t = performance.now();
  const r = await runCli(args, { cwd, env, timeoutMs: 30 * 60_000 });
  const ms = performance.now() - t;
  if (r.code !== 0) throw new Error(`${args.join(" ")}: exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  return { ms, stdout: r.stdout };
}

async function main(): Promise<void> {
  const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 3);
  const cold = process.argv.includes("--cold");
  const env = await dockerEnv(!(await engineRunning()));
  const lines: string[] = [];
  if (cold) {
    // removing images needs an engine between commands: start one yourself (dockerd &) for --cold
    if (!(await engineRunning())) throw new Error("--cold needs a running Docker engine (as root: dockerd &)");
    const tags = execFileSync("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"], { encoding: "utf8" })
      .split("\n")
      .filter((t) => t.startsWith("pbx-cutover/"));
    if (tags.length > 0) execFileSync("docker", ["rmi", "-f", ...tags], { stdio: "ignore" });
    execFileSync("docker", ["image", "prune", "-f"], { stdio: "ignore" });
    const u = await timed(["lab", "up", "--driver", "docker"], env);
    lines.push(
      `lab up --driver docker with no image at all (debootstrap base + every build), CLI start to ready: ${(u.ms / 1000).toFixed(1)} s`,
    );
    for (const m of u.stdout.matchAll(/^image (\S+): built in ([\d.]+) s/gm)) lines.push(`  ${m[1]!}: ${m[2]!} s`);
    await timed(["lab", "down", "--driver", "docker"], env);
  }
  const up: number[] = [];
  const ready: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = await timed(["lab", "up", "--driver", "docker"], env);
    up.push(u.ms);
    ready.push(Number(/docker lab ready in (\d+) ms/.exec(u.stdout)?.[1]));
    const d = await timed(["lab", "down", "--driver", "docker"], env);
    down.push(d.ms);
  }
  lines.push(`lab up --driver docker (images cached: the inputs-hash check included), CLI start to ready: ${fmt(up)}`);
  lines.push(`  inside the process (engine start when needed, image checks, compose up, readiness): ${fmt(ready)}`);
  lines.push(`lab down --driver docker (compose down; dockerd stopped when lab up started it): ${fmt(down)}`);

  const seed = {
    CALLS_PER_PHASE: "10",
    CALL_RATE: "5",
    CALL_DURATION_MS: "1200",
    LONG_CALL_MS: "25000",
    POST_CUTOVER_CALLS: "8",
  };
  const simDocker: number[] = [];
  const simNative: number[] = [];
  const f = await labFixture();
  try {
    for (let i = 0; i < Math.max(1, Math.min(n, 2)); i++) {
      simDocker.push(
        (await timed(["sim", "--driver", "docker", "--quiet", "--artifacts-dir", f.dir], { ...env, ...seed })).ms,
      );
      simNative.push(
        (await timed(["sim", ...f.flags, "--quiet", "--artifacts-dir", f.dir], { ...process.env, ...seed }, f.dir)).ms,
      );
    }
  } finally {
    await f.dispose();
  }
  lines.push(
    `sim at seed defaults, docker lab (SIPp UAS containers, lab started and stopped by sim): ${fmt(simDocker)}`,
  );
  lines.push(
    `sim at seed defaults, native lab (SIPp stand-ins on loopback, started and stopped by sim): ${fmt(simNative)}`,
  );
  lines.push(
    `(load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})`,
  );
  console.log(lines.join("\n"));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
