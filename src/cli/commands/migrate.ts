import type { Command } from "commander";
import path from "node:path";
import { runMigrate } from "../../cutover/migrate.js";
import { labControlFor } from "../../lab/lab-control.js";
import { labSettingsFrom } from "../lab-options.js";
import { withScope } from "../scope.js";
import { addDispatcherOptions, dispatcherTarget, reloadWaitMs, type DispatcherCommandOpts } from "../target-options.js";

type MigrateOpts = DispatcherCommandOpts & { artifactsDir?: string; keepLab?: boolean };

export function registerMigrateCommand(program: Command): void {
  addDispatcherOptions(
    program
      .command("migrate")
      .description(
        "staged dispatcher cutover old -> both -> new with evidence (the seed's run_real_migration_smoke.sh): " +
          "ensure the lab is up, probe both backends, apply each profile with verification, check the final state is new only",
      )
      .option("--artifacts-dir <dir>", "where run-YYYYmmdd_HHMMSS/ folders and the `latest` link go", "artifacts")
      .option("--keep-lab", "leave the lab running at the end if this run started it (a lab that was already up is always left up)"),
  ).action(async (opts: MigrateOpts) => {
    const waitMs = reloadWaitMs(labSettingsFrom(opts), opts.reloadWaitMs);
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
          { artifactsDir: path.resolve(opts.artifactsDir ?? "artifacts"), keepLab: opts.keepLab === true, reloadWaitMs: waitMs, log },
          scope,
        ),
      );
      log(`PASS: cutover complete, new only in file and runtime; evidence in ${path.relative(process.cwd(), r.runDir) || r.runDir}`);
    } finally {
      target.close();
    }
  });
}
