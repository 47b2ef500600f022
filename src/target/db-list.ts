/**
 * The dispatcher list as Kamailio's `dispatcher` database table (PostgreSQL, read by Kamailio's
 * db_postgres), through the system's `psql`:
 *   - read: the table's rows in id order (the order Kamailio loads them, which algorithm 9's weight
 *     cycle depends on) as list lines `setid destination flags priority [attrs]`;
 *   - write: ONE transaction (`psql --single-transaction`, ON_ERROR_STOP): every row deleted, the new
 *     list's rows inserted in order. PostgreSQL commits all of it or none: a database that goes away
 *     mid-transaction leaves the old rows, never half a list.
 * The table has no comments: the list text the store reads back has none (the verified apply
 * compares a written list with it by its entries: `entriesOnly`). The password reaches psql in its environment (PGPASSWORD),
 * never its command line; values reach SQL as literals quoted here (`sqlLiteral`), numbers as numbers.
 */
import { EnvironmentError, UsageError } from "../core/errors.js";
import { entriesOf, parseDispatcherList, renderEntry, type DispatcherEntry } from "../dispatcher/list.js";
import type { ArgvRunner } from "../kamailio/kamcmd-rpc.js";
import { runArgvWith } from "../os/run-argv.js";
import type { Secret } from "./secret.js";
import type { NodeLockFile } from "./node-lock-file.js";
import type { DispatcherListStore } from "./target.js";

export interface DbListSource {
  host: string;
  port: number;
  user: string;
  database: string;
  table: string;
  password: Secret | undefined;
  timeoutMs: number;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A string as an SQL literal (standard_conforming_strings, PostgreSQL's default since 9.1). */
export function sqlLiteral(s: string): string {
  if (CONTROL.test(s)) throw new UsageError(`refusing a control character in a dispatcher row: ${JSON.stringify(s)}`);
  return `'${s.replace(/'/g, "''")}'`;
}

/** The table's name as an SQL identifier (validated by the target file: letters, digits, '_'). */
const ident = (t: string): string => `"${t}"`;

/** The one transaction a write is (pure). */
export function replaceRowsSql(table: string, entries: readonly DispatcherEntry[]): string {
  const rows = entries.map(
    (e) =>
      `(${e.setId}, ${sqlLiteral(e.uri)}, ${e.flags}, ${e.priority}, ${sqlLiteral(e.attrs ?? "")}, ${sqlLiteral("")})`,
  );
  return [
    `DELETE FROM ${ident(table)};`,
    ...(rows.length > 0
      ? [
          `INSERT INTO ${ident(table)} (setid, destination, flags, priority, attrs, description) VALUES\n${rows.join(",\n")};`,
        ]
      : []),
    "",
  ].join("\n");
}

export const readRowsSql = (table: string): string =>
  `SELECT coalesce(json_agg(json_build_object('setid', setid, 'destination', destination, 'flags', flags, ` +
  `'priority', priority, 'attrs', attrs) ORDER BY id), '[]'::json) FROM ${ident(table)};`;

interface Row {
  setid: number;
  destination: string;
  flags: number;
  priority: number;
  attrs: string | null;
}

/** psql's output of readRowsSql as list text (pure). */
export function rowsToListText(json: string): string {
  const rows = JSON.parse(json) as Row[];
  return rows
    .map((r) =>
      renderEntry({
        setId: r.setid,
        uri: r.destination,
        flags: r.flags,
        priority: r.priority,
        attrs: r.attrs === null || r.attrs === "" ? undefined : r.attrs,
      }),
    )
    .map((l) => `${l}\n`)
    .join("");
}

/** psql's argv: no psqlrc, one connection string of validated parts, stop on the first error. */
export function psqlArgv(db: DbListSource, write: boolean): string[] {
  const conninfo = [
    `host=${db.host}`,
    `port=${db.port}`,
    `user=${db.user}`,
    `dbname=${db.database}`,
    `connect_timeout=${Math.max(1, Math.ceil(db.timeoutMs / 1000))}`,
    "application_name=pbx-cutover",
  ].join(" ");
  return [
    "psql",
    "-X",
    "-q",
    "-A",
    "-t",
    "--no-password",
    "-v",
    "ON_ERROR_STOP=1",
    ...(write ? ["--single-transaction"] : []),
    "-d",
    conninfo,
    "-f",
    "-",
  ];
}

type PsqlRunner = (env: Record<string, string>) => ArgvRunner;

/** One psql script on `db` (a write: one transaction); stdout. Failures are exit 3 naming `where` and `what`. */
function psqlExec(db: DbListSource, where: string, what: string, runner: PsqlRunner) {
  return async (sql: string, write: boolean): Promise<string> => {
    const env: Record<string, string> = { PGCONNECT_TIMEOUT: String(Math.ceil(db.timeoutMs / 1000)) };
    if (db.password) env.PGPASSWORD = db.password.reveal();
    let out: { stdout: string; stderr: string; code: number };
    try {
      out = await runner(env)(psqlArgv(db, write), db.timeoutMs + 5000, sql);
    } catch (err) {
      throw new EnvironmentError(`${where}: psql for ${what} failed: ${(err as Error).message}`);
    }
    if (out.code !== 0) {
      const why =
        out.stderr
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
          .join("; ") || `psql exit ${out.code}`;
      throw new EnvironmentError(
        `${where}: ${write ? "writing" : "reading"} ${what} failed: ${why}` +
          (write ? "; the transaction did not commit: the table holds the rows it had" : ""),
      );
    }
    return out.stdout;
  };
}

const locationOf = (db: DbListSource): string =>
  `table ${db.table} of postgres://${db.user}@${db.host}:${db.port}/${db.database}`;

/** The table `db.table` as the node's list; `where` names the node in messages. */
export function dbTableStore(
  db: DbListSource,
  where: string,
  runner: PsqlRunner = (env) => runArgvWith(env),
): DispatcherListStore & { entriesOnly: true } {
  const location = locationOf(db);
  const exec = psqlExec(db, where, location, runner);
  return {
    location,
    entriesOnly: true,
    sharedKey: location,
    read: async () => rowsToListText((await exec(readRowsSql(db.table), false)).trim() || "[]"),
    writeAtomic: async (text: string) => {
      await exec(replaceRowsSql(db.table, entriesOf(parseDispatcherList(text, location))), true);
    },
  };
}

/** the table the fleet lock's rows live in, created on first use beside the dispatcher table */
export const LOCK_TABLE = "pbx_cutover_lock";

/** a transaction-scoped advisory lock key: two first runs creating the lock table at once take turns */
const CREATE_LOCK_KEY = 0x70627863;

/** The lock row's SQL (pure): one row per dispatcher table, keyed by its name. */
export const lockRowSql = {
  create: (table: string, text: string): string =>
    `SELECT pg_advisory_xact_lock(${CREATE_LOCK_KEY});\n` +
    `CREATE TABLE IF NOT EXISTS ${ident(LOCK_TABLE)} (name text PRIMARY KEY, holder text NOT NULL);\n` +
    `INSERT INTO ${ident(LOCK_TABLE)} (name, holder) VALUES (${sqlLiteral(table)}, ${sqlLiteral(text)}) ON CONFLICT (name) DO NOTHING RETURNING 'created';\n`,
  replace: (table: string, text: string): string =>
    `UPDATE ${ident(LOCK_TABLE)} SET holder = ${sqlLiteral(text)} WHERE name = ${sqlLiteral(table)};\n`,
  remove: (table: string): string => `DELETE FROM ${ident(LOCK_TABLE)} WHERE name = ${sqlLiteral(table)};\n`,
};

/**
 * The fleet lock of the nodes that share `db.table`: a row of `pbx_cutover_lock` in the same
 * database (every machine that reaches the table sees it; an operator reads it with SELECT). Its
 * text is the holder as JSON, as a lock file's (kept without the file's final newline).
 */
export function dbLockRow(
  db: DbListSource,
  where: string,
  runner: PsqlRunner = (env) => runArgvWith(env),
): NodeLockFile {
  const location = `row ${db.table} of table ${LOCK_TABLE} of postgres://${db.user}@${db.host}:${db.port}/${db.database}`;
  const exec = psqlExec(db, where, location, runner);
  return {
    location,
    howToRead: `SELECT holder FROM ${LOCK_TABLE} WHERE name = '${db.table}' (database ${db.database} on ${db.host}:${db.port})`,
    create: async (text: string): Promise<boolean> =>
      (await exec(lockRowSql.create(db.table, text.trimEnd()), true)).includes("created"),
    read: async (): Promise<string | undefined> => {
      // the lock table may not exist yet: nobody ever held the lock
      const exists = (await exec(`SELECT to_regclass(${sqlLiteral(LOCK_TABLE)}) IS NOT NULL;\n`, false)).trim();
      if (exists !== "t") return undefined;
      const out = await exec(`SELECT holder FROM ${ident(LOCK_TABLE)} WHERE name = ${sqlLiteral(db.table)};\n`, false);
      return out.trim() === "" ? undefined : out.trim() + "\n";
    },
    replace: async (text: string): Promise<void> => {
      await exec(lockRowSql.replace(db.table, text.trimEnd()), true);
    },
    remove: async (): Promise<void> => {
      await exec(lockRowSql.remove(db.table), true);
    },
  };
}
