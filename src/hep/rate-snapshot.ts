/**
 * `lab status --rates`: a short look at the lab's live per-backend rates. The collector binds the
 * lab's HEP port (where Kamailio mirrors), counts one window (src/hep/rate-counter.ts) and closes. Only one
 * process can bind that port: when a sim or dashboard holds it, the answer says who does (their own
 * dashboard and --web page show the rates) instead of a bind error.
 */
import { readFileSync } from "node:fs";
import { CutoverError, UsageError } from "../core/errors.js";
import { findPortOwner, type PortOwner } from "../os/ports.js";
import { startHepCollector } from "./collector.js";
import type { HepView } from "./evidence-source.js";
import { RateCounter, type RateWindow } from "./rate-counter.js";

export const DEFAULT_RATE_WINDOW_MS = 2000;

export type RateSample =
  | { kind: "sampled"; window: RateWindow; datagrams: number; kernelDrops: number | undefined }
  | { kind: "port-held"; address: string; port: number; owner: PortOwner | undefined; command: string | undefined }
  | { kind: "not-sampled"; reason: string };

/** --rates [window]: "2s", "500ms", "1.5" (seconds); 0.1 s to 60 s; `true` (the flag alone) = the default. */
export function parseRateWindow(raw: string | boolean | undefined): number | undefined {
  if (raw === undefined || raw === false) return undefined;
  if (raw === true) return DEFAULT_RATE_WINDOW_MS;
  const m = /^(\d*\.?\d+)\s*(ms|s)?$/.exec(raw.trim());
  const ms = m ? Number(m[1]) * (m[2] === "ms" ? 1 : 1000) : NaN;
  if (!Number.isFinite(ms) || ms < 100 || ms > 60_000) {
    throw new UsageError(
      `--rates ${JSON.stringify(raw)}: give a sampling window from 100ms to 60s, e.g. --rates 2s or --rates 500ms; nothing was sampled`,
    );
  }
  return Math.round(ms);
}

/** the command line of a process, for "held by" (undefined when it cannot be read) */
function commandOf(pid: number): string | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const line = argv.join(" ");
    return line.length > 120 ? `${line.slice(0, 119)}~` : line;
  } catch {
    return undefined;
  }
}

export interface SampleOptions {
  address: string;
  port: number;
  view: HepView;
  windowMs: number;
  signal?: AbortSignal;
}

/** Bind, count one window, close. Never throws for a taken port or a bind error: the result says. */
export async function sampleRates(o: SampleOptions): Promise<RateSample> {
  const counter = new RateCounter(o.view, Date.now());
  let collector;
  try {
    collector = await startHepCollector({ address: o.address, port: o.port, onPacket: (p) => counter.add(p) });
  } catch (err) {
    if (!(err instanceof CutoverError)) throw err;
    const owner = findPortOwner("udp", o.address, o.port);
    if (owner || /in use/.test(err.message))
      return {
        kind: "port-held",
        address: o.address,
        port: o.port,
        owner,
        command: owner ? commandOf(owner.pid) : undefined,
      };
    return { kind: "not-sampled", reason: err.message };
  }
  const started = Date.now();
  try {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.windowMs);
      o.signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    // what arrived inside the window and is still in the socket's queue is part of it
    await collector.settle(20, 200);
    const window = counter.take(Math.max(Date.now(), started + 1));
    const s = collector.stats();
    return { kind: "sampled", window, datagrams: s.datagrams, kernelDrops: s.kernelDrops };
  } finally {
    await collector.close();
  }
}

/** The lines `lab status` prints for a sample. */
export function formatRateSample(r: RateSample): string[] {
  if (r.kind === "not-sampled") return [`rates: not sampled: ${r.reason}`];
  if (r.kind === "port-held") {
    const who = r.owner ? `pid ${r.owner.pid} (${r.command ?? r.owner.comm})` : "another process";
    return [
      `rates: not sampled: the lab's HEP port ${r.address}:${r.port}/udp is held by ${who}. Only one process can receive Kamailio's mirror;` +
        ` a sim or dashboard running now shows these rates itself (its dashboard, its --web page).`,
    ];
  }
  const w = r.window;
  const s = w.windowMs / 1000;
  const rate = (n: number): string => (n / s).toFixed(1);
  const lines = [
    `rates from Kamailio's HEP mirror over ${s.toFixed(1)} s (${r.datagrams} mirrored messages${r.kernelDrops ? `, ${r.kernelDrops} dropped by the kernel` : ""}):`,
  ];
  for (const b of ["old", "new"] as const) {
    const c = w.backends[b];
    lines.push(
      `  ${b}: ${rate(c.routed)} new calls/s (INVITEs routed); answers/s 1xx ${rate(c.answers["1xx"])}, 2xx ${rate(c.answers["2xx"])}, 3xx-6xx ${rate(c.answers["3xx-6xx"])}`,
    );
  }
  return lines;
}
