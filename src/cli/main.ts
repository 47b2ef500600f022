#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { ExitCode, exitCodeMeaning } from "./exit-codes.js";
import { formatError } from "./errors.js";
import { registerLabCommand } from "./commands/lab.js";
import { registerSimCommand } from "./commands/sim.js";
import { registerDashboardCommand } from "./commands/dashboard.js";
import { registerVerifyCommand } from "./commands/verify.js";
import { registerApplyCommand } from "./commands/apply.js";
import { registerRollbackCommand } from "./commands/rollback.js";
import { registerMigrateCommand } from "./commands/migrate.js";

export function buildProgram(): Command {
  const program = new Command("pbx-cutover")
    .description(
      "Move live SIP traffic from an old PBX to a new one behind Kamailio, step by step, " +
        "proving each step with real calls and leaving evidence behind.",
    )
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      "\nExit codes:\n" +
        Object.entries(exitCodeMeaning)
          .map(([code, meaning]) => `  ${code.padStart(3)}  ${meaning}`)
          .join("\n"),
    );
  registerLabCommand(program);
  registerSimCommand(program);
  registerDashboardCommand(program);
  registerVerifyCommand(program);
  registerMigrateCommand(program);
  registerApplyCommand(program);
  registerRollbackCommand(program);
  return program;
}

/** Commander's own errors (unknown flag, missing argument) are usage errors: exit 2. */
function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  applyExitOverride(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help, help, --version: fine. No command at all ("commander.help") is a usage error.
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return ExitCode.Ok;
      return ExitCode.Usage;
    }
    const { exitCode, text } = formatError(err);
    process.stderr.write(text + "\n");
    return exitCode;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(formatError(err).text + "\n");
    process.exitCode = ExitCode.Internal;
  },
);
