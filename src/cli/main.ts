#!/usr/bin/env node
import { type Command, CommanderError } from "commander";
import { ExitCode } from "../core/exit-codes.js";
import { formatError, InterruptedError } from "../core/errors.js";
import { installSignalPolicy, receivedSignal } from "../core/scope.js";
import { buildProgram } from "./program.js";

// from the first moment: SIGINT -> 130, SIGTERM -> 143, the same cleanup for both (scope.ts)
installSignalPolicy((code) => process.exit(code));

/** Commander's own errors (unknown flag, missing argument) are usage errors: exit 2. */
function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  applyExitOverride(program);
  try {
    await program.parseAsync(argv);
    const sig = receivedSignal();
    if (sig !== undefined) {
      // the command finished what it was doing (e.g. `lab up` handed the lab over, `lab down` stopped
      // it): it still ends as interrupted, but says that what it did stands
      const { exitCode, text } = formatError(new InterruptedError(sig, true));
      process.stderr.write(text + "\n");
      return exitCode;
    }
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
