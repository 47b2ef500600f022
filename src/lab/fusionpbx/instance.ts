import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { EnvironmentError } from "../../core/errors.js";
import type { LabSettings } from "../../config/lab-config.js";
import { assetPath } from "../../core/assets.js";
import { ensureDir } from "../../files/ensure-dir.js";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import { probeFusionpbxPage } from "../../verify/fusionpbx-page.js";
import { parseSoftwarePhp } from "../../verify/product-version.js";
import { requireBinaries } from "../binaries.js";
import { realServicesDir } from "../freeswitch/install.js";
import type { BackendRole } from "../../core/backend-role.js";
import {
  FUSIONPBX_MOUNT_POINTS,
  fusionpbxArgv,
  fusionpbxPaths,
  initdbArgv,
  postgresArgv,
  postgresPaths,
} from "./config.js";

const execFileP = promisify(execFile);

/**
 * The effects around FusionPBX in the native lab (`lab up --backends freeswitch --fusionpbx`):
 * finding PHP, PostgreSQL and the trees (exit 3 with what to do), the PostgreSQL data dir made once
 * by initdb and kept, readiness (PostgreSQL accepts connections; `/` leads to FusionPBX's installer
 * or login page) and the versions `lab status` shows.
 */

export const SOFTWARE_PHP = path.join("core", "software", "resources", "classes", "software.php");
const VERSION = /^\d+\.\d+\.\d+$/;

/** A slot's FusionPBX `tree` setting: a version ("5.3.0": the installed tree) or a tree's path (pure). */
export function fusionpbxTreePath(spec: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return VERSION.test(spec) ? path.join(realServicesDir(env), `fusionpbx-${spec}`) : path.resolve(cwd, spec);
}

export interface FusionpbxPrograms {
  php: string;
  unshare: string;
  /** PostgreSQL's bin dir (initdb, postgres, pg_isready) */
  pgBin: string;
  trees: Record<BackendRole, string>;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** PBX_CUTOVER_PG_BINDIR, else the newest Debian PostgreSQL (/usr/lib/postgresql/<major>/bin). */
export function findPostgresBinDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const has = (d: string): boolean =>
    ["initdb", "postgres", "pg_isready", "psql", "pg_dump", "pg_restore"].every((b) => executable(path.join(d, b)));
  const explicit = env["PBX_CUTOVER_PG_BINDIR"];
  if (explicit) return has(explicit) ? explicit : undefined;
  let majors: string[] = [];
  try {
    majors = readdirSync("/usr/lib/postgresql")
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  return majors.map((m) => path.join("/usr/lib/postgresql", m, "bin")).find(has);
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * Everything `--fusionpbx` needs, checked before anything starts (exit 3 naming what to install):
 * both trees, PHP, PostgreSQL, unshare, and the two empty mount points FusionPBX's hard-coded paths
 * need (made here when running as root; they stay empty on the host).
 */
export function requireFusionpbxPrograms(
  s: LabSettings,
  env: NodeJS.ProcessEnv = process.env,
): FusionpbxPrograms | undefined {
  if (!s.fusionpbx.enabled) return undefined;
  const trees = {} as Record<BackendRole, string>;
  for (const role of ["old", "new"] as const) {
    const spec = s.fusionpbx[role].tree;
    const tree = fusionpbxTreePath(spec, env);
    if (!existsSync(path.join(tree, SOFTWARE_PHP))) {
      throw new EnvironmentError(
        `${VERSION.test(spec) ? `FusionPBX ${spec}` : "a FusionPBX tree"} for the ${role} slot is not installed at ${tree} (no ${SOFTWARE_PHP}); nothing was started`,
        [
          VERSION.test(spec)
            ? "install it with: make real-services (from PBX_CUTOVER_VENDOR, or cloned from upstream; PBX_CUTOVER_REAL_SERVICES picks the directory)"
            : `point --${role}-fusionpbx at a FusionPBX source tree, or at an installed version such as 5.5.7`,
        ],
      );
    }
    trees[role] = tree;
  }
  const bins = requireBinaries(["php", "unshare"], env);
  const pgBin = findPostgresBinDir(env);
  if (pgBin === undefined) {
    throw new EnvironmentError(
      "PostgreSQL (initdb, postgres, pg_isready, psql, pg_dump, pg_restore) is not installed; nothing was started",
      [
        "install it with: sudo apt-get install -y postgresql (make real-services does, as root); or point PBX_CUTOVER_PG_BINDIR at its bin directory",
      ],
    );
  }
  for (const dir of FUSIONPBX_MOUNT_POINTS) {
    if (existsSync(dir)) continue;
    if (!isRoot()) {
      throw new EnvironmentError(
        `FusionPBX's hard-coded path ${dir} does not exist: the lab mounts each slot's view on it; nothing was started`,
        [`create the empty mount points once as root: sudo mkdir -p ${FUSIONPBX_MOUNT_POINTS.join(" ")}`],
      );
    }
    ensureDir(dir);
  }
  return { php: bins.php, unshare: bins.unshare, pgBin, trees };
}

export interface PreparedService {
  argv: string[];
  log: string;
  extraLogs: string[];
}

/**
 * PostgreSQL's run directory; the data dir is made by initdb the first time (1-3 s) and kept across
 * lab down/up, like FreeSWITCH's certificates. Its superuser password is generated then, 0600.
 */
export async function preparePostgres(s: LabSettings, programs: FusionpbxPrograms): Promise<PreparedService> {
  const p = postgresPaths(s.labDir);
  ensureDir(p.base);
  ensureDir(p.socketDir);
  const unshare = isRoot() ? programs.unshare : undefined;
  if (!existsSync(path.join(p.data, "PG_VERSION"))) {
    // made aside and renamed into place: an interrupted initdb never leaves a half-made data dir
    const password = randomBytes(16).toString("hex");
    const pwFile = path.join(p.base, `.initdb-pw-${process.pid}`);
    const fresh = { ...p, data: path.join(p.base, `.data-initdb-${process.pid}`) };
    // as root, initdb runs as nobody in a user namespace where the caller's files are its own: 0600 reads
    writeFileAtomic(pwFile, password + "\n", { mode: FileMode.private });
    try {
      const [bin, ...args] = initdbArgv(programs.pgBin, fresh, pwFile, unshare);
      await execFileP(bin!, args, { timeout: 60_000, cwd: p.base });
      writeFileAtomic(p.passwordFile, password + "\n", { mode: FileMode.private });
      rmSync(p.data, { recursive: true, force: true });
      renameSync(fresh.data, p.data);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new EnvironmentError(
        `initdb for the lab's PostgreSQL failed; nothing was started`,
        (e.stderr ?? e.message).trim().split("\n").slice(-5),
      );
    } finally {
      rmSync(pwFile, { force: true });
      rmSync(fresh.data, { recursive: true, force: true });
    }
  }
  rmSync(p.log, { force: true });
  return {
    argv: postgresArgv(programs.pgBin, p, s.kamailio.address, s.fusionpbx.postgresPort, unshare),
    log: p.log,
    extraLogs: [],
  };
}

/** A slot's web server: its etc dir (empty until an installer writes config.conf), sessions, logs. */
export function prepareFusionpbx(s: LabSettings, role: BackendRole, programs: FusionpbxPrograms): PreparedService {
  const paths = fusionpbxPaths(s.labDir, role);
  for (const d of [paths.base, paths.etc, paths.sessions, paths.tmp]) ensureDir(d);
  rmSync(paths.log, { force: true });
  writeFileAtomic(paths.errorLog, "", { mode: FileMode.public });
  return {
    argv: fusionpbxArgv({
      unshare: programs.unshare,
      sh: "/bin/sh",
      script: assetPath("fusionpbx", "serve-in-namespace.sh"),
      php: programs.php,
      tree: programs.trees[role],
      paths,
      address: s[role].address,
      port: s.fusionpbx[role].httpPort,
    }),
    log: paths.log,
    extraLogs: [paths.errorLog],
  };
}

/** Ready = PostgreSQL accepts connections on its TCP port (pg_isready). Throws why not. */
export async function probePostgresReady(s: LabSettings, pgBin: string): Promise<void> {
  try {
    await execFileP(
      path.join(pgBin, "pg_isready"),
      ["-q", "-h", s.kamailio.address, "-p", String(s.fusionpbx.postgresPort), "-t", "1"],
      { timeout: 3000 },
    );
  } catch {
    throw new Error(`PostgreSQL on ${s.kamailio.address}:${s.fusionpbx.postgresPort} does not accept connections yet`);
  }
}

export function fusionpbxUrl(s: LabSettings, role: BackendRole): string {
  return `http://${s[role].address}:${s.fusionpbx[role].httpPort}/`;
}

/** Ready = `/` leads to FusionPBX's installer or login page (HTTP 200). Throws why not. */
export async function probeFusionpbxReady(s: LabSettings, role: BackendRole): Promise<void> {
  const r = await probeFusionpbxPage(fusionpbxUrl(s, role), 2000);
  if (!r.reachable) throw new Error(r.error ?? "no HTTP answer");
  if (r.page !== "installer" && r.page !== "login")
    throw new Error(`GET / answered ${r.chain}, not FusionPBX's installer or login page`);
}

/** The version a tree's code states (software.php), e.g. "5.3.3" for tag 5.3.0; undefined when unreadable. */
export function fusionpbxCodeVersion(tree: string): string | undefined {
  try {
    return parseSoftwarePhp(readFileSync(path.join(tree, SOFTWARE_PHP), "utf8"))?.version;
  } catch {
    return undefined;
  }
}

/** The tree a running FusionPBX component serves, from its recorded argv (the script's first argument). */
export function servedTree(argv: readonly string[]): string | undefined {
  const i = argv.findIndex((a) => a.endsWith(path.join("fusionpbx", "serve-in-namespace.sh")));
  return i >= 0 ? argv[i + 1] : undefined;
}

/** `lab status`'s version cell for PostgreSQL: `postgres --version`. */
export async function postgresStatusText(argv: readonly string[]): Promise<string> {
  const bin = argv.find((a) => a.endsWith("/postgres"));
  if (bin === undefined) return "unknown";
  try {
    const { stdout } = await execFileP(bin, ["--version"], { timeout: 3000 });
    const m = /PostgreSQL\)?\s+(\d+(?:\.\d+)+)/.exec(stdout);
    return m ? `PostgreSQL ${m[1]}` : stdout.trim();
  } catch (err) {
    return `unknown (${(err as Error).message.split("\n")[0]})`;
  }
}
