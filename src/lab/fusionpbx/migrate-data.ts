import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import type { LabSettings } from "../../config/lab-config.js";
import { EnvironmentError } from "../../core/errors.js";
import { fusionpbxPaths } from "./config.js";
import {
  createDatabaseSql,
  dropDatabaseSql,
  FUSIONPBX_DB_ROLE,
  fusionpbxDatabase,
  resetAdminPasswordSql,
} from "./install-recipe.js";
import {
  installedState,
  readCredentials,
  readMarker,
  upgradeStep,
  writeMarker,
  type UpgradeContext,
} from "./installer.js";
import { fusionpbxCodeVersion, type FusionpbxPrograms } from "./instance.js";
import { pgConnOf, pgDumpArgv, pgRestoreArgv, psql, runTool, type PgConn } from "./pg-client.js";

/**
 * `pbx-cutover fusionpbx migrate-data`: the migration a FusionPBX operator runs from 5.3 to 5.5, on
 * the lab's two slots: dump old's database, restore it into new's (new's own database is dumped
 * first, once, to `before-migrate.dump`, and kept), run new's schema upgrade and app defaults
 * (upgrade.php --schema, --defaults), and report what they changed (tables, columns, column types,
 * row counts). `--undo` puts new's database from before the first copy back.
 */

export interface TableCount {
  table: string;
  rows: number;
}

export interface SchemaColumn {
  table: string;
  column: string;
  type: string;
}

/** Columns and row counts of the public schema (SQL, pure): one JSON line each. */
export const SCHEMA_SQL = [
  "SELECT coalesce(json_agg(json_build_object('table', table_name, 'column', column_name, 'type', data_type) ORDER BY table_name, column_name), '[]') FROM information_schema.columns WHERE table_schema = 'public';",
  "SELECT coalesce(json_agg(json_build_object('table', table_name, 'rows', " +
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM public.%I', table_name), false, true, '')))[1]::text::int) ORDER BY table_name), '[]') " +
    "FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE';",
  "",
].join("\n");

export interface SchemaSnapshot {
  columns: SchemaColumn[];
  counts: TableCount[];
}

export function parseSchemaSnapshot(out: string): SchemaSnapshot {
  const [cols, counts] = out.split("\n").filter((l) => l.trim() !== "");
  return { columns: JSON.parse(cols ?? "[]") as SchemaColumn[], counts: JSON.parse(counts ?? "[]") as TableCount[] };
}

export interface UpgradeChanges {
  tablesAdded: string[];
  tablesRemoved: string[];
  columnsAdded: string[];
  columnsRemoved: string[];
  /** "v_extensions.enabled: text -> boolean" */
  typesChanged: string[];
  rowsChanged: { table: string; before: number; after: number }[];
}

/** What the upgrade changed, from the schema before and after it (pure). */
export function upgradeChanges(before: SchemaSnapshot, after: SchemaSnapshot): UpgradeChanges {
  const tables = (s: SchemaSnapshot): Set<string> => new Set(s.columns.map((c) => c.table));
  const tb = tables(before);
  const ta = tables(after);
  const cols = (s: SchemaSnapshot): Map<string, string> =>
    new Map(s.columns.map((c) => [`${c.table}.${c.column}`, c.type]));
  const cb = cols(before);
  const ca = cols(after);
  const rb = new Map(before.counts.map((c) => [c.table, c.rows]));
  return {
    tablesAdded: [...ta].filter((t) => !tb.has(t)).sort(),
    tablesRemoved: [...tb].filter((t) => !ta.has(t)).sort(),
    columnsAdded: [...ca.keys()].filter((c) => !cb.has(c) && tb.has(c.split(".")[0]!)).sort(),
    columnsRemoved: [...cb.keys()].filter((c) => !ca.has(c) && ta.has(c.split(".")[0]!)).sort(),
    typesChanged: [...ca]
      .filter(([c, t]) => cb.has(c) && cb.get(c) !== t)
      .map(([c, t]) => `${c}: ${cb.get(c)} -> ${t}`)
      .sort(),
    rowsChanged: after.counts
      .filter((c) => (rb.get(c.table) ?? 0) !== c.rows)
      .map((c) => ({ table: c.table, before: rb.get(c.table) ?? 0, after: c.rows })),
  };
}

export interface MigrateDataResult {
  oldDatabase: string;
  newDatabase: string;
  /** old's dump restored into new */
  oldDump: string;
  /** new's database from before the first copy (undo restores it) */
  beforeDump: string;
  beforeDumpMade: boolean;
  versionBefore: string | undefined;
  versionAfter: string | undefined;
  domain: string;
  changes: UpgradeChanges;
  ms: number;
}

export function migrateFiles(labDir: string): { beforeDump: string; oldDump: string; log: string } {
  const base = fusionpbxPaths(labDir, "new").base;
  return {
    beforeDump: path.join(base, "before-migrate.dump"),
    oldDump: path.join(base, "migrated-from-old.dump"),
    log: path.join(base, "migrate.log"),
  };
}

async function snapshot(conn: PgConn, database: string): Promise<SchemaSnapshot> {
  return parseSchemaSnapshot(await psql(conn, database, "postgres", SCHEMA_SQL, { timeoutMs: 120_000 }));
}

async function recreate(conn: PgConn, database: string, dump: string, signal: AbortSignal | undefined): Promise<void> {
  await psql(conn, "postgres", "postgres", `${dropDatabaseSql(database).replace(";", " WITH (FORCE);")}`);
  await psql(conn, "postgres", "postgres", createDatabaseSql(database, FUSIONPBX_DB_ROLE));
  await runTool(pgRestoreArgv(conn, database, FUSIONPBX_DB_ROLE, dump), {
    ...(signal ? { signal } : {}),
    timeoutMs: 600_000,
  });
}

async function dumpTo(conn: PgConn, database: string, file: string, signal: AbortSignal | undefined): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await runTool(pgDumpArgv(conn, database, FUSIONPBX_DB_ROLE, tmp), {
      ...(signal ? { signal } : {}),
      timeoutMs: 600_000,
    });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** New's database now holds `domain`'s install: its marker says so and the lab's admin gets the lab's password. */
async function adoptNewDatabase(
  s: LabSettings,
  conn: PgConn,
  tree: string,
  domain: string,
  how: "migrated" | "restored",
): Promise<void> {
  const database = fusionpbxDatabase("new");
  writeMarker(s, "new", {
    tree,
    codeVersion: fusionpbxCodeVersion(tree) ?? "unknown",
    database,
    domain,
    how,
    at: new Date().toISOString(),
  });
  const creds = readCredentials(s.labDir);
  if (creds !== undefined) {
    await psql(
      conn,
      database,
      FUSIONPBX_DB_ROLE,
      resetAdminPasswordSql(creds.username, domain, randomUUID(), creds.password),
    );
  }
}

export async function migrateData(
  s: LabSettings,
  programs: FusionpbxPrograms,
  signal: AbortSignal | undefined,
  say: (line: string) => void,
): Promise<MigrateDataResult> {
  const started = performance.now();
  const conn = pgConnOf(s, programs.pgBin);
  const files = migrateFiles(s.labDir);
  const oldDb = fusionpbxDatabase("old");
  const newDb = fusionpbxDatabase("new");
  const oldState = await installedState(s, programs.pgBin, "old");
  if (!oldState.installed)
    throw new EnvironmentError(`the old FusionPBX is not installed (${oldState.reason ?? "?"}); nothing was changed`);
  const oldMarker = readMarker(s, "old");
  const domain = oldMarker?.domain ?? s.old.address;

  let beforeDumpMade = false;
  if (!existsSync(files.beforeDump)) {
    const newState = await installedState(s, programs.pgBin, "new");
    if (!newState.installed)
      throw new EnvironmentError(`the new FusionPBX is not installed (${newState.reason ?? "?"}); nothing was changed`);
    say(`new's database ${newDb} kept as ${files.beforeDump} (undo: fusionpbx migrate-data --undo)`);
    await dumpTo(conn, newDb, files.beforeDump, signal);
    beforeDumpMade = true;
  } else {
    say(`new's database from before the first copy is already kept: ${files.beforeDump}`);
  }
  say(`dumping old's database ${oldDb}`);
  await dumpTo(conn, oldDb, files.oldDump, signal);
  say(`restoring it into ${newDb}`);
  await recreate(conn, newDb, files.oldDump, signal);
  const before = await snapshot(conn, newDb);
  const versionBefore = (await installedState(s, programs.pgBin, "new", domain)).version;
  const newTree = programs.trees.new;
  const newCode = fusionpbxCodeVersion(newTree) ?? "unknown";
  const ctx: UpgradeContext = { s, role: "new", programs, signal, installLog: files.log };
  say(`FusionPBX ${newCode}'s schema upgrade (upgrade.php) on the copy`);
  await upgradeStep(ctx, newCode, "schema");
  say(`FusionPBX ${newCode}'s app defaults (upgrade.php) on the copy`);
  await upgradeStep(ctx, newCode, "defaults");
  const after = await snapshot(conn, newDb);
  await adoptNewDatabase(s, conn, newTree, domain, "migrated");
  const versionAfter = (await installedState(s, programs.pgBin, "new", domain)).version;
  return {
    oldDatabase: oldDb,
    newDatabase: newDb,
    oldDump: files.oldDump,
    beforeDump: files.beforeDump,
    beforeDumpMade,
    versionBefore,
    versionAfter,
    domain,
    changes: upgradeChanges(before, after),
    ms: performance.now() - started,
  };
}

/** Put new's database from before the first copy back (kept: undo can run again). */
export async function undoMigrateData(
  s: LabSettings,
  programs: FusionpbxPrograms,
  signal: AbortSignal | undefined,
): Promise<{ beforeDump: string; version: string | undefined; ms: number }> {
  const started = performance.now();
  const conn = pgConnOf(s, programs.pgBin);
  const files = migrateFiles(s.labDir);
  if (!existsSync(files.beforeDump)) {
    throw new EnvironmentError(
      `nothing to undo: ${files.beforeDump} does not exist (migrate-data never copied old into this lab's new); nothing was changed`,
    );
  }
  const newDb = fusionpbxDatabase("new");
  await recreate(conn, newDb, files.beforeDump, signal);
  await adoptNewDatabase(s, conn, programs.trees.new, s.new.address, "restored");
  const st = await installedState(s, programs.pgBin, "new");
  return { beforeDump: files.beforeDump, version: st.version, ms: performance.now() - started };
}
