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

/** The table `db.table` as the node's list; `where` names the node in messages. */
export function dbTableStore(
  db: DbListSource,
  where: string,
  runner: (env: Record<string, string>) => ArgvRunner = (env) => runArgvWith(env),
): DispatcherListStore & { entriesOnly: true } {
  const location = `table ${db.table} of postgres://${db.user}@${db.host}:${db.port}/${db.database}`;
  const exec = async (sql: string, write: boolean): Promise<string> => {
    const env: Record<string, string> = { PGCONNECT_TIMEOUT: String(Math.ceil(db.timeoutMs / 1000)) };
    if (db.password) env.PGPASSWORD = db.password.reveal();
    let out: { stdout: string; stderr: string; code: number };
    try {
      out = await runner(env)(psqlArgv(db, write), db.timeoutMs + 5000, sql);
    } catch (err) {
      throw new EnvironmentError(`${where}: psql for ${location} failed: ${(err as Error).message}`);
    }
    if (out.code !== 0) {
      const why =
        out.stderr
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
          .join("; ") || `psql exit ${out.code}`;
      throw new EnvironmentError(
        `${where}: ${write ? "writing" : "reading"} ${location} failed: ${why}` +
          (write ? "; the transaction did not commit: the table holds the rows it had" : ""),
      );
    }
    return out.stdout;
  };
  return {
    location,
    entriesOnly: true,
    read: async () => rowsToListText((await exec(readRowsSql(db.table), false)).trim() || "[]"),
    writeAtomic: async (text: string) => {
      await exec(replaceRowsSql(db.table, entriesOf(parseDispatcherList(text, location))), true);
    },
  };
}
