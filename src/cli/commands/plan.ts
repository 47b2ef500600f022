import type { Command } from "commander";
import type { TargetChoice } from "../../drivers/driver.js";
import { driverFor } from "../../drivers/select.js";
import { buildDryRun, dryRunNodeOf, dryRunTargetOf, renderDryRun } from "../../plan/dry-run.js";
import { defaultPlan, type Plan } from "../../plan/plan.js";
import { readPlanFile } from "../../plan/plan-file.js";
import { parseStepsFlag } from "../../plan/steps-flag.js";
import { UsageError } from "../../core/errors.js";
import { targetChoiceFrom } from "../target-options.js";
import {
  addDispatcherOptions,
  dispatcherFleet,
  dispatcherTarget,
  type DispatcherCommandOpts,
} from "../dispatcher-options.js";

type PlanOpts = DispatcherCommandOpts & { dryRun?: boolean; steps?: string; plan?: string };

/** The plan the flags ask for: --steps, --plan, or the default plan. */
export function planFrom(opts: { steps?: string | undefined; plan?: string | undefined }): Plan {
  if (opts.steps !== undefined && opts.plan !== undefined) {
    throw new UsageError("--steps and --plan both given; pass one (a plan file can list its steps)");
  }
  if (opts.steps !== undefined) return parseStepsFlag(opts.steps);
  if (opts.plan !== undefined) return readPlanFile(opts.plan);
  return defaultPlan();
}

export function registerPlanCommand(program: Command): void {
  addDispatcherOptions(
    program
      .command("plan")
      .summary("what a plan would do (--dry-run): each step's list and RPCs; changes nothing")
      .description(
        "show what a cutover plan would do on the target, changing nothing (--dry-run is required): every step, " +
          "its hold and gates, the dispatcher list it would write and every RPC it would send. " +
          "`pbx-cutover migrate --steps/--plan` runs the plan",
      )
      .option("--dry-run", "print the plan and change nothing: no file written, no RPC sent, nothing started")
      .option(
        "--steps <weights>",
        "the new backend's weight per step, e.g. 0,1,10,50,100 (default: the default plan old,both,new)",
      )
      .option("--plan <file>", "a YAML or JSON plan file (steps, holds, gates; docs/cutover.md)")
      .option("--json", "print the dry run as JSON"),
  ).action(async (opts: PlanOpts) => {
    // validate everything first (exit 2)
    const plan = planFrom(opts);
    if (!opts.dryRun) {
      throw new UsageError(
        "plan only shows a plan: pass --dry-run to see what it would do (nothing is changed); " +
          "`pbx-cutover migrate` with the same --steps or --plan runs it",
      );
    }
    await printDryRun(opts, targetChoiceFrom(opts), plan, opts.json === true);
  });
}

/** `plan --dry-run` and `migrate --dry-run`: the plan on this target, printed; nothing is changed. */
export async function printDryRun(
  opts: DispatcherCommandOpts,
  choice: TargetChoice,
  plan: Plan,
  json: boolean,
): Promise<void> {
  const algorithm = driverFor(choice).dispatcherAlgorithm;
  // a target file naming several nodes: the plan on every node (nothing is read from or sent to any)
  const fleet = await dispatcherFleet(opts, choice);
  const target = fleet ? fleet[0]!.target : await dispatcherTarget(opts, choice);
  try {
    const t = dryRunTargetOf(target, algorithm);
    const dry = buildDryRun(
      plan,
      t,
      fleet?.map((m) => dryRunNodeOf(m.name, m.target)),
    );
    process.stdout.write(json ? JSON.stringify(dry, null, 2) + "\n" : renderDryRun(dry));
  } finally {
    for (const m of fleet ?? [{ target }]) m.target.close();
  }
}
