import type { Command } from "commander";
import { withScope } from "../../core/scope.js";
import { EnvironmentError } from "../../core/errors.js";
import { requireFusionpbxPrograms } from "../../lab/fusionpbx/instance.js";
import { migrateData, undoMigrateData, type MigrateDataResult } from "../../lab/fusionpbx/migrate-data.js";
import { addLabOptions, resolveLab } from "../lab-options.js";
import type { LabFlags } from "../../config/lab-config.js";

type Opts = LabFlags & { config?: string; json?: boolean; undo?: boolean };

function list(xs: string[], max = 12): string {
  return xs.length === 0
    ? "none"
    : xs.length <= max
      ? xs.join(", ")
      : `${xs.slice(0, max).join(", ")} and ${xs.length - max} more`;
}

export function formatMigrateData(r: MigrateDataResult): string {
  const c = r.changes;
  return [
    `copied ${r.oldDatabase} (FusionPBX ${r.versionBefore ?? "?"}) into ${r.newDatabase}; after the upgrade it reports ${r.versionAfter ?? "?"}`,
    `the schema upgrade and app defaults changed:`,
    `  tables and views added (${c.tablesAdded.length}): ${list(c.tablesAdded)}`,
    `  tables and views removed (${c.tablesRemoved.length}): ${list(c.tablesRemoved)}`,
    `  columns added (${c.columnsAdded.length}): ${list(c.columnsAdded)}`,
    `  columns removed (${c.columnsRemoved.length}): ${list(c.columnsRemoved)}`,
    `  column types changed (${c.typesChanged.length}): ${list(c.typesChanged, 6)}`,
    `  row counts changed (${c.rowsChanged.length} tables): ${list(
      c.rowsChanged.map((t) => `${t.table} ${t.before} -> ${t.after}`),
      10,
    )}`,
    `new now holds old's domain ${r.domain}: log in as admin@${r.domain}`,
    `new's database before the copy: ${r.beforeDump}${r.beforeDumpMade ? " (made now)" : " (kept from the first copy)"}; ` +
      `put it back with: pbx-cutover fusionpbx migrate-data --undo`,
    `done in ${(r.ms / 1000).toFixed(1)} s`,
  ].join("\n");
}

export function registerFusionpbxCommand(program: Command): void {
  const fusionpbx = program
    .command("fusionpbx")
    .description("FusionPBX in the lab (lab up --backends freeswitch --fusionpbx): carry old's data to new");
  addLabOptions(
    fusionpbx
      .command("migrate-data")
      .description(
        "dump old's database, restore it into new's, run new's schema upgrade and app defaults, report what changed; " +
          "new's database from before the first copy is kept (--undo puts it back)",
      )
      .option("--undo", "put new's database from before the first copy back")
      .option("--json", "machine-readable output"),
  ).action(async (opts: Opts) => {
    const { settings, running } = resolveLab(opts);
    if (running === undefined || !settings.fusionpbx.enabled) {
      throw new EnvironmentError(`no lab serving FusionPBX runs in ${settings.labDir}; nothing was changed`, [
        "start one: pbx-cutover lab up --backends freeswitch --fusionpbx",
      ]);
    }
    const programs = requireFusionpbxPrograms(settings)!;
    const say = opts.json ? () => undefined : (l: string): void => void process.stdout.write(`${l}\n`);
    if (opts.undo) {
      const r = await withScope((scope) => undoMigrateData(settings, programs, scope.signal));
      if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + "\n");
      else
        process.stdout.write(
          `new's database put back from ${r.beforeDump} (FusionPBX ${r.version ?? "?"}) in ${(r.ms / 1000).toFixed(1)} s\n`,
        );
      return;
    }
    const r = await withScope((scope) => migrateData(settings, programs, scope.signal, say));
    process.stdout.write((opts.json ? JSON.stringify(r, null, 2) : formatMigrateData(r)) + "\n");
  });
}
