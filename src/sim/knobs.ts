/**
 * The simulation's knobs: the seed's env vars with their seed defaults, each with a matching flag;
 * flags win. Validated before anything starts (UsageError, exit 2, naming every bad value).
 */
import { UsageError } from "../core/errors.js";

export interface SimKnobs {
  callsPerPhase: number;
  /** calls per second */
  callRate: number;
  callDurationMs: number;
  longCallMs: number;
  postCutoverCalls: number;
  /** pause between phases; the seed needed 35 s because SIPp reused Call-IDs, unique ones need none */
  phaseGapSeconds: number;
  /** a call whose next expected message does not arrive within this time fails (SIPp -recv_timeout) */
  callTimeoutMs: number;
}

interface KnobSpec {
  key: keyof SimKnobs;
  env: string;
  flag: string;
  /** commander's camelCase name of the flag */
  opt: string;
  def: number;
  integer: boolean;
  /** zero allowed (only the gap: its default is 0) */
  zeroOk: boolean;
  max: number;
  help: string;
}

export const KNOBS: readonly KnobSpec[] = [
  {
    key: "callsPerPhase",
    env: "CALLS_PER_PHASE",
    flag: "--calls-per-phase",
    opt: "callsPerPhase",
    def: 10,
    integer: true,
    zeroOk: false,
    max: 1_000_000,
    help: "calls sent in each of the phases old, both, new",
  },
  {
    key: "callRate",
    env: "CALL_RATE",
    flag: "--call-rate",
    opt: "callRate",
    def: 5,
    integer: false,
    zeroOk: false,
    max: 5000,
    help: "calls per second (fractions allowed)",
  },
  {
    key: "callDurationMs",
    env: "CALL_DURATION_MS",
    flag: "--call-duration-ms",
    opt: "callDurationMs",
    def: 1200,
    integer: true,
    zeroOk: false,
    max: 3_600_000,
    help: "how long each call is held before BYE",
  },
  {
    key: "longCallMs",
    env: "LONG_CALL_MS",
    flag: "--long-call-ms",
    opt: "longCallMs",
    def: 25_000,
    integer: true,
    zeroOk: false,
    max: 3_600_000,
    help: "hold of the in-flight long call (the cutover happens while it is up)",
  },
  {
    key: "postCutoverCalls",
    env: "POST_CUTOVER_CALLS",
    flag: "--post-cutover-calls",
    opt: "postCutoverCalls",
    def: 8,
    integer: true,
    zeroOk: false,
    max: 1_000_000,
    help: "fresh calls sent after the cutover (all must reach new)",
  },
  {
    key: "phaseGapSeconds",
    env: "PHASE_GAP_SECONDS",
    flag: "--phase-gap-seconds",
    opt: "phaseGapSeconds",
    def: 0,
    integer: false,
    zeroOk: true,
    max: 3600,
    help: "pause between phases (the legacy lab used 35; unique Call-IDs make it unnecessary)",
  },
  {
    key: "callTimeoutMs",
    env: "CALL_TIMEOUT_MS",
    flag: "--call-timeout-ms",
    opt: "callTimeoutMs",
    def: 5000,
    integer: true,
    zeroOk: false,
    max: 600_000,
    help: "a call fails when its next answer takes longer (SIPp -recv_timeout)",
  },
];

export const defaultKnobs: SimKnobs = Object.fromEntries(KNOBS.map((k) => [k.key, k.def])) as unknown as SimKnobs;

/**
 * defaults < env < flags. `flags` holds raw strings by commander name (undefined = not given).
 * Every problem is reported at once.
 */
export function resolveKnobs(env: NodeJS.ProcessEnv, flags: Record<string, unknown>): SimKnobs {
  const out = { ...defaultKnobs };
  const problems: string[] = [];
  for (const k of KNOBS) {
    const f = flags[k.opt];
    const fromFlag = typeof f === "string" || typeof f === "number" ? String(f) : undefined;
    const fromEnv = env[k.env];
    const [source, raw] =
      fromFlag !== undefined
        ? [k.flag, fromFlag]
        : fromEnv !== undefined && fromEnv !== ""
          ? [k.env, fromEnv]
          : [undefined, undefined];
    if (raw === undefined || source === undefined) continue;
    const text = raw.trim();
    const pattern = k.integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)$/;
    if (!pattern.test(text)) {
      problems.push(`${source}=${JSON.stringify(raw)}: must be ${k.integer ? "an integer" : "a number"}`);
      continue;
    }
    const v = Number(text);
    if (v < 0 || (v === 0 && !k.zeroOk)) {
      problems.push(`${source}=${JSON.stringify(raw)}: must be ${k.zeroOk ? "zero or more" : "greater than zero"}`);
      continue;
    }
    if (v > k.max) {
      problems.push(`${source}=${JSON.stringify(raw)}: must be at most ${k.max}`);
      continue;
    }
    out[k.key] = v;
  }
  if (problems.length > 0) {
    throw new UsageError(`invalid simulation knob${problems.length > 1 ? "s" : ""}; nothing was started`, problems);
  }
  const floor = floorMs(out);
  if (floor > MAX_RUN_MS) {
    throw new UsageError(
      `the knobs ask for a run of at least ${formatDuration(floor)} (${Object.entries(knobsByEnvName(out))
        .map(([n, v]) => `${n}=${v}`)
        .join(" ")}); ` + `the limit is 24 h; nothing was started`,
      ["raise CALL_RATE or lower CALLS_PER_PHASE, the holds or the gap"],
    );
  }
  return out;
}

/** A run whose floor (the call time alone) exceeds this is refused: nobody waits a day for a rehearsal. */
export const MAX_RUN_MS = 24 * 3600 * 1000;

/** 90 s, 12.5 min, 30.0 h, 34.7 days, 31.7 years, 1268 years. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 48 * 3600) return `${(s / 3600).toFixed(1)} h`;
  if (s < 2 * 365.25 * 86400) return `${(s / 86400).toFixed(1)} days`;
  const years = s / (365.25 * 86400);
  return `${years < 100 ? years.toFixed(1) : Math.round(years)} years`;
}

/**
 * The floor the knobs impose (the call time itself, no overhead), counted as the seed's figures
 * are: a burst of n calls at rate r sends call k at k/r seconds (SIPp's rate schedule), so it
 * lasts n/r + hold. The phases are three bursts; the in-flight check holds a precheck call and
 * then the long call, with the post-cutover calls inside the long call's time unless they outlast
 * it. At the seed's defaults: 3 x 3.2 s + 1.4 s + 25.2 s = 36.2 s (the seed adds 3 x 35 s of gaps).
 */
export function floorMs(k: SimKnobs): number {
  const burst = (n: number, hold: number): number => (n / k.callRate) * 1000 + hold;
  const phases = 3 * burst(k.callsPerPhase, k.callDurationMs);
  const gaps = 3 * k.phaseGapSeconds * 1000;
  const inflight =
    burst(1, k.callDurationMs) +
    Math.max(burst(1, k.longCallMs), burst(1, 0) + burst(k.postCutoverCalls, k.callDurationMs));
  return phases + gaps + inflight;
}

/** The knobs as the seed's env var names (run-started event, results.json). */
export function knobsByEnvName(k: SimKnobs): Record<string, number> {
  return Object.fromEntries(KNOBS.map((s) => [s.env, k[s.key]]));
}
