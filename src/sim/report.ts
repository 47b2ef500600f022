/**
 * The run's machine-readable results (pure renderers): results.json and junit.xml (one test case
 * per assertion, one suite per phase) for CI systems.
 */
import type { CallsListed } from "./call-rows.js";
import type { GateRow, RunStatus } from "../events/run-events.js";
import type { HepCaptureSummary } from "../hep/capture.js";
import type { GateResult, PlanOutcome } from "../plan/runner.js";
import type { Assertion } from "../evidence/assertions.js";
import type { EvidenceInUse } from "./evidence-mode.js";
import { floorMs, knobsByEnvName, type SimKnobs } from "./knobs.js";
import type { SimPlan } from "./sim-plan.js";
import type { RunMediaPcap } from "./media-pcap.js";

/**
 * results.json's shape: 2 since each apply names its list in `label` (a step's phase, or
 * "rollback to ..."); schema 1 (no `schemaVersion`) called it `mode`.
 */
export const SIM_RESULTS_SCHEMA = 2;

export interface SimResults {
  tool: "pbx-cutover sim";
  schemaVersion: typeof SIM_RESULTS_SCHEMA;
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
  /** every verified apply: the phase it served and its list (old, both, new, or "rollback to ...") */
  applies: { phase: string; label: string; durationMs: number; runtime: string[] }[];
  bursts: {
    label: string;
    calls: number;
    rate: number;
    holdMs: number;
    sipp: string;
    durationMs: number;
    stats: unknown;
    /**
     * media on: the file with the burst's RTP (the run's media.pcap once merged), the caller's ports
     * its packets go to and from there, and how many calls' streams it counted (null: why says why not)
     */
    media?: { pcap: string; ports?: string; calls: number | null; why?: string };
  }[];
  /** media on: the run's RTP in one file (media.pcap) and the bursts' captures it was made of */
  media?: RunMediaPcap;
  verdicts: Assertion[];
  /** one line per assertion that did not pass */
  failures: string[];
  /** every call up to RESULTS_CALLS_MAX, else the calls that did not complete (callsListed says which) */
  calls: Record<string, unknown>[];
  /** how many calls the run had, per backend, and where every row is (calls.ndjson) */
  callsListed?: CallsListed;
  /** where the verdicts' evidence came from, and the HEP capture's counters */
  evidence: {
    mode: "hep" | "sipp" | "both";
    verdictsFrom: "hep" | "sipp";
    crossCheck?: string;
    /** why HEP was wanted but not used (the run went on with the stand-in logs only) */
    hepUnavailable?: string;
    /** why this mode, when the call rate chose it (HEP alone above 500 calls/s) */
    why?: string;
    hep: (HepCaptureSummary & { unansweredForwards: number; ignoredPackets: number }) | null;
    /** a lab of real FreeSWITCH: what each one's event socket reported (channel events, calls) */
    eventSocket?: Record<string, unknown>;
    /** the stand-ins' phase copies that reached their cap: what each kept and let go */
    logCopies?: LogCopyKept[];
  };
  error?: string;
}

/** A stand-in's phase copy (`<phase>.uas-<backend>.messages.log`) that reached its cap. */
export interface LogCopyKept {
  file: string;
  maxBytes: number;
  keptBytes: number;
  droppedBytes: number;
}

/** What a simulation knows at its end: simResults turns it into results.json's shape. */
export interface SimResultsInput {
  runId: string;
  runDir: string;
  /** epoch ms */
  startedAt: number;
  finishedAt: number;
  status: RunStatus;
  exitCode: number;
  knobs: SimKnobs;
  target: SimResults["target"];
  plan: SimPlan;
  /** undefined when the run ended before the plan did */
  planOutcome: PlanOutcome | undefined;
  /** each step's last verdict from the runner's evaluate (gates and split), by step index from 0 */
  stepGates: readonly (GateResult | undefined)[];
  applies: SimResults["applies"];
  bursts: SimResults["bursts"];
  verdicts: Assertion[];
  /** the error that ended the run */
  error: string | undefined;
  calls: SimResults["calls"];
  callsListed?: CallsListed;
  evidence: EvidenceInUse;
  /** the HEP capture's counters (undefined: no HEP evidence in use) */
  hep: SimResults["evidence"]["hep"] | undefined;
  /** a lab of real FreeSWITCH: their event sockets' summary */
  eventSocket: Record<string, unknown> | undefined;
  /** the phase copies of the stand-ins' logs that reached their cap */
  logCopies?: LogCopyKept[];
  /** media on: the run's media.pcap */
  media?: RunMediaPcap;
}

/** results.json of a simulation (pure). */
export function simResults(r: SimResultsInput): SimResults {
  const failures = r.verdicts.filter((a) => a.verdict !== "pass").map(failureLine);
  const rb = r.planOutcome?.rollback;
  const e = r.evidence;
  return {
    tool: "pbx-cutover sim",
    schemaVersion: SIM_RESULTS_SCHEMA,
    runId: r.runId,
    runDir: r.runDir,
    startedAt: new Date(r.startedAt).toISOString(),
    finishedAt: new Date(r.finishedAt).toISOString(),
    durationMs: r.finishedAt - r.startedAt,
    floorMs: Math.round(floorMs(r.knobs)),
    status: r.status,
    exitCode: r.exitCode,
    knobs: knobsByEnvName(r.knobs),
    target: r.target,
    plan: {
      source: r.plan.source,
      steps: r.plan.steps.map((s, i) => {
        const g = r.stepGates[i];
        return {
          index: i + 1,
          phase: s.phase,
          weightNew: s.weightNew,
          ...(s.gates.length > 0 && g !== undefined
            ? { gates: { verdict: g.verdict, detail: g.detail, gates: g.gates ?? [] } }
            : {}),
        };
      }),
      outcome: r.planOutcome?.outcome,
      ...(rb ? { rollback: { from: rb.from, to: rb.to, toLabel: rb.toLabel, ok: rb.ok, reason: rb.reason } } : {}),
    },
    applies: r.applies,
    bursts: r.bursts,
    ...(r.media ? { media: r.media } : {}),
    verdicts: r.verdicts,
    failures: r.error ? [...failures, `ERROR ${r.error}`] : failures,
    calls: r.calls,
    ...(r.callsListed ? { callsListed: r.callsListed } : {}),
    evidence: {
      mode: e.mode,
      verdictsFrom: e.mode === "hep" ? "hep" : "sipp",
      ...(e.mode === "both" ? { crossCheck: "evidence-agrees (stand-in logs vs HEP, per call)" } : {}),
      ...(r.eventSocket ? { crossCheck: "event-socket-agrees (HEP vs each FreeSWITCH's event socket, per call)" } : {}),
      ...(e.hepUnavailable !== undefined ? { hepUnavailable: e.hepUnavailable } : {}),
      ...(e.why !== undefined ? { why: e.why } : {}),
      hep: r.hep ?? null,
      ...(r.eventSocket ? { eventSocket: r.eventSocket } : {}),
      ...(r.logCopies !== undefined && r.logCopies.length > 0 ? { logCopies: r.logCopies } : {}),
    },
    ...(r.error ? { error: r.error } : {}),
  };
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
