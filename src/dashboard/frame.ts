/**
 * One dashboard frame from the state (pure). Every line fits `width` columns, so the frame never
 * wraps into garbage; narrow terminals lose the bars first. Plain frames contain no control codes
 * (and only ASCII), for log capture; the live loop adds the cursor codes for a TTY.
 */
import path from "node:path";

import { perSecond } from "../hep/rate-counter.js";
import type { DashboardState, HepRates } from "./state.js";
import type { BackendRole } from "../core/backend-role.js";

export interface FrameOptions {
  /** terminal columns (clamped to 20..200) */
  width: number;
  /** plain: ASCII bars, nothing but printable characters and newlines */
  plain: boolean;
  /** shown relative to this directory */
  cwd?: string;
  /** how many log lines a failed run's final frame shows */
  logLines?: number;
}

/** Cut a line to `width` columns (an ellipsis marks the cut). */
export function fit(line: string, width: number): string {
  if (line.length <= width) return line;
  return width <= 1 ? line.slice(0, width) : `${line.slice(0, width - 1)}~`;
}

function bar(value: number, max: number, cells: number, plain: boolean): string {
  if (cells <= 0) return "";
  const filled = max <= 0 ? 0 : Math.min(cells, Math.round((value / max) * cells));
  return plain
    ? "#".repeat(filled) + ".".repeat(cells - filled)
    : "\u2588".repeat(filled) + "\u2591".repeat(cells - filled);
}

const num = (n: number | undefined): string => (n === undefined ? "-" : String(n));

/** The lines an operator acts on after a run (or a drain): what Kamailio still holds. */
function endLines(s: DashboardState): string[] {
  const e = s.end!;
  if (!e.observed) return [`active dialogs at the end: not observed (${e.reason ?? "unknown"})`];
  const ms = e.afterMs ?? 0;
  const after = ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
  const { old, new: neu } = s.backends;
  const line = `active dialogs at the end: old ${num(old.active)}, new ${num(neu.active)} (Kamailio, asked ${after} after the run)`;
  const pbx = hasPbxChannels(s)
    ? [
        `active channels at the end: old ${num(old.channels)}, new ${num(neu.channels)} (each FreeSWITCH, show channels count)`,
      ]
    : [];
  if (e.settled) return [line, ...pbx];
  const held = (old.active ?? 0) + (neu.active ?? 0);
  const channels = (old.channels ?? 0) + (neu.channels ?? 0);
  return [
    line,
    ...pbx,
    ...(held > 0
      ? [`  Kamailio still holds ${held} dialog${held === 1 ? "" : "s"} though every call of the run has ended`]
      : []),
    ...(channels > 0
      ? [
          `  FreeSWITCH still holds ${channels} channel${channels === 1 ? "" : "s"} though every call of the run has ended`,
        ]
      : []),
  ];
}

/** the backends are PBXs that report their own channel counts (a lab of real FreeSWITCH) */
function hasPbxChannels(s: DashboardState): boolean {
  return s.pbxChannels;
}

/**
 * The rates from Kamailio's HEP mirror: per backend, new calls routed (initial INVITEs) and answers
 * to INVITE by class, per second over the last window; totals since the capture started.
 */
export function hepRateLines(h: HepRates): string[] {
  const w = h.last;
  const head = w
    ? `HEP mirror, per second over the last ${(w.windowMs / 1000).toFixed(1)} s:`
    : "HEP mirror: no whole window yet";
  const header = ["backend", "INVITE/s", "1xx/s", "2xx/s", "3xx-6xx/s", "INVITEs", "2xx", "3xx-6xx"];
  const rate = (n: number | undefined): string =>
    w === undefined || n === undefined ? "-" : perSecond(n, w.windowMs).toFixed(1);
  const rows = (["old", "new"] as BackendRole[]).map((b) => {
    const c = w?.backends[b];
    const t = h.totals[b];
    return [
      b.toUpperCase(),
      rate(c?.routed),
      rate(c?.answers["1xx"]),
      rate(c?.answers["2xx"]),
      rate(c?.answers["3xx-6xx"]),
      String(t.routed),
      String(t.answers["2xx"]),
      String(t.answers["3xx-6xx"]),
    ];
  });
  const colW = header.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(colW[i]!) : c.padStart(colW[i]!))).join("  ");
  return [head, fmt(header), ...rows.map(fmt)];
}

/** the plan runner's step, after the phase: `   step 2/3 both (new 50%)`; empty before the first */
function stepText(s: DashboardState): string {
  const st = s.step;
  if (st === undefined) return "";
  if (s.rolledBackTo !== undefined)
    return `   step ${st.index}/${st.of} ${st.label} failed; rolled back to ${s.rolledBackTo}`;
  if (st.state === "passed" && st.index === st.of) return `   plan: ${st.of}/${st.of} steps passed`;
  return `   step ${st.index}/${st.of} ${st.label} (new ${st.weightNew}%)${st.state === "applied" ? "" : ` ${st.state}`}`;
}

export function renderFrame(s: DashboardState, o: FrameOptions): string {
  const width = Math.max(20, Math.min(200, Math.floor(o.width)));
  const elapsed = ((s.now - s.startedAt) / 1000).toFixed(1);
  const lines: string[] = [];
  lines.push(`pbx-cutover dashboard   phase: ${s.phase}   status: ${s.status}${stepText(s)}`);
  lines.push(
    `dispatcher mode (Kamailio runtime): ${s.mode}   elapsed ${elapsed} s   calls/s ${s.callsPerSecond.toFixed(1)}`,
  );
  lines.push("");

  // per backend: name total [bar] +delta done failed active [channels: the PBX's own count, side by side]
  const pbx = hasPbxChannels(s);
  const header = ["backend", "total", "delta", "done", "failed", "active", ...(pbx ? ["channels"] : [])];
  const rows = (["old", "new"] as BackendRole[]).map((b) => {
    const x = s.backends[b];
    return [
      b.toUpperCase(),
      String(x.total),
      `+${x.delta}`,
      String(x.completed),
      String(x.failed),
      num(x.active),
      ...(pbx ? [num(x.channels)] : []),
    ];
  });
  const colW = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const cells = (r: string[]): string[] => r.map((c, i) => (i === 0 ? c.padEnd(colW[i]!) : c.padStart(colW[i]!)));
  const fixed = colW.reduce((a, b) => a + b, 0) + 2 * (colW.length - 1);
  // the bar sits after `total`; it takes what is left, up to 40 cells, and vanishes below 5
  const barCells = Math.min(40, width - fixed - 2);
  const showBar = barCells >= 5;
  const max = Math.max(s.backends.old.total, s.backends.new.total);
  const line = (c: string[], barText: string): string =>
    showBar ? [c[0], c[1], barText, ...c.slice(2)].join("  ") : c.join("  ");
  lines.push(line(cells(header), "".padEnd(showBar ? barCells : 0)));
  (["old", "new"] as BackendRole[]).forEach((b, i) => {
    lines.push(line(cells(rows[i]!), bar(s.backends[b].total, max, barCells, o.plain)));
  });
  if (pbx) lines.push("active = Kamailio's dialogs; channels = FreeSWITCH's own (show channels count)");
  if (s.hep) lines.push("", ...hepRateLines(s.hep));
  lines.push("");
  const v = s.verdicts;
  lines.push(`assertions: ${v.pass} pass, ${v.fail} fail${v.inconclusive ? `, ${v.inconclusive} inconclusive` : ""}`);
  for (const a of s.audio) lines.push(audioLine(a));
  const rel = o.cwd ? path.relative(o.cwd, s.runDir) || s.runDir : s.runDir;
  lines.push(`artifacts: ${rel}`);

  if (s.finished) {
    lines.push("");
    const ok = s.finished.exitCode === 0;
    lines.push(`RESULT: ${ok ? "PASS" : "FAIL"} (exit ${s.finished.exitCode})`);
    if (s.end) lines.push(...endLines(s));
    if (!ok) {
      for (const f of s.finished.failures) lines.push(`  ${f}`);
      const n = o.logLines ?? 8;
      if (s.logTail.length > 0) {
        lines.push(`last lines of simulation.stdout.log:`);
        for (const l of s.logTail.slice(-n)) lines.push(`  ${l}`);
      }
    }
  }
  return lines.map((l) => fit(l, width)).join("\n") + "\n";
}

/** "audio new: pass, 6/6 calls both ways; PBX->caller loss 0.00%, jitter p50 0.4 ms (max 2.1 ms)" */
export function audioLine(a: DashboardState["audio"][number]): string {
  const n = a.numbers;
  const judged = n["judged"] ?? 0;
  const ok = judged - (n["oneWay"] ?? 0);
  const f = (k: string, unit: string, digits: number): string => {
    const v = n[k];
    return v === undefined ? "n/a" : `${v.toFixed(digits)}${unit}`;
  };
  return (
    `audio ${a.phase}: ${a.verdict}, ${ok}/${judged} calls both ways; PBX->caller loss ${f("lossPbxToCallerPercent", "%", 2)}, ` +
    `jitter p50 ${f("jitterPbxToCallerP50Ms", " ms", 1)} (max ${f("jitterPbxToCallerMaxMs", " ms", 1)})`
  );
}
