/**
 * A cutover plan (pure): ordered steps, each with the new backend's weight (0-100), a hold, its
 * gates and what to do when the gates cannot decide. Validated with zod like src/config; every
 * way in (the default, `--steps`, `--plan file.yaml`) ends in `planFromInput`, so all three obey
 * the same rules and give the same messages.
 *
 *   hold            the step lasts at least durationS seconds AND until minCalls calls were placed
 *                   through it (either may be absent; none = move on once applied and gated)
 *   onInconclusive  extend (hold again, at most maxExtensions times, then fail) | pause (wait for the
 *                   operator) | fail (treat as a failed gate: back to the last good step)
 */
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { issueLines } from "../core/zod-issues.js";
import { GateSpecSchema, MEDIA_GATE_METRICS, type GateSpec } from "../gates/gate.js";

export const ON_INCONCLUSIVE = ["extend", "pause", "fail"] as const;
export type OnInconclusive = (typeof ON_INCONCLUSIVE)[number];

export const HoldSchema = z
  .object({
    durationS: z
      .number()
      .positive()
      .max(7 * 86_400)
      .optional(),
    minCalls: z.number().int().min(1).max(100_000_000).optional(),
  })
  .strict();
export type Hold = z.infer<typeof HoldSchema>;

const weight = z.number().int("must be an integer from 0 to 100").min(0, "must be 0-100").max(100, "must be 0-100");
const maxExtensions = z.number().int().min(0).max(1000);

/** One step as a file or flag gives it: only weightNew is required, the rest comes from defaults. */
const StepInputSchema = z
  .object({
    weightNew: weight,
    hold: HoldSchema.optional(),
    gates: z.array(GateSpecSchema).max(50).optional(),
    onInconclusive: z.enum(ON_INCONCLUSIVE).optional(),
    maxExtensions: maxExtensions.optional(),
  })
  .strict();

const DefaultsSchema = z
  .object({
    hold: HoldSchema.optional(),
    gates: z.array(GateSpecSchema).max(50).optional(),
    onInconclusive: z.enum(ON_INCONCLUSIVE).optional(),
    maxExtensions: maxExtensions.optional(),
  })
  .strict();

/**
 * What must hold before the plan's first step changes anything: `fusionpbx-parity` = the lab's old
 * and new FusionPBX hold the same configuration (`verify --parity`); not holding = exit 1, nothing changed.
 */
export const PLAN_REQUIREMENTS = ["fusionpbx-parity"] as const;
export type PlanRequirement = (typeof PLAN_REQUIREMENTS)[number];

/** A plan file (`--plan`): `steps` is a list of weights or step objects; `defaults` fill the gaps. */
export const PlanInputSchema = z
  .object({
    requires: z.array(z.enum(PLAN_REQUIREMENTS)).max(PLAN_REQUIREMENTS.length).optional(),
    defaults: DefaultsSchema.optional(),
    steps: z
      .array(z.preprocess((v) => (typeof v === "number" ? { weightNew: v } : v), StepInputSchema))
      .min(1, "a plan needs at least one step")
      .max(101),
  })
  .strict();
export type PlanInput = z.input<typeof PlanInputSchema>;

export const PlanStepSchema = z
  .object({
    weightNew: weight,
    hold: HoldSchema,
    gates: z.array(GateSpecSchema),
    onInconclusive: z.enum(ON_INCONCLUSIVE),
    maxExtensions: maxExtensions,
  })
  .strict();
export type PlanStep = z.infer<typeof PlanStepSchema>;

export interface Plan {
  /** where it came from, for messages and the dry run: "default", "--steps 0,10,100", a file path */
  source: string;
  steps: PlanStep[];
  /** checked before the first step (none: nothing required) */
  requires?: PlanRequirement[];
}

/** Gates a `--steps` plan gets unless a plan file says otherwise (RFC 6076 metrics, new vs old). */
export const DEFAULT_STEP_GATES: readonly GateSpec[] = [
  { kind: "relative", metric: "ser", maxWorseBy: 2 },
  { kind: "threshold", metric: "isa", backend: "new", atMost: 5 },
  { kind: "relative", metric: "srd_p95", maxWorseBy: 200 },
];

/**
 * Gates every step gets when its calls carry audio (migrate --traffic with media), unless it gates
 * that metric itself: no call of new with one-way audio (media-both-ways), and new losing no more than
 * 1 point more of its packets than old.
 */
export const MEDIA_STEP_GATES: readonly GateSpec[] = [
  { kind: "threshold", metric: "one_way_calls", backend: "new", atMost: 0 },
  { kind: "relative", metric: "rtp_loss", maxWorseBy: 1 },
];

/** A step's gates and the media gates (MEDIA_STEP_GATES) on each metric it does not gate itself. */
export function withMediaStepGates(gates: readonly GateSpec[]): GateSpec[] {
  return [...gates, ...MEDIA_STEP_GATES.filter((g) => !gates.some((h) => h.metric === g.metric))];
}

/**
 * Calls without audio cannot be gated on it: a plan whose steps gate one_way_calls or rtp_loss is
 * refused (exit 2, nothing started); `how` says how to give the calls audio.
 */
export function refuseAudioGates(
  steps: readonly { gates: readonly GateSpec[] }[],
  source: string | undefined,
  how: string,
): void {
  const gated = steps.flatMap((s, i) =>
    s.gates.some((g) => MEDIA_GATE_METRICS.includes(g.metric)) ? [`step ${i + 1}`] : [],
  );
  if (gated.length > 0)
    throw new UsageError(
      `${source ?? "the plan"}: ${gated.join(", ")} gate${gated.length === 1 ? "s" : ""} on the calls' audio (one_way_calls, rtp_loss), but the calls carry none; nothing was changed`,
      [how],
    );
}

/**
 * A plan whose calls carry audio gets the media gates on every step (withMediaStepGates); a plan
 * whose calls carry none is refused when it gates on audio (refuseAudioGates).
 */
export function planWithMediaGates(plan: Plan, media: boolean, how: string): Plan {
  if (!media) {
    refuseAudioGates(plan.steps, plan.source, how);
    return plan;
  }
  return { ...plan, steps: plan.steps.map((s) => ({ ...s, gates: withMediaStepGates(s.gates) })) };
}

export const DEFAULT_STEP: Omit<PlanStep, "weightNew"> = {
  hold: {},
  gates: [...DEFAULT_STEP_GATES],
  onInconclusive: "extend",
  maxExtensions: 3,
};

/**
 * The seed's plan: old -> both -> new (weights 0, 50, 100; 50 is the round-robin `both`). No
 * metric gates: the seed's own per-phase assertions stay the verdict, as before.
 */
export function defaultPlan(): Plan {
  const step = (weightNew: number): PlanStep => ({
    weightNew,
    hold: {},
    gates: [],
    onInconclusive: "fail",
    maxExtensions: 0,
  });
  return { source: "default (old -> both -> new)", steps: [step(0), step(50), step(100)] };
}

/** Validate plan input (from a file or a flag), fill defaults, check the rules. UsageError (exit 2) naming every problem. */
export function planFromInput(raw: unknown, source: string): Plan {
  const parsed = PlanInputSchema.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(`${source}: invalid plan; nothing was changed`, issueLines(parsed.error.issues));
  }
  const d = { ...DEFAULT_STEP, ...stripUndefined(parsed.data.defaults ?? {}) };
  const steps: PlanStep[] = parsed.data.steps.map((s) => PlanStepSchema.parse({ ...d, ...stripUndefined(s) }));
  const problems = planRules(steps);
  if (problems.length > 0) throw new UsageError(`${source}: invalid plan; nothing was changed`, problems);
  const requires = [...new Set(parsed.data.requires ?? [])];
  return { source, steps, ...(requires.length > 0 ? { requires } : {}) };
}

/** Rules across steps: weights strictly increasing (a plan moves towards new; rollback is not a step). */
export function planRules(steps: readonly PlanStep[]): string[] {
  const problems: string[] = [];
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]!.weightNew <= steps[i - 1]!.weightNew) {
      problems.push(
        `steps[${i}].weightNew: ${steps[i]!.weightNew} after ${steps[i - 1]!.weightNew}; weights must increase from step to step`,
      );
    }
  }
  return problems;
}

/** The label of a step: old, both, new or new=N%. */
export function stepLabel(s: Pick<PlanStep, "weightNew">, roundRobinBoth: boolean): string {
  if (s.weightNew === 0) return "old";
  if (s.weightNew === 100) return "new";
  if (s.weightNew === 50 && roundRobinBoth) return "both";
  return `new=${s.weightNew}%`;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
