import type { Command } from "commander";
import { runSimSession } from "../../sim/session.js";
import { addSimOptions, simRequestFrom, type SimOpts } from "../sim-options.js";

export function registerSimCommand(program: Command): void {
  const cmd = program
    .command("sim")
    .summary("live calls through old, both, new and an in-flight cutover, judged call by call")
    .description(
      "live call cutover simulation (replaces the legacy lab's run_call_cutover_sim.sh): the default plan's steps " +
        "old, both, new, each a verified apply held for a burst of real calls judged call by call (the stand-ins' " +
        "logs cross-checked by Kamailio's HEP mirror; on real FreeSWITCH, HEP and its event socket), then an " +
        "in-flight cutover under a long call; exit 0 all assertions pass, 1 any fails, 2 bad input, 3 environment. " +
        "Starts the lab if it is not running and stops what it started (unless --keep-lab)",
    )
    .option("--quiet", "print only the result lines (simulation.stdout.log still has everything)");
  addSimOptions(cmd).action(async (opts: SimOpts) => {
    const { exitCode } = await runSimSession(simRequestFrom(opts));
    process.exitCode = exitCode;
  });
}
