import { spawn } from "node:child_process";
import path from "node:path";
import type { LabSettings } from "../../config/lab-config.js";
import { postgresPaths } from "./config.js";

/**
 * PostgreSQL's own clients (psql, pg_dump, pg_restore from the lab's PostgreSQL bin dir) against the
 * lab's PostgreSQL over its unix socket in the lab dir (local logins are trusted there; the socket is
 * 0700). SQL always goes on stdin, never on a command line.
 */
export interface PgConn {
  pgBin: string;
  socketDir: string;
  port: number;
}

export function pgConnOf(s: LabSettings, pgBin: string): PgConn {
  return { pgBin, socketDir: postgresPaths(s.labDir).socketDir, port: s.fusionpbx.postgresPort };
}

/** The connection part every client shares: the socket directory, the port, the role. */
function connArgs(c: PgConn, user: string): string[] {
  return ["-h", c.socketDir, "-p", String(c.port), "-U", user];
}

/** psql argv (pure): quiet, unaligned, stop at the first error, SQL from stdin. */
export function psqlArgv(c: PgConn, database: string, user: string): string[] {
  return [
    path.join(c.pgBin, "psql"),
    "-X",
    "-q",
    "-A",
    "-t",
    "-v",
    "ON_ERROR_STOP=1",
    ...connArgs(c, user),
    "-d",
    database,
    "-f",
    "-",
  ];
}

/** pg_dump argv (pure): custom format, to `file`. */
export function pgDumpArgv(c: PgConn, database: string, user: string, file: string): string[] {
  return [path.join(c.pgBin, "pg_dump"), ...connArgs(c, user), "-Fc", "-f", file, database];
}

/** pg_restore argv (pure): one transaction, stop at the first error, owned by the connecting role. */
export function pgRestoreArgv(c: PgConn, database: string, user: string, file: string): string[] {
  return [
    path.join(c.pgBin, "pg_restore"),
    ...connArgs(c, user),
    "--no-owner",
    "--no-acl",
    "--single-transaction",
    "--exit-on-error",
    "-d",
    database,
    file,
  ];
}

export class ToolFailed extends Error {
  constructor(
    readonly argv0: string,
    readonly detail: string[],
    message: string,
  ) {
    super(message);
  }
}

export interface RunOptions {
  input?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Run one program (argv array), stdin from `input`; resolves with stdout, rejects with ToolFailed (stderr's last lines). */
export function runTool(argv: readonly string[], o: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const [bin, ...args] = argv;
    const child = spawn(bin!, args, {
      stdio: ["pipe", "pipe", "pipe"],
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.timeoutMs ? { timeout: o.timeoutMs } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => undefined);
    child.stdin.end(o.input ?? "");
    child.on("error", (e) =>
      reject(new ToolFailed(path.basename(bin!), [], `${path.basename(bin!)} could not run: ${e.message}`)),
    );
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out).toString("utf8");
      if (code === 0) return resolve(stdout);
      const detail = Buffer.concat(err).toString("utf8").trim().split("\n").slice(-8);
      reject(
        new ToolFailed(
          path.basename(bin!),
          detail,
          `${path.basename(bin!)} failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${detail.at(-1) ?? ""}`,
        ),
      );
    });
  });
}

export function psql(c: PgConn, database: string, user: string, sql: string, o: RunOptions = {}): Promise<string> {
  return runTool(psqlArgv(c, database, user), { ...o, input: sql });
}

/** Does `database` exist in the lab's cluster? */
export async function databaseExists(c: PgConn, database: string): Promise<boolean> {
  const out = await psql(
    c,
    "postgres",
    "postgres",
    `SELECT 1 FROM pg_database WHERE datname = '${database.replace(/'/g, "''")}';\n`,
  );
  return out.trim() === "1";
}
