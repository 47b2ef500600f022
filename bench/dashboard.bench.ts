/**
 * Benchmark: CPU time of one dashboard tick (fold the tick, render the frame, append the CSV row to
 * a real file) after 10 and after 10,000 calls were observed. Target: independent of the
 * number of calls, under 5 ms. Usage: node dist/bench/dashboard.bench.js [ticks]
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CSV_HEADER, csvRow } from "../src/dashboard/csv.js";
import { renderFrame } from "../src/dashboard/frame.js";
import { initialState, reduce, tick, type DashboardState } from "../src/dashboard/state.js";
import type { RunEvent } from "../src/events/run-events.js";

function observed(calls: number, t0: number): DashboardState {
  let s = initialState("/tmp/artifacts/call-cutover-bench", t0);
  for (let i = 0; i < calls; i++) {
    const backend = i % 2 ? "new" : "old";
    const e: RunEvent = { kind: "call-routed", at: t0 + i, callId: `c${i}`, phase: "both", backend };
    s = reduce(s, e);
    s = reduce(s, { kind: "call-finished", at: t0 + i, callId: `c${i}`, phase: "both", backend, completed: true });
  }
  return s;
}

function perTick(calls: number, ticks: number, dir: string): { cpuMs: number; wallMs: number } {
  const t0 = Date.now();
  let s = observed(calls, t0);
  const csv = path.join(dir, `live-metrics-${calls}.csv`);
  writeFileSync(csv, CSV_HEADER);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < ticks; i++) {
    const at = t0 + 1000 * (i + 1);
    s = tick(s, { at, mode: "both", active: { old: 3, new: 4 } });
    appendFileSync(csv, csvRow(s, at));
    renderFrame(s, { width: 100, plain: false });
  }
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000 / ticks, wallMs: (performance.now() - wall0) / ticks };
}

const ticks = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(path.join(os.tmpdir(), "dash-bench-"));
try {
  perTick(10, 200, dir); // warm up
  for (const calls of [10, 10_000]) {
    const r = perTick(calls, ticks, dir);
    console.log(
      `dashboard tick with ${String(calls).padStart(6)} calls observed: ${r.cpuMs.toFixed(3)} ms CPU, ${r.wallMs.toFixed(3)} ms wall (mean of ${ticks} ticks)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
