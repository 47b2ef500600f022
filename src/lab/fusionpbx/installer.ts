import { spawn } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { chmodSync, closeSync, existsSync, openSync, readFileSync, realpathSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import type { LabSettings } from "../../config/lab-config.js";
import { EnvironmentError } from "../../core/errors.js";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import { ensureDir } from "../../files/ensure-dir.js";
import { assetPath } from "../../core/assets.js";
import { realServicesDir } from "../freeswitch/install.js";
import type { BackendRole } from "../../core/backend-role.js";
import { tailLines } from "../../os/process.js";
import { fusionpbxPaths, fusionpbxPhpCliArgv } from "./config.js";
import {
  createDatabaseSql,
  dropDatabaseSql,
  ensureRoleSql,
  FUSIONPBX_DB_ROLE,
  fusionpbxDatabase,
  fusionpbxWritableDirs,
  insertAdminSql,
  insertDomainSql,
  installCacheKey,
  installedStateSql,
  parseInstalledState,
  renderConfigConf,
  resetAdminPasswordSql,
  sqlLiteral,
  UPGRADE_SCRIPT,
  upgradeArg,
  type InstalledState,
  type UpgradeStep,
} from "./install-recipe.js";
import { fusionpbxCodeVersion, type FusionpbxPrograms } from "./instance.js";
import {
  databaseExists,
  pgConnOf,
  pgDumpArgv,
  pgRestoreArgv,
  psql,
  runTool,
  ToolFailed,
  type PgConn,
} from "./pg-client.js";

/**
 * `lab up --fusionpbx` installs both FusionPBX slots (install-recipe.ts says how) into the lab's
 * PostgreSQL, one database per slot, and keeps them:
 *   - kept: the slot's database is installed already (the lab dir's PostgreSQL data outlives lab down);
 *   - restored (warm): a finished install of the same tree and domain was cached as a pg_dump
 *     (`PBX_CUTOVER_FUSIONPBX_CACHE`, default <real-services>/fusionpbx-installs; `off` = never):
 *     restored, then the admin gets this lab's password;
 *   - installed (cold): the whole recipe, then cached.
 * The admin's credentials and the database role's password are generated once per lab dir into
 * `fusionpbx-credentials.json` (0600), never printed.
 */

export interface FusionpbxCredentials {
  username: string;
  password: string;
  databasePassword: string;
}

export function credentialsPath(labDir: string): string {
  return path.join(labDir, "fusionpbx-credentials.json");
}

/** The lab's FusionPBX credentials, or undefined when none were made (or the file is unreadable). */
export function readCredentials(labDir: string): FusionpbxCredentials | undefined {
  try {
    const c = JSON.parse(readFileSync(credentialsPath(labDir), "utf8")) as Partial<FusionpbxCredentials>;
    if (typeof c.username === "string" && typeof c.password === "string" && typeof c.databasePassword === "string")
      return { username: c.username, password: c.password, databasePassword: c.databasePassword };
  } catch {
    // missing or unreadable: made anew by the next install
  }
  return undefined;
}

function credentialsFor(labDir: string): FusionpbxCredentials {
  const have = readCredentials(labDir);
  if (have) return have;
  const c: FusionpbxCredentials = {
    username: "admin",
    password: randomBytes(15).toString("base64url"),
    databasePassword: randomBytes(18).toString("base64url"),
  };
  writeFileAtomic(credentialsPath(labDir), JSON.stringify(c) + "\n", { mode: FileMode.private });
  return c;
}

/** The domain a slot's FusionPBX is installed with: the address its web UI answers on. */
export function fusionpbxDomain(s: LabSettings, role: BackendRole): string {
  return s[role].address;
}

export function installCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env["PBX_CUTOVER_FUSIONPBX_CACHE"];
  if (v === "off") return undefined;
  return v ? path.resolve(v) : path.join(realServicesDir(env), "fusionpbx-installs");
}

export type InstallHow = "kept" | "restored" | "installed" | "migrated";

export interface SlotInstall {
  role: BackendRole;
  database: string;
  domain: string;
  how: InstallHow;
  /** what the installed FusionPBX reports (v_software) */
  version: string;
  ms: number;
  /** the cached dump restored from, or written */
  cacheFile?: string;
}

/** What the slot's install recorded: the tree it was installed from (a different tree = a different install). */
export interface InstallMarker {
  tree: string;
  codeVersion: string;
  database: string;
  domain: string;
  how: InstallHow;
  at: string;
}

/** The domain the slot's database holds: its own, or the one its install marker names (migrate-data copies old's). */
export function installedDomain(s: LabSettings, role: BackendRole): string {
  return readMarker(s, role)?.domain ?? fusionpbxDomain(s, role);
}

function markerPath(s: LabSettings, role: BackendRole): string {
  return path.join(fusionpbxPaths(s.labDir, role).base, "installed.json");
}

export function writeMarker(s: LabSettings, role: BackendRole, m: InstallMarker): void {
  writeFileAtomic(markerPath(s, role), JSON.stringify(m, null, 2) + "\n", { mode: FileMode.public });
}

export function readMarker(s: LabSettings, role: BackendRole): InstallMarker | undefined {
  try {
    return JSON.parse(readFileSync(markerPath(s, role), "utf8")) as InstallMarker;
  } catch {
    return undefined;
  }
}

/**
 * Is the slot installed (the domain, the admin, v_software)? Reads the database; never throws.
 * `domain`: the domain to look for (default the slot's own; after migrate-data new holds old's).
 */
export async function installedState(
  s: LabSettings,
  pgBin: string,
  role: BackendRole,
  domain = installedDomain(s, role),
): Promise<InstalledState> {
  const conn = pgConnOf(s, pgBin);
  const db = fusionpbxDatabase(role);
  const c = readCredentials(s.labDir);
  try {
    if (!(await databaseExists(conn, db))) return { installed: false, reason: `no database ${db}` };
    const out = await psql(conn, db, "postgres", installedStateSql(c?.username ?? "admin", domain), {
      timeoutMs: 10_000,
    });
    return parseInstalledState(out);
  } catch (err) {
    return { installed: false, reason: (err as Error).message };
  }
}

interface SlotContext {
  s: LabSettings;
  role: BackendRole;
  programs: FusionpbxPrograms;
  conn: PgConn;
  creds: FusionpbxCredentials;
  signal: AbortSignal | undefined;
  say: (line: string) => void;
  installLog: string;
}

const PHP_STEP_TIMEOUT_MS = 20 * 60_000;

export type UpgradeContext = Pick<SlotContext, "s" | "role" | "programs" | "signal" | "installLog">;

/** One upgrade.php step in the slot's namespace; output appended to `installLog`. */
export async function upgradeStep(x: UpgradeContext, codeVersion: string, step: UpgradeStep): Promise<void> {
  const paths = fusionpbxPaths(x.s.labDir, x.role);
  const argv = fusionpbxPhpCliArgv(
    {
      unshare: x.programs.unshare,
      sh: "/bin/sh",
      script: assetPath("fusionpbx", "serve-in-namespace.sh"),
      php: x.programs.php,
      tree: x.programs.trees[x.role],
      paths,
    },
    UPGRADE_SCRIPT,
    [upgradeArg(codeVersion, step)],
  );
  const fd = openSync(x.installLog, "a", FileMode.public);
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        stdio: ["ignore", fd, fd],
        ...(x.signal ? { signal: x.signal } : {}),
        timeout: PHP_STEP_TIMEOUT_MS,
      });
      child.on("error", reject);
      child.on("close", (code, sig) =>
        code === 0
          ? resolve()
          : reject(new Error(`upgrade.php ${upgradeArg(codeVersion, step)} ended with ${sig ?? `exit ${code}`}`)),
      );
    });
  } finally {
    closeSync(fd);
  }
}

function sql(x: SlotContext, database: string, text: string, user = FUSIONPBX_DB_ROLE): Promise<string> {
  return psql(x.conn, database, user, text, { ...(x.signal ? { signal: x.signal } : {}), timeoutMs: 120_000 });
}

async function coldInstall(x: SlotContext, database: string, domain: string, codeVersion: string): Promise<void> {
  const t = (step: string): void => x.say(`${x.role} FusionPBX ${codeVersion}: ${step}`);
  t("schema (upgrade.php)");
  await upgradeStep(x, codeVersion, "schema");
  const domainUuid = randomUUID();
  await sql(x, database, insertDomainSql(domainUuid, domain));
  t(`domain ${domain}; app defaults (upgrade.php; the first run is the long one)`);
  await upgradeStep(x, codeVersion, "defaults");
  await sql(
    x,
    database,
    insertAdminSql(
      {
        userUuid: randomUUID(),
        domainUuid,
        username: x.creds.username,
        salt: randomUUID(),
        password: x.creds.password,
      },
      randomUUID(),
    ),
  );
  t(`superadmin ${x.creds.username}; app defaults again, group permissions`);
  await upgradeStep(x, codeVersion, "defaults");
  await upgradeStep(x, codeVersion, "permissions");
}

async function installSlot(x: SlotContext): Promise<SlotInstall> {
  const started = performance.now();
  const { s, role } = x;
  const paths = fusionpbxPaths(s.labDir, role);
  const tree = x.programs.trees[role];
  const codeVersion = fusionpbxCodeVersion(tree) ?? "unknown";
  const database = fusionpbxDatabase(role);
  const domain = fusionpbxDomain(s, role);
  for (const d of Object.values(fusionpbxWritableDirs(paths))) ensureDir(d);
  writeFileAtomic(
    path.join(paths.etc, "config.conf"),
    renderConfigConf({
      paths,
      dbHost: x.conn.socketDir,
      dbPort: x.conn.port,
      database,
      dbUser: FUSIONPBX_DB_ROLE,
      dbPassword: x.creds.databasePassword,
      phpDir: path.dirname(x.programs.php),
    }),
    { mode: FileMode.private },
  );
  const done = (how: InstallHow, version: string, cacheFile?: string): SlotInstall => {
    const marker: InstallMarker = { tree, codeVersion, database, domain, how, at: new Date().toISOString() };
    if (how !== "kept") writeMarker(s, role, marker);
    return {
      role,
      database,
      domain,
      how,
      version,
      ms: performance.now() - started,
      ...(cacheFile ? { cacheFile } : {}),
    };
  };

  const resetAdmin = (d = domain): Promise<string> =>
    sql(x, database, resetAdminPasswordSql(x.creds.username, d, randomUUID(), x.creds.password));

  if (await databaseExists(x.conn, database)) {
    const marker = readMarker(s, role);
    const state = await installedState(s, x.programs.pgBin, role);
    if (state.installed && marker !== undefined && marker.tree !== tree) {
      throw new EnvironmentError(
        `the ${role} FusionPBX database ${database} of ${s.labDir} was installed from ${marker.tree}, not ${tree}; nothing was changed`,
        [
          `run the tree it was installed from (--${role}-fusionpbx ${marker.tree}), or start with a fresh lab dir (--lab-dir)`,
        ],
      );
    }
    if (state.installed) {
      await resetAdmin(installedDomain(s, role));
      return { ...done("kept", state.version!), domain: installedDomain(s, role) };
    }
    // a half-made install (an interrupted lab up): made again from scratch
    x.say(`${role} FusionPBX: database ${database} is not installed (${state.reason}); installing it again`);
    await sql(x, "postgres", dropDatabaseSql(database), "postgres");
  }
  await sql(x, "postgres", createDatabaseSql(database, FUSIONPBX_DB_ROLE), "postgres");

  const cacheDir = installCacheDir();
  const cacheFile = cacheDir
    ? path.join(cacheDir, `${installCacheKey(realpathSync(tree), codeVersion, domain)}.dump`)
    : undefined;
  if (cacheFile !== undefined && existsSync(cacheFile)) {
    x.say(`${role} FusionPBX ${codeVersion}: restoring the cached install ${cacheFile}`);
    try {
      await runTool(pgRestoreArgv(x.conn, database, FUSIONPBX_DB_ROLE, cacheFile), {
        ...(x.signal ? { signal: x.signal } : {}),
        timeoutMs: 300_000,
      });
      await resetAdmin();
    } catch (err) {
      throw new EnvironmentError(
        `the ${role} FusionPBX's cached install ${cacheFile} did not restore: ${(err as Error).message}`,
        [
          ...(err instanceof ToolFailed ? err.detail : []),
          `remove it to install cold (it is made again): rm ${cacheFile}; or set PBX_CUTOVER_FUSIONPBX_CACHE=off`,
        ],
      );
    }
    const state = await installedState(s, x.programs.pgBin, role);
    if (!state.installed) throw new Error(`the restored install is not complete: ${state.reason}`);
    return done("restored", state.version!, cacheFile);
  }
  return finishCold(x, database, domain, codeVersion, cacheFile, done);
}

async function finishCold(
  x: SlotContext,
  database: string,
  domain: string,
  codeVersion: string,
  cacheFile: string | undefined,
  done: (how: InstallHow, version: string, cacheFile?: string) => SlotInstall,
): Promise<SlotInstall> {
  await coldInstall(x, database, domain, codeVersion);
  const state = await installedState(x.s, x.programs.pgBin, x.role);
  if (!state.installed) throw new Error(`after the install: ${state.reason}`);
  if (cacheFile === undefined) return done("installed", state.version!);
  ensureDir(path.dirname(cacheFile));
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    await runTool(pgDumpArgv(x.conn, database, FUSIONPBX_DB_ROLE, tmp), {
      ...(x.signal ? { signal: x.signal } : {}),
      timeoutMs: 300_000,
    });
    chmodSync(tmp, FileMode.private);
    renameSync(tmp, cacheFile);
  } finally {
    rmSync(tmp, { force: true });
  }
  return done("installed", state.version!, cacheFile);
}

/**
 * Install both slots (in parallel: each waits mostly on its own database). Throws EnvironmentError
 * (exit 3) naming the slot, the step's message and the last lines of its install.log.
 */
export async function installFusionpbx(
  s: LabSettings,
  programs: FusionpbxPrograms,
  signal: AbortSignal | undefined,
  say: (line: string) => void,
): Promise<SlotInstall[]> {
  const creds = credentialsFor(s.labDir);
  const conn = pgConnOf(s, programs.pgBin);
  await psql(conn, "postgres", "postgres", ensureRoleSql(FUSIONPBX_DB_ROLE, creds.databasePassword), {
    ...(signal ? { signal } : {}),
    timeoutMs: 60_000,
  });
  // one slot failing stops the other (the lab is about to be stopped under it)
  const both = new AbortController();
  const stop = (): void => both.abort();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    return await Promise.all(
      (["old", "new"] as const).map(async (role) => {
        const installLog = path.join(fusionpbxPaths(s.labDir, role).base, "install.log");
        try {
          return await installSlot({ s, role, programs, conn, creds, signal: both.signal, say, installLog });
        } catch (err) {
          both.abort();
          if (signal?.aborted) throw err;
          if (err instanceof EnvironmentError) throw err;
          const detail = err instanceof ToolFailed ? err.detail : [];
          throw new EnvironmentError(`installing the ${role} FusionPBX failed: ${(err as Error).message}`, [
            ...detail,
            `last lines of ${installLog}:`,
            ...tailLines(installLog, 8).map((l) => `  ${l}`),
          ]);
        }
      }),
    );
  } finally {
    signal?.removeEventListener("abort", stop);
  }
}

/** The project's data set for the old slot (SQL against FusionPBX 5.3.0's schema). */
export const DEFAULT_SEED = assetPath("fusionpbx", "seed-5.3.0.sql");

export interface SeedResult {
  file: string;
  how: "loaded" | "kept";
  ms: number;
}

interface SeedMarker {
  file: string;
  sha256: string;
  at: string;
}

/**
 * Load a data set (SQL) into the old slot's database once, in one transaction, as the database's
 * owner, with :lab_domain set to the slot's domain. Kept when this lab dir's old database already
 * holds the same file's data (seeded.json); a different file on a seeded database is refused (exit 3).
 */
export async function seedOld(
  s: LabSettings,
  programs: FusionpbxPrograms,
  file: string,
  signal: AbortSignal | undefined,
): Promise<SeedResult> {
  const started = performance.now();
  const text = readFileSync(file, "utf8");
  const sha256 = createHash("sha256").update(text).digest("hex");
  const markerFile = path.join(fusionpbxPaths(s.labDir, "old").base, "seeded.json");
  let marker: SeedMarker | undefined;
  try {
    marker = JSON.parse(readFileSync(markerFile, "utf8")) as SeedMarker;
  } catch {
    marker = undefined;
  }
  if (marker !== undefined) {
    if (marker.sha256 === sha256) return { file, how: "kept", ms: performance.now() - started };
    throw new EnvironmentError(
      `the old FusionPBX of ${s.labDir} already holds the data set ${marker.file} (loaded ${marker.at}); ${file} was not loaded`,
      ["start with a fresh lab dir (--lab-dir) to load another data set"],
    );
  }
  const domain = fusionpbxDomain(s, "old");
  const conn = pgConnOf(s, programs.pgBin);
  try {
    await psql(
      conn,
      fusionpbxDatabase("old"),
      FUSIONPBX_DB_ROLE,
      `\\set lab_domain ${sqlLiteral(domain)}\nBEGIN;\n${text}\nCOMMIT;\n`,
      { ...(signal ? { signal } : {}), timeoutMs: 300_000 },
    );
  } catch (err) {
    throw new EnvironmentError(
      `loading the data set ${file} into the old FusionPBX failed (nothing of it was kept): ${(err as Error).message}`,
      err instanceof ToolFailed ? err.detail : [],
    );
  }
  writeFileAtomic(markerFile, JSON.stringify({ file, sha256, at: new Date().toISOString() }, null, 2) + "\n", {
    mode: FileMode.public,
  });
  return { file, how: "loaded", ms: performance.now() - started };
}
