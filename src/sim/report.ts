/**
 * The run's machine-readable results (pure renderers): results.json and junit.xml (one test case
 * per assertion, one suite per phase) for CI systems.
 */
import type { GateRow, RunStatus } from "../events/run-events.js";
import type { HepCaptureSummary } from "../hep/capture.js";
import type { Assertion } from "../evidence/assertions.js";

export interface SimResults {
  tool: "pbx-cutover sim";
  runId: string;
  runDir: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** the knobs' floor: the call time itself */
  floorMs: number;
  status: RunStatus;
  exitCode: number;
  knobs: Record<string, number>;
  target: { proxy: string; old: string; new: string };
  /**
   * the plan the routing phases ran as (on the plan runner): its source, its steps, how it ended (undefined
   * when the run ended before it did) and the rollback the runner made, if any
   */
  plan: {
    source: string;
    /** `gates`: a step with metric gates, its last verdict (the gates on its calls, its split) */
    steps: {
      index: number;
      phase: string;
      weightNew: number;
      gates?: { verdict: string; detail: string; gates: GateRow[] };
    }[];
    outcome: "pass" | "fail" | "aborted" | undefined;
    rollback?: { from: number; to: number; toLabel: string; ok: boolean; reason: string };
  };
  applies: { phase: string; mode: string; durationMs: number; runtime: string[] }[];
  bursts: {
    label: string;
    calls: number;
    rate: number;
    holdMs: number;
    sipp: string;
    durationMs: number;
    stats: unknown;
  }[];
  verdicts: Assertion[];
  /** one line per assertion that did not pass */
  failures: string[];
  calls: Record<string, unknown>[];
  /** where the verdicts' evidence came from, and the HEP capture's counters */
  evidence: {
    mode: "hep" | "sipp" | "both";
    verdictsFrom: "hep" | "sipp";
    crossCheck?: string;
    /** why HEP was wanted but not used (the run went on with the stand-in logs only) */
    hepUnavailable?: string;
    hep: (HepCaptureSummary & { unansweredForwards: number; ignoredPackets: number }) | null;
    /** a lab of real FreeSWITCH: what each one's event socket reported (channel events, calls) */
    eventSocket?: Record<string, unknown>;
  };
  error?: string;
}

export function failureLine(a: Assertion): string {
  return `${a.verdict.toUpperCase()} ${a.phase} ${a.name}: ${a.details}`;
}

/** XML-escaped, and characters XML 1.0 does not allow (control characters) replaced by "?" */
const xml = (s: string): string =>
  [...s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")]
    .map((ch) => {
      const c = ch.codePointAt(0) ?? 0;
      return c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 0xfffe && c !== 0xffff) ? ch : "?";
    })
    .join("");

export function renderJunit(r: Pick<SimResults, "verdicts" | "durationMs" | "error">): string {
  const phases = [...new Set(r.verdicts.map((v) => v.phase))];
  const count = (list: Assertion[], v: string): number => list.filter((a) => a.verdict === v).length;
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="pbx-cutover sim" tests="${r.verdicts.length + (r.error ? 1 : 0)}" failures="${count(r.verdicts, "fail")}" errors="${count(r.verdicts, "inconclusive") + (r.error ? 1 : 0)}" time="${(r.durationMs / 1000).toFixed(3)}">`,
  ];
  for (const phase of phases) {
    const list = r.verdicts.filter((v) => v.phase === phase);
    out.push(
      `  <testsuite name="${xml(phase)}" tests="${list.length}" failures="${count(list, "fail")}" errors="${count(list, "inconclusive")}">`,
    );
    for (const a of list) {
      const body = xml([a.details, ...a.offenders].join("\n"));
      out.push(`    <testcase classname="pbx-cutover.sim.${xml(phase)}" name="${xml(a.name)}">`);
      if (a.verdict === "fail") out.push(`      <failure message="${xml(a.details)}">${body}</failure>`);
      else if (a.verdict === "inconclusive")
        out.push(`      <error message="inconclusive: ${xml(a.details)}">${body}</error>`);
      else out.push(`      <system-out>${body}</system-out>`);
      out.push(`    </testcase>`);
    }
    out.push(`  </testsuite>`);
  }
  if (r.error) {
    out.push(`  <testsuite name="run" tests="1" failures="0" errors="1">`);
    out.push(`    <testcase classname="pbx-cutover.sim.run" name="run"><error message="${xml(r.error)}"/></testcase>`);
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`);
  return out.join("\n") + "\n";
}
