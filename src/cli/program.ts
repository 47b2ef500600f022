import { Command } from "commander";
import { exitCodeMeaning } from "../core/exit-codes.js";

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
  fusionpbx: async () => (await import("./commands/fusionpbx.js")).registerFusionpbxCommand,
  status: async () => (await import("./commands/control.js")).registerStatusCommand,
  pause: async () => (await import("./commands/control.js")).registerPauseCommand,
  resume: async () => (await import("./commands/control.js")).registerResumeCommand,
  promote: async () => (await import("./commands/control.js")).registerPromoteCommand,
  abort: async () => (await import("./commands/control.js")).registerAbortCommand,
  target: async () => (await import("./commands/target.js")).registerTargetCommand,
};

export const PROGRAM_DESCRIPTION =
  "Move live SIP traffic from an old PBX to a new one behind Kamailio, step by step, " +
  "proving each step with real calls and leaving evidence behind.";

/** The exit-code table as `--help` prints it after the commands. */
export function exitCodesHelp(): string {
  return (
    "Exit codes:\n" +
    Object.entries(exitCodeMeaning)
      .map(([code, meaning]) => `  ${code.padStart(3)}  ${meaning}`)
      .join("\n")
  );
}

/**
 * The commander program: the invoked command alone (argv[2]), or every command when argv names none
 * of them (help, unknown commands, the generated CLI reference).
 */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command("pbx-cutover")
    .description(PROGRAM_DESCRIPTION)
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", "\n" + exitCodesHelp());
  const invoked = argv[2];
  const names = invoked !== undefined && Object.hasOwn(COMMANDS, invoked) ? [invoked] : Object.keys(COMMANDS);
  const registers = await Promise.all(names.map((n) => COMMANDS[n]!()));
  for (const register of registers) register(program);
  return program;
}
