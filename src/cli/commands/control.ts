/**
 * `pbx-cutover status | pause | resume | promote | abort`: talk to the plan a `migrate` is running
 * (the default plan too) from another terminal over its control socket (src/control/). Exit 0 when the run did it
 * (or it was already so), 2 when the run refused it (nothing changed; the reason is printed), 3 when
 * no plan runs, the socket is stale or the run does not answer.
 */
import type { Command } from "commander";
import { sendControl, locateRun } from "../../control/control-client.js";
import type { ControlCommand } from "../../control/protocol.js";
import { formatStatusText } from "../../control/run-status.js";
import { driverFor } from "../../drivers/select.js";
import { addDriverOptions, targetChoiceFrom, type TargetFlags } from "../target-options.js";
import { UsageError } from "../../core/errors.js";
import { addLabOptions } from "../lab-options.js";

type ControlOpts = TargetFlags & { runDir?: string; json?: boolean };

const DESCRIPTIONS: Record<ControlCommand, string> = {
  status:
    "the status of the plan `migrate` is running on this lab (--lab-dir, or --run-dir): step n/N, its weights and " +
    "the runtime read back, hold left, gates with their numbers, last good step, paused or not, the drain",
  pause: "pause the running plan: it stays on its step (a hold's clock stops) and applies no further step until resume",
  resume:
    "resume a paused plan: a hold goes on with the time it had left; a step the plan paused is held and judged again",
  promote: "skip the rest of the current step's hold (its gates are still judged); passes a step the plan paused",
  abort: "abort the running plan: it goes back to the last good step (verified) and migrate exits 1",
};

const SUMMARIES: Record<ControlCommand, string> = {
  status: "the running migrate's step, weights, hold, gates and drain",
  pause: "keep the running migrate on its step until resume",
  resume: "go on with a paused migrate",
  promote: "end the current step's hold now (its gates are still judged)",
  abort: "send the running migrate back to its last good step (exit 1)",
};

function register(program: Command, command: ControlCommand): void {
  const cmd = program
    .command(command)
    .summary(SUMMARIES[command])
    .description(DESCRIPTIONS[command])
    .option("--run-dir <dir>", "the run folder of the plan (default: the plan running on --lab-dir's lab)");
  if (command === "status") cmd.option("--json", "machine-readable status");
  addDriverOptions(addLabOptions(cmd)).action(async (opts: ControlOpts) => {
    const loc = locateRun({ runDir: opts.runDir, pointerDir: driverFor(targetChoiceFrom(opts)).lockDir });
    const r = await sendControl(loc, command);
    if (command === "status" && opts.json) {
      process.stdout.write(JSON.stringify(r.ok ? r.status : r, null, 2) + "\n");
    } else if (r.ok) {
      if (command !== "status") process.stdout.write(`${command}: ${r.detail}\n`);
      process.stdout.write(formatStatusText(r.status) + "\n");
    }
    if (!r.ok) throw new UsageError(`${command} refused by the running plan: ${r.error}`);
  });
}

export const registerStatusCommand = (p: Command): void => register(p, "status");
export const registerPauseCommand = (p: Command): void => register(p, "pause");
export const registerResumeCommand = (p: Command): void => register(p, "resume");
export const registerPromoteCommand = (p: Command): void => register(p, "promote");
export const registerAbortCommand = (p: Command): void => register(p, "abort");
