import type { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import { backupPaths, profileFromText, readRollbackPoint, verifiedApply } from "../../apply/apply.js";
import { formatOutcome, outcomeJson } from "../apply-report.js";
import { targetChoiceFrom } from "../target-options.js";
import { withScope } from "../../core/scope.js";
import { rollbackOnFleet, TAKE_OVER_FLAG, TAKE_OVER_HELP } from "../fleet-dispatch.js";
import {
  addDispatcherOptions,
  dispatcherFleet,
  dispatcherTarget,
  reloadWaitMs,
  type DispatcherCommandOpts,
} from "../dispatcher-options.js";

/** "# pbx-cutover profile: both" in a saved list names the profile it was. */
export function labelOf(text: string): string {
  return /^#\s*pbx-cutover profile:\s*(\S+)/m.exec(text)?.[1] ?? "the saved list";
}

export function registerRollbackCommand(program: Command): void {
  addDispatcherOptions(
    program
      .command("rollback")
      .summary("put back the dispatcher list saved by the last verified apply")
      .description(
        "re-apply the previous dispatcher list (saved by the last verified apply) with the same verification; " +
          "a second rollback undoes the first",
      )
      .option(TAKE_OVER_FLAG, TAKE_OVER_HELP)
      .option("--json", "print the outcome as JSON"),
  ).action(async (opts: DispatcherCommandOpts & { takeOverStaleLock?: boolean }) => {
    const choice = targetChoiceFrom(opts);
    const waitMs = reloadWaitMs(choice.settings, opts.reloadWaitMs);
    const fleet = await dispatcherFleet(opts, choice);
    if (fleet) {
      try {
        await rollbackOnFleet(fleet, {
          json: opts.json === true,
          reloadWaitMs: waitMs,
          choice,
          takeOverStale: opts.takeOverStaleLock === true,
        });
      } finally {
        for (const m of fleet) m.target.close();
      }
      return;
    }
    const target = await dispatcherTarget(opts, choice);
    try {
      const point = readRollbackPoint(target);
      if (!point) {
        throw new UsageError(
          `nothing to roll back to: no previous dispatcher list recorded at ${backupPaths(target).previous}; nothing was changed`,
          ["a verified `pbx-cutover apply` or `migrate` records one"],
        );
      }
      const profile = profileFromText(labelOf(point.text), point.text, point.file);
      const outcome = await withScope((scope) =>
        verifiedApply(target, profile, {
          command: "pbx-cutover rollback",
          retry: { reloadWaitMs: waitMs },
          signal: scope.signal,
        }),
      );
      process.stdout.write((opts.json ? outcomeJson(outcome) : formatOutcome("rolled back to", outcome)) + "\n");
    } finally {
      target.close();
    }
  });
}
