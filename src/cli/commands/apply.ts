import type { Command } from "commander";
import { profileFor, verifiedApply } from "../../apply/apply.js";
import { parseProfileMode } from "../../dispatcher/profile.js";
import { formatOutcome, outcomeJson } from "../apply-report.js";
import { targetChoiceFrom } from "../target-options.js";
import { withScope } from "../../core/scope.js";
import { applyOnFleet, TAKE_OVER_FLAG, TAKE_OVER_HELP } from "../fleet-dispatch.js";
import {
  addDispatcherOptions,
  dispatcherFleet,
  dispatcherTarget,
  reloadWaitMs,
  type DispatcherCommandOpts,
} from "../dispatcher-options.js";
import { EnvironmentError } from "../../core/errors.js";
import { checkDestinations, destinationName } from "../../cutover/destination-check.js";
import { probeBackend } from "../../cutover/migrate.js";

type ApplyOpts = DispatcherCommandOpts & { mode?: string; takeOverStaleLock?: boolean };

export function registerApplyCommand(program: Command): void {
  addDispatcherOptions(
    program
      .command("apply")
      .summary("one verified dispatcher change to old, both or new; restored on failure")
      .description(
        "one verified dispatcher step: back up the list, write the profile atomically, dispatcher.reload, " +
          "read the runtime back and compare; on failure restore the previous list (exit 4). " +
          "both and new only when the new backend answers SIP OPTIONS (exit 3 otherwise, nothing changed)",
      )
      .option("--mode <mode>", "profile to apply: old (old only), both (old and new), new (new only)")
      .option(TAKE_OVER_FLAG, TAKE_OVER_HELP)
      .option("--json", "print the outcome (profile, reload, runtime before/after, timings) as JSON"),
  ).action(async (opts: ApplyOpts) => {
    // everything is validated before anything is touched (exit 2)
    const mode = parseProfileMode(opts.mode);
    const choice = targetChoiceFrom(opts);
    const waitMs = reloadWaitMs(choice.settings, opts.reloadWaitMs);
    const fleet = await dispatcherFleet(opts, choice);
    if (fleet) {
      try {
        await applyOnFleet(fleet, mode, {
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
      const profile = profileFor(target, mode);
      // calls move to new only when it answers (old is where a rollback goes: never refused)
      if (mode !== "old") {
        const answers = await checkDestinations(target, 100, probeBackend);
        if (!answers.ok)
          throw new EnvironmentError(
            `${answers.down.map(destinationName).join(" and ")} does not answer; --mode ${mode} would send calls to it; nothing was changed`,
            answers.lines,
          );
      }
      const outcome = await withScope((scope) =>
        verifiedApply(target, profile, {
          command: `pbx-cutover apply --mode ${mode}`,
          retry: { reloadWaitMs: waitMs },
          signal: scope.signal,
        }),
      );
      process.stdout.write((opts.json ? outcomeJson(outcome) : formatOutcome("applied", outcome)) + "\n");
    } finally {
      target.close();
    }
  });
}
