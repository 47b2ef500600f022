import type { Command } from "commander";
import { LiveDashboard, plainMode, resolveIntervalMs } from "../../dashboard/live.js";
import { runSimSession } from "../../sim/session.js";
import { addSimOptions, simRequestFrom, type SimOpts } from "../sim-options.js";

type DashOpts = SimOpts & { interval?: string; clear?: boolean };

export function registerDashboardCommand(program: Command): void {
  const cmd = program
    .command("dashboard")
    .summary("`sim` with a live terminal view and live-metrics.csv")
    .description(
      "the call cutover simulation (same knobs, artifacts and exit codes as `sim`) with a live terminal view: " +
        "phase, status, Kamailio's runtime dispatcher mode, per-backend calls (total, delta, completed, failed, " +
        "active dialogs), calls/s, live rates from HEP; and live-metrics.csv in the run folder (replaces the legacy " +
        "lab's run_call_cutover_dashboard.sh)",
    )
    .option("--interval <seconds>", "refresh interval, fractions allowed (env DASH_INTERVAL_SECONDS, default 1)")
    .option(
      "--no-clear",
      "append plain frames without control codes, for log capture (env DASH_NO_CLEAR=1; also when output is not a TTY)",
    );
  addSimOptions(cmd).action(async (opts: DashOpts) => {
    // validated before anything starts (exit 2)
    const intervalMs = resolveIntervalMs(process.env, opts.interval);
    const plain = plainMode(process.env, opts.clear, process.stdout);
    const { exitCode } = await runSimSession(simRequestFrom(opts), {
      // the frames show the run; every log line is in simulation.stdout.log and in a failed run's last frame
      echo: () => undefined,
      // the dashboard observes the run's own Target: the Kamailio and backend URIs the simulation uses
      onRun: ({ runDir, events, target }) =>
        new LiveDashboard(runDir, events, {
          intervalMs,
          plain,
          screen: process.stdout,
          target,
          cwd: process.cwd(),
        }).start(),
    });
    process.exitCode = exitCode;
  });
}
