#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { ExitCode, exitCodeMeaning } from "../core/exit-codes.js";
import { formatError, InterruptedError } from "../core/errors.js";
import { installSignalPolicy, receivedSignal } from "../core/scope.js";

// from the first moment: SIGINT -> 130, SIGTERM -> 143, the same cleanup for both (scope.ts)
installSignalPolicy((code) => process.exit(code));

type Register = (program: Command) => void;

/**
 * The commands, in help order. Each module is imported only when needed: the invoked command's
 * alone, or all of them for help and unknown commands. Startup stays small as commands grow.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  lab: async () => (await import("./commands/lab.js")).registerLabCommand,
  sim: async () => (await import("./commands/sim.js")).registerSimCommand,
  dashboard: async () => (await import("./commands/dashboard.js")).registerDashboardCommand,
  verify: async () => (await import("./commands/verify.js")).registerVerifyCommand,
  migrate: async () => (await import("./commands/migrate.js")).registerMigrateCommand,
  apply: async () => (await import("./commands/apply.js")).registerApplyCommand,
  rollback: async () => (await import("./commands/rollback.js")).registerRollbackCommand,
  plan: async () => (await import("./commands/plan.js")).registerPlanCommand,
  report: async () => (await import("./commands/report.js")).registerReportCommand,
  watch: async () => (await import("./commands/watch.js")).registerWatchCommand,
  status: async () => (await import("./commands/control.js")).registerStatusCommand,
  pause: async () => (await import("./commands/control.js")).registerPauseCommand,
  resume: async () => (await import("./commands/control.js")).registerResumeCommand,
  promote: async () => (await import("./commands/control.js")).registerPromoteCommand,
  abort: async () => (await import("./commands/control.js")).registerAbortCommand,
};

export async function buildProgram(argv: readonly string[]): Promise<Command> {
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
  const invoked = argv[2];
  const names = invoked !== undefined && Object.hasOwn(COMMANDS, invoked) ? [invoked] : Object.keys(COMMANDS);
  const registers = await Promise.all(names.map((n) => COMMANDS[n]!()));
  for (const register of registers) register(program);
  return program;
}

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
