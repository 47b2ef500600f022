import type { Command } from "commander";
import path from "node:path";
import { runMigrate } from "../../cutover/migrate.js";
import { labControlFor } from "../../lab/lab-control.js";
import { defaultPlan } from "../../plan/plan.js";
import { planFrom, printDryRun, targetAlgorithm } from "./plan.js";
import { labSettingsFrom } from "../lab-options.js";
import { withScope } from "../scope.js";
import { UsageError } from "../errors.js";
import { assetPath } from "../../assets.js";
import { parseTrafficRate } from "../../cutover/background-traffic.js";
import { driverFrom } from "../../lab/driver.js";
import { requireBinaries } from "../../lab/binaries.js";
import { addDispatcherOptions, dispatcherTarget, reloadWaitMs, type DispatcherCommandOpts } from "../target-options.js";

type MigrateOpts = DispatcherCommandOpts & { artifactsDir?: string; keepLab?: boolean; steps?: string; plan?: string; dryRun?: boolean; traffic?: string };

export function registerMigrateCommand(program: Command): void {
  addDispatcherOptions(
    program
      .command("migrate")
      .description(
        "staged dispatcher cutover old -> both -> new with evidence (the seed's run_real_migration_smoke.sh): " +
          "ensure the lab is up, probe both backends, apply each profile with verification, check the final state is new only",
      )
      .option("--artifacts-dir <dir>", "where run-YYYYmmdd_HHMMSS/ folders and the `latest` link go", "artifacts")
      .option("--keep-lab", "leave the lab running at the end if this run started it (a lab that was already up is always left up)")
      .option("--steps <weights>", "run weighted steps: the new backend's weight per step, e.g. 0,10,50,100 (weights other than 0/50/100 need --dispatcher-alg 9)")
      .option("--plan <file>", "run a YAML plan file (steps, holds by durationS; see README)")
      .option(
        "--traffic <rate>",
        "lab only: background calls at RATE calls/s through Kamailio for the whole plan, judged from HEP; each step holds until its gates and split can decide, a failed gate rolls back by itself",
      )
      .option("--dry-run", "print the plan (default: old -> both -> new), every list it would write and every RPC; change nothing"),
  ).action(async (opts: MigrateOpts) => {
    // validate everything first (exit 2 before anything starts)
    const planned = opts.steps !== undefined || opts.plan !== undefined ? planFrom(opts) : undefined;
    const rate = opts.traffic === undefined ? undefined : parseTrafficRate(opts.traffic);
    if (rate !== undefined && driverFrom(opts) !== "native") {
      throw new UsageError(`--traffic places calls through the native lab's Kamailio only, not on --driver ${driverFrom(opts)}; nothing was started`, [
        "drop --traffic (real traffic is judged by the plan's holds), or run on the native lab",
      ]);
    }
    if (opts.dryRun) {
      await printDryRun(opts, planned ?? defaultPlan(), false);
      return;
    }
    const plan = planned === undefined ? undefined : { plan: planned, algorithm: targetAlgorithm(opts) };
    const settings = labSettingsFrom(opts);
    const waitMs = reloadWaitMs(settings, opts.reloadWaitMs);
    const traffic =
      rate === undefined
        ? undefined
        : { rate, sippBin: requireBinaries(["sipp"]).sipp, scenario: assetPath("sipp", "uac-call.xml"), hep: { address: settings.hep.address, port: settings.hep.port } };
    const lab = labControlFor(opts);
    const target = await dispatcherTarget(opts);
    const log = (line: string): void => {
      process.stdout.write(`migrate: ${line}\n`);
    };
    try {
      const r = await withScope((scope) =>
        runMigrate(
          lab,
          target,
          { artifactsDir: path.resolve(opts.artifactsDir ?? "artifacts"), keepLab: opts.keepLab === true, reloadWaitMs: waitMs, log, plan, traffic },
          scope,
        ),
      );
      const last = r.phases.at(-1)?.mode ?? "new";
      log(`PASS: ${plan === undefined || last === "new" ? "cutover complete, new only in file and runtime" : `plan complete, ${last} in file and runtime`}; evidence in ${path.relative(process.cwd(), r.runDir) || r.runDir}`);
    } finally {
      target.close();
    }
  });
}
