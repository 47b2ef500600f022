/**
 * Benchmark of the web view (no lab needed: the run's event stream is generated).
 *  1. latency: from an event emitted to Chromium's page showing it (the counter's text changed), for
 *     events one at a time (idle stream) and inside a stream of 1000 calls/s. Target: under 200 ms.
 *  2. server CPU: the server process (event stream + LiveView + WebServer) generating 1000 calls/s
 *     (2000 call events/s) for a while, with 0 and with 10 event-stream viewers connected.
 * Usage: node dist/bench/web.bench.js [seconds per CPU run, default 10]
 */
import { spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { RunEvents } from "../src/events/run-events.js";
import { LiveView } from "../src/web/live-view.js";
import { WebServer } from "../src/web/server.js";
import type { BackendRole } from "../src/core/backend-role.js";

const CHROMIUM = process.env["PBX_CUTOVER_CHROMIUM"] ?? "/usr/bin/chromium";

/** A generated run: run-started, a phase, then `rate` calls/s (routed now, finished `holdMs` later). */
class Generator {
  private n = 0;
  /** calls routed to old so far: the page's old counter */
  old = 0;
  private readonly open: { id: string; backend: BackendRole; at: number }[] = [];
  constructor(
    private readonly events: RunEvents,
    runDir: string,
  ) {
    const at = Date.now();
    events.emit({ kind: "run-started", at, runDir, knobs: { CALL_RATE: 1000 } });
    events.emit({ kind: "phase", at, phase: "both" });
    events.emit({
      kind: "apply",
      at,
      label: "both",
      mode: "both",
      ok: true,
      durationMs: 9,
      runtime: ["sip:127.0.0.1:1", "sip:127.0.0.1:2"],
    });
  }
  /** one call routed now (to `to`, else alternating), and the calls older than `holdMs` finished */
  call(holdMs: number, to?: BackendRole): void {
    const at = Date.now();
    const backend = to ?? (this.n % 2 ? "new" : "old");
    if (backend === "old") this.old++;
    const id = `bench-${this.n++}`;
    this.events.emit({ kind: "call-routed", at, callId: id, phase: "both", backend });
    this.open.push({ id, backend, at });
    while (this.open.length > 0 && this.open[0]!.at + holdMs <= at) {
      const c = this.open.shift()!;
      this.events.emit({ kind: "call-finished", at, callId: c.id, phase: "both", backend: c.backend, completed: true });
    }
  }
}

async function serve(runDir: string): Promise<{ events: RunEvents; server: WebServer; live: LiveView }> {
  const server = await WebServer.start({ host: "127.0.0.1", port: 0, loopback: true });
  const events = new RunEvents();
  const live = new LiveView(server, runDir).attach(events);
  return { events, server, live };
}

const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function latency(runDir: string): Promise<void> {
  const { events, server, live } = await serve(runDir);
  const profile = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-bench-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await ctx.newPage();
    // the page notes when each value of the old counter first appeared (epoch ms, same clock as ours)
    await page.addInitScript(`
      window.__shownAt = {};
      document.addEventListener("DOMContentLoaded", () => {
        const el = document.getElementById("old-routed");
        new MutationObserver(() => { const v = el.textContent; if (!(v in window.__shownAt)) window.__shownAt[v] = Date.now(); })
          .observe(el, { childList: true, characterData: true, subtree: true });
      });`);
    await page.goto(server.url);
    const gen = new Generator(events, runDir);
    await page.waitForFunction(() => (globalThis as unknown as { __shownAt: object }).__shownAt !== undefined);
    const shownAt = (): Promise<Record<string, number>> =>
      page.evaluate(() => (globalThis as unknown as { __shownAt: Record<string, number> }).__shownAt);
    // (a) one event at a time, 150 ms apart
    const idle: number[] = [];
    for (let i = 0; i < 40; i++) {
      const at = Date.now();
      gen.call(60_000, "old");
      const want = String(gen.old);
      await page.waitForFunction(
        (v) => (globalThis as unknown as { __shownAt: Record<string, number> }).__shownAt[v] !== undefined,
        want,
        { polling: 5, timeout: 5000 },
      );
      idle.push((await shownAt())[want]! - at);
      await new Promise((r) => setTimeout(r, 150));
    }
    // (b) inside a stream of 1000 calls/s for 3 s: each old counter value's first appearance vs when its call was emitted
    const emittedAt: Record<string, number> = {};
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      const tickStart = Date.now();
      for (let i = 0; i < 10; i++) {
        gen.call(1000);
        emittedAt[String(gen.old)] ??= Date.now();
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - tickStart))));
    }
    await new Promise((r) => setTimeout(r, 500));
    const shown = await shownAt();
    const loaded = Object.entries(shown)
      .filter(([v]) => emittedAt[v] !== undefined)
      .map(([v, t]) => t - emittedAt[v]!);
    console.log(
      `event -> page (idle stream, ${idle.length} events): median ${pct(idle, 50)} ms, p95 ${pct(idle, 95)} ms, max ${Math.max(...idle)} ms`,
    );
    console.log(
      `event -> page (1000 calls/s, ${loaded.length} counter values shown): median ${pct(loaded, 50)} ms, p95 ${pct(loaded, 95)} ms, max ${Math.max(...loaded)} ms (target < 200 ms)`,
    );
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
    live.close();
    await server.close();
  }
}

/** child mode: serve, print the URL, wait for "go", generate `seconds` of 1000 calls/s, print own CPU */
async function child(seconds: number, runDir: string): Promise<void> {
  const { events, server, live } = await serve(runDir);
  process.stdout.write(JSON.stringify({ url: server.url }) + "\n");
  await new Promise<void>((r) => process.stdin.once("data", () => r()));
  process.stdin.destroy();
  const gen = new Generator(events, runDir);
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let calls = 0;
  while (Date.now() - t0 < seconds * 1000) {
    const tickStart = Date.now();
    const due = Math.floor(((Date.now() - t0) / 1000) * 1000);
    while (calls < due) {
      gen.call(1000);
      calls++;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 10 - (Date.now() - tickStart))));
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = Date.now() - t0;
  process.stdout.write(
    JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: wall, calls, viewers: server.viewerCount }) + "\n",
  );
  live.close();
  await server.close();
}

async function cpuRun(viewers: number, seconds: number, runDir: string): Promise<void> {
  const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", String(seconds), runDir], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: string[] = [];
  let buf = "";
  let onLine: () => void = () => undefined;
  proc.stdout.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      onLine();
    }
  });
  const nextLine = (): Promise<string> =>
    new Promise((r) => {
      const check = (): void => {
        if (lines.length > 0) r(lines.shift()!);
        else onLine = check;
      };
      check();
    });
  const { url } = JSON.parse(await nextLine()) as { url: string };
  const stats = { messages: 0, bytes: 0 };
  const reqs: http.ClientRequest[] = [];
  await Promise.all(
    Array.from(
      { length: viewers },
      () =>
        new Promise<void>((resolve) => {
          const req = http.get(url + "events", (res) => {
            res.on("data", (d: Buffer) => {
              stats.bytes += d.length;
              stats.messages += d.toString().split("event: view").length - 1;
            });
            resolve();
          });
          req.on("error", () => resolve());
          reqs.push(req);
        }),
    ),
  );
  proc.stdin.end("go\n");
  const r = JSON.parse(await nextLine()) as { cpuMs: number; wallMs: number; calls: number; viewers: number };
  for (const q of reqs) q.destroy();
  await new Promise((res) => proc.on("close", res));
  const rate = r.calls / (r.wallMs / 1000);
  console.log(
    `server CPU with ${String(viewers).padStart(2)} viewers at ${rate.toFixed(0)} calls/s (${(2 * rate).toFixed(0)} call events/s) for ${(r.wallMs / 1000).toFixed(1)} s: ` +
      `${((100 * r.cpuMs) / r.wallMs).toFixed(1)} % of one core` +
      (viewers > 0
        ? `; ${(stats.messages / viewers / (r.wallMs / 1000)).toFixed(1)} views/s per viewer, ${(stats.bytes / viewers / 1024 / (r.wallMs / 1000)).toFixed(0)} KiB/s per viewer`
        : ""),
  );
}

if (process.argv[2] === "--child") {
  await child(Number(process.argv[3]), process.argv[4]!);
} else {
  const seconds = Number(process.argv[2] ?? 10);
  const runDir = mkdtempSync(path.join(os.tmpdir(), "web-bench-"));
  try {
    await latency(runDir);
    await cpuRun(0, seconds, runDir);
    await cpuRun(10, seconds, runDir);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}
