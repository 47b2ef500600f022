/**
 * SIP health gates (pure): a gate is a verdict on one step window's metrics (metrics.ts).
 *
 *   threshold  one backend's metric against a number:   { kind: threshold, metric: ser, atLeast: 98 }
 *                                                      { kind: threshold, metric: srd_p95, atMost: 800 }
 *   relative   new against old in the same window:     { kind: relative, metric: ser, maxWorseBy: 2 }
 *              ("SER of new not worse than old's by more than 2 points"; ISA in points, delays in ms)
 *
 *   media      one_way_calls: calls whose audio failed media-both-ways ({ kind: threshold, metric:
 *              one_way_calls, atMost: 0 }); rtp_loss: percent of the packets expected that did not arrive
 *              ({ kind: relative, metric: rtp_loss, maxWorseBy: 1 }); both over the calls whose audio was
 *              judged (a call counts once its capture was read, after its BYE)
 *
 * SER is higher-is-better (threshold with atLeast); ISA, SRD, SDD and the media metrics are lower-is-better (atMost).
 * A backend with fewer samples than the gate's minCalls makes the gate `inconclusive`, never
 * `pass`, unless it is a threshold on SER or ISA that already fails whatever the calls still needed do
 * (`certainFail`): then it fails at once. A gate that reads a backend the step sends no calls to (new
 * at weight 0, old at 100; a relative gate at either end) is `not-applicable` and does not count.
 */
import { z } from "zod";
import type { GateRow } from "../events/run-events.js";
import type { BackendMetrics } from "./metrics.js";
import type { BackendRole } from "../core/backend-role.js";

export const GATE_METRICS = [
  "ser",
  "isa",
  "srd_p50",
  "srd_p95",
  "sdd_p50",
  "sdd_p95",
  "one_way_calls",
  "rtp_loss",
] as const;
/** the metrics read from the calls' audio: a plan with one of them needs calls that carry media */
export const MEDIA_GATE_METRICS: readonly GateMetric[] = ["one_way_calls", "rtp_loss"];
export type GateMetric = (typeof GATE_METRICS)[number];

const HIGHER_IS_BETTER: Record<GateMetric, boolean> = {
  ser: true,
  isa: false,
  srd_p50: false,
  srd_p95: false,
  sdd_p50: false,
  sdd_p95: false,
  one_way_calls: false,
  rtp_loss: false,
};
const UNIT: Record<GateMetric, string> = {
  ser: "%",
  isa: "%",
  srd_p50: " ms",
  srd_p95: " ms",
  sdd_p50: " ms",
  sdd_p95: " ms",
  one_way_calls: "",
  rtp_loss: "%",
};
const DIFF_UNIT: Record<GateMetric, string> = {
  ser: " points",
  isa: " points",
  srd_p50: " ms",
  srd_p95: " ms",
  sdd_p50: " ms",
  sdd_p95: " ms",
  one_way_calls: " calls",
  rtp_loss: " points",
};
const LABEL: Record<GateMetric, string> = {
  ser: "SER",
  isa: "ISA",
  srd_p50: "SRD p50",
  srd_p95: "SRD p95",
  sdd_p50: "SDD p50",
  sdd_p95: "SDD p95",
  one_way_calls: "one-way calls",
  rtp_loss: "RTP loss",
};
const PERCENT: ReadonlySet<GateMetric> = new Set<GateMetric>(["ser", "isa", "rtp_loss"]);

/** Calls a backend needs in the window before a gate decides, unless the gate says otherwise. */
export const DEFAULT_MIN_CALLS = 20;
/**
 * The calls a step's window needs for its gates to decide on both backends (DEFAULT_MIN_CALLS each at
 * the weight's share) and at least 100 (a whole algorithm-9 cycle for the split check): new=10% needs
 * 200, new=1% 2000, old/new/both 100. What `migrate --traffic` holds a step without a hold for, and the
 * burst `sim` places for a gated step without hold.minCalls.
 */
export function stepMinCalls(weightNew: number): number {
  const share = Math.min(weightNew, 100 - weightNew);
  return share <= 0 ? 100 : Math.max(100, Math.ceil((100 * DEFAULT_MIN_CALLS) / share));
}

/** Float noise allowance when comparing percentages and differences. */
const EPSILON = 1e-9;

const metric = z.enum(GATE_METRICS);
const minCalls = z.number().int().min(1).max(1_000_000);

export const ThresholdGateSchema = z
  .object({
    kind: z.literal("threshold"),
    metric,
    backend: z.enum(["old", "new"]).default("new"),
    atLeast: z.number().min(0).optional(),
    atMost: z.number().min(0).optional(),
    minCalls: minCalls.optional(),
  })
  .strict()
  .superRefine((g, ctx) => {
    const higher = HIGHER_IS_BETTER[g.metric];
    if (higher && (g.atLeast === undefined || g.atMost !== undefined)) {
      ctx.addIssue({ code: "custom", message: `${g.metric} is higher-is-better: give atLeast (and no atMost)` });
    }
    if (!higher && (g.atMost === undefined || g.atLeast !== undefined)) {
      ctx.addIssue({ code: "custom", message: `${g.metric} is lower-is-better: give atMost (and no atLeast)` });
    }
    if (PERCENT.has(g.metric) && ((g.atLeast ?? 0) > 100 || (g.atMost ?? 0) > 100)) {
      ctx.addIssue({ code: "custom", message: `${g.metric} is a percentage: the limit must be 0-100` });
    }
  });

export const RelativeGateSchema = z
  .object({
    kind: z.literal("relative"),
    metric,
    /** how much worse new may be than old: points for ser/isa, ms for delays */
    maxWorseBy: z.number().min(0),
    minCalls: minCalls.optional(),
  })
  .strict();

export const GateSpecSchema = z.discriminatedUnion("kind", [ThresholdGateSchema, RelativeGateSchema]);
export type GateSpec = z.infer<typeof GateSpecSchema>;
export type ThresholdGate = z.infer<typeof ThresholdGateSchema>;
export type RelativeGate = z.infer<typeof RelativeGateSchema>;

export type GateVerdict = "pass" | "fail" | "inconclusive" | "not-applicable";

export interface GateResult {
  gate: GateSpec;
  /** e.g. "SER of new >= 98%" or "SER of new not worse than old by more than 2 points" */
  name: string;
  verdict: GateVerdict;
  /** the metric per backend the gate read (undefined: no samples) */
  values: Partial<Record<BackendRole, number | undefined>>;
  /** samples per backend the gate read */
  samples: Partial<Record<BackendRole, number>>;
  /** the numbers, in words: "new 96.0% (48 of 50) < 98%" */
  detail: string;
  /** a fail decided before the minimum sample: the calls still to come could not change it */
  certainBefore?: { samples: number; needed: number };
}

export interface StepGateVerdict {
  verdict: "pass" | "fail" | "inconclusive";
  results: GateResult[];
  /** one line: which gates failed or could not decide, or "3 gates passed" */
  summary: string;
}

/** The metric's value and its sample count for one backend. */
export function metricValue(m: BackendMetrics, metric: GateMetric): { value: number | undefined; samples: number } {
  switch (metric) {
    case "ser":
      return { value: m.ser.percent, samples: m.ser.denominator };
    case "isa":
      return { value: m.isa.percent, samples: m.isa.denominator };
    case "srd_p50":
      return { value: m.srd.p50Ms, samples: m.srd.samples };
    case "srd_p95":
      return { value: m.srd.p95Ms, samples: m.srd.samples };
    case "sdd_p50":
      return { value: m.sdd.p50Ms, samples: m.sdd.samples };
    case "sdd_p95":
      return { value: m.sdd.p95Ms, samples: m.sdd.samples };
    case "one_way_calls":
      return { value: m.media.judged === 0 ? undefined : m.media.oneWay, samples: m.media.judged };
    case "rtp_loss":
      return { value: m.media.lossPercent, samples: m.media.judged };
  }
}

const fmt = (metric: GateMetric, v: number | undefined): string =>
  v === undefined ? "n/a" : `${Number.isInteger(v) ? v : v.toFixed(PERCENT.has(metric) ? 2 : 1)}${UNIT[metric]}`;

function sampleText(m: BackendMetrics, metric: GateMetric): string {
  if (metric === "ser") return ` (${m.ser.numerator} of ${m.ser.denominator})`;
  if (metric === "isa") return ` (${m.isa.numerator} of ${m.isa.denominator})`;
  if (metric === "one_way_calls") return ` (of ${m.media.judged} calls with audio judged)`;
  if (metric === "rtp_loss") return ` (${m.media.lost} of ${m.media.expected} packets)`;
  return ` (${metricValue(m, metric).samples} samples)`;
}

export function gateName(g: GateSpec): string {
  if (g.kind === "threshold") {
    return HIGHER_IS_BETTER[g.metric]
      ? `${LABEL[g.metric]} of ${g.backend} >= ${g.atLeast}${UNIT[g.metric]}`
      : `${LABEL[g.metric]} of ${g.backend} <= ${g.atMost}${UNIT[g.metric]}`;
  }
  return `${LABEL[g.metric]} of new not worse than old by more than ${g.maxWorseBy}${DIFF_UNIT[g.metric]}`;
}

/** Which backends a step at this weight sends calls to. */
function receives(weightNew: number): Record<BackendRole, boolean> {
  return { old: weightNew < 100, new: weightNew > 0 };
}

export function evaluateGate(g: GateSpec, metrics: Record<BackendRole, BackendMetrics>, weightNew: number): GateResult {
  const name = gateName(g);
  const need = g.minCalls ?? DEFAULT_MIN_CALLS;
  const backends: BackendRole[] = g.kind === "threshold" ? [g.backend] : ["old", "new"];
  const values: GateResult["values"] = {};
  const samples: GateResult["samples"] = {};
  for (const b of backends) {
    const v = metricValue(metrics[b], g.metric);
    values[b] = v.value;
    samples[b] = v.samples;
  }
  const base = { gate: g, name, values, samples };
  const idle = backends.filter((b) => !receives(weightNew)[b]);
  if (idle.length > 0) {
    return {
      ...base,
      verdict: "not-applicable",
      detail: `${idle.join(" and ")} gets no new calls at new=${weightNew}%`,
    };
  }
  const short = backends.filter((b) => (samples[b] ?? 0) < need || values[b] === undefined);
  if (short.length > 0) {
    if (g.kind === "threshold") {
      const certain = certainFail(g, metrics[g.backend], need);
      if (certain !== undefined)
        return {
          ...base,
          verdict: "fail",
          detail: certain,
          certainBefore: { samples: samples[g.backend] ?? 0, needed: need },
        };
    }
    return {
      ...base,
      verdict: "inconclusive",
      detail: short.map((b) => `${b}: ${samples[b] ?? 0} of the ${need} calls needed`).join("; "),
    };
  }
  const higher = HIGHER_IS_BETTER[g.metric];
  if (g.kind === "threshold") {
    const v = values[g.backend]!;
    const ok = higher ? v >= g.atLeast! - EPSILON : v <= g.atMost! + EPSILON;
    const limit = higher ? g.atLeast! : g.atMost!;
    const rel = ok ? (higher ? ">=" : "<=") : higher ? "<" : ">";
    return {
      ...base,
      verdict: ok ? "pass" : "fail",
      detail: `${g.backend} ${fmt(g.metric, v)}${sampleText(metrics[g.backend], g.metric)} ${rel} ${fmt(g.metric, limit)}`,
    };
  }
  const o = values.old!;
  const n = values.new!;
  // how much worse new is than old (negative: better)
  const worseBy = higher ? o - n : n - o;
  const ok = worseBy <= g.maxWorseBy + EPSILON;
  const round = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));
  const diff =
    worseBy > 0
      ? `worse by ${round(worseBy)}${DIFF_UNIT[g.metric]}`
      : worseBy < 0
        ? `better by ${round(-worseBy)}${DIFF_UNIT[g.metric]}`
        : "equal";
  return {
    ...base,
    verdict: ok ? "pass" : "fail",
    detail:
      `new ${fmt(g.metric, n)}${sampleText(metrics.new, g.metric)} vs old ${fmt(g.metric, o)}${sampleText(metrics.old, g.metric)}: ` +
      `${diff} (${ok ? "allowed" : "more than"} ${g.maxWorseBy}${DIFF_UNIT[g.metric]})`,
  };
}

/**
 * A threshold on a ratio (SER, ISA) or a count (one-way calls) that fails on its first `need` samples whatever the rest of them
 * are: even if every call still to come up to `need` succeeds, the ratio at `need` misses the limit.
 * That is the verdict the gate gives at its minimum sample, known early; undefined when the calls
 * to come can still decide it (delays and relative gates always wait: a percentile or old's value
 * can still move).
 */
function certainFail(g: ThresholdGate, m: BackendMetrics, need: number): string | undefined {
  if (g.metric === "ser") {
    const { numerator: a, denominator: d } = m.ser;
    const best = (100 * (a + need - d)) / need;
    if (best >= g.atLeast! - EPSILON) return undefined;
    return `${g.backend} ${a} answered of ${d}: at most ${fmt("ser", best)} at the ${need} calls needed (${a + need - d} of ${need}) whatever the next ${need - d} do < ${fmt("ser", g.atLeast)}`;
  }
  if (g.metric === "isa") {
    const { numerator: k, denominator: d } = m.isa;
    const best = (100 * k) / need;
    if (best <= g.atMost! + EPSILON) return undefined;
    return `${g.backend} ${k} ineffective of ${d}: at least ${fmt("isa", best)} at the ${need} calls needed (${k} of ${need}) whatever the next ${need - d} do > ${fmt("isa", g.atMost)}`;
  }
  if (g.metric === "one_way_calls" && m.media.oneWay > g.atMost! + EPSILON) {
    return `${g.backend} ${m.media.oneWay} one-way of ${m.media.judged} calls with audio judged: more than ${g.atMost} whatever the next ${need - m.media.judged} do`;
  }
  return undefined;
}

/**
 * A failed gate that HEP evidence the kernel dropped cannot overturn: one_way_calls counts the calls the
 * media capture proved one-way among those HEP saw routed to the backend; lost datagrams can hide a call
 * from it, never add one. Every other gate can move either way with what was lost.
 */
export function failsDespiteLostHep(r: GateResult): boolean {
  return r.verdict === "fail" && lossProof(r.gate);
}

/** a gate whose fail lost HEP cannot overturn (see failsDespiteLostHep) */
export function lossProof(g: GateSpec): boolean {
  return g.kind === "threshold" && g.metric === "one_way_calls";
}

/** "...: the kernel dropped N HEP datagrams ..." for a verdict that stands on a gate HEP loss cannot overturn */
export function lostHepNote(lost: number): string {
  return `the kernel dropped ${lost} HEP datagram${lost === 1 ? "" : "s"} at the collector while the step held; the one-way calls stand (counted from the media capture: lost HEP can hide calls, never add one)`;
}

/** Every gate of a step on one window: fail if any fails, else inconclusive if any is, else pass. */
export function evaluateGates(
  gates: readonly GateSpec[],
  metrics: Record<BackendRole, BackendMetrics>,
  weightNew: number,
): StepGateVerdict {
  const results = gates.map((g) => evaluateGate(g, metrics, weightNew));
  const failed = results.filter((r) => r.verdict === "fail");
  const undecided = results.filter((r) => r.verdict === "inconclusive");
  const applied = results.filter((r) => r.verdict !== "not-applicable");
  const list = (rs: GateResult[]): string => rs.map((r) => `${r.name}: ${r.detail}`).join("; ");
  if (failed.length > 0) return { verdict: "fail", results, summary: `failed: ${list(failed)}` };
  if (undecided.length > 0) return { verdict: "inconclusive", results, summary: `inconclusive: ${list(undecided)}` };
  return {
    verdict: "pass",
    results,
    summary:
      applied.length === 0
        ? `no gate applies at new=${weightNew}%`
        : `${applied.length} gate${applied.length === 1 ? "" : "s"} passed`,
  };
}

/** The gates' rows for the event stream and results.json (the gate's spec left out). */
export function gateRows(results: readonly GateResult[]): GateRow[] {
  return results.map((g) => ({
    name: g.name,
    verdict: g.verdict,
    detail: g.detail,
    values: g.values,
    samples: g.samples,
  }));
}
