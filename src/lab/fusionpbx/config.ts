import path from "node:path";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * FusionPBX in the native lab as data (pure): where each web UI and the PostgreSQL behind them live
 * under the lab directory, and their argv. `lab up --backends freeswitch --fusionpbx` runs:
 *   - one PostgreSQL (Debian's), its data dir made by initdb once and kept, on its own loopback port,
 *     its unix socket in the lab dir;
 *   - per slot, PHP's built-in web server serving the FusionPBX tree inside a private mount
 *     namespace that shows the tree (read-only) on /var/www/fusionpbx and the slot's own etc dir on
 *     /etc/fusionpbx (5.5.7 hard-codes both; assets/fusionpbx/serve-in-namespace.sh).
 */

/** Where FusionPBX looks, whatever the tree: empty mount points on the host, filled per namespace. */
export const FUSIONPBX_MOUNT_POINTS = ["/var/www/fusionpbx", "/etc/fusionpbx"] as const;
export const FUSIONPBX_DOC_ROOT = "/var/www/fusionpbx";

export function fusionpbxPaths(labDir: string, role: BackendRole) {
  const base = path.join(labDir, `fusionpbx-${role}`);
  return {
    base,
    /** shown on /etc/fusionpbx inside the namespace (the installer writes config.conf here) */
    etc: path.join(base, "etc"),
    sessions: path.join(base, "sessions"),
    /**
     * PHP's sys_temp_dir: FusionPBX 5.5.7 caches its class map in sys_get_temp_dir() (default /tmp,
     * shared by every instance on the host: one tree's stale map breaks another's)
     */
    tmp: path.join(base, "tmp"),
    /** stdout/stderr of the web server (PHP's access log) */
    log: path.join(base, "php.log"),
    /** PHP's error_log: it also puts the lab dir on the server's command line (ownership) */
    errorLog: path.join(base, "php-errors.log"),
  };
}
export type FusionpbxPaths = ReturnType<typeof fusionpbxPaths>;

export function postgresPaths(labDir: string) {
  const base = path.join(labDir, "postgres");
  return {
    base,
    data: path.join(base, "data"),
    /** unix socket directory (0700) */
    socketDir: path.join(base, "run"),
    log: path.join(base, "postgres.log"),
    /** the superuser's generated password alone (0600): TCP logins need it */
    passwordFile: path.join(base, "password"),
  };
}
export type PostgresPaths = ReturnType<typeof postgresPaths>;

/** PostgreSQL refuses to run as root: as root it runs in a user namespace as nobody (65534), owning the lab's files there. */
export const POSTGRES_NS_ID = 65534;

function asUnprivileged(unshare: string | undefined, argv: string[]): string[] {
  return unshare === undefined
    ? argv
    : [unshare, "--user", `--map-user=${POSTGRES_NS_ID}`, `--map-group=${POSTGRES_NS_ID}`, "--", ...argv];
}

/**
 * initdb argv (pure): superuser `postgres` with the password from `pwFile`; unix-socket logins
 * (a 0700 directory in the lab dir) trusted, TCP logins by password. `unshare` set = we are root.
 */
export function initdbArgv(binDir: string, p: PostgresPaths, pwFile: string, unshare: string | undefined): string[] {
  return asUnprivileged(unshare, [
    path.join(binDir, "initdb"),
    "-D",
    p.data,
    "-U",
    "postgres",
    `--pwfile=${pwFile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "-E",
    "UTF8",
    "--no-locale",
    "--no-sync",
  ]);
}

/** postgres argv (pure): foreground postmaster, TCP on one loopback address and port, socket in the lab dir. */
export function postgresArgv(
  binDir: string,
  p: PostgresPaths,
  address: string,
  port: number,
  unshare: string | undefined,
): string[] {
  return asUnprivileged(unshare, [
    path.join(binDir, "postgres"),
    "-D",
    p.data,
    "-h",
    address,
    "-p",
    String(port),
    "-k",
    p.socketDir,
    "-c",
    "unix_socket_permissions=0700",
    "-c",
    "max_connections=40",
    "-c",
    "shared_buffers=16MB",
    // a lab database: no crash safety needed, no fsync stalls on a shared machine
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
  ]);
}

export interface FusionpbxArgvInput {
  unshare: string;
  sh: string;
  script: string;
  php: string;
  tree: string;
  paths: FusionpbxPaths;
  address: string;
  port: number;
}

/** PHP's settings for one slot, the web server's and the CLI's alike (same temp dir: 5.5 caches its class map there). */
function phpSettings(p: FusionpbxPaths): string[] {
  return [
    "-d",
    `error_log=${p.errorLog}`,
    "-d",
    "log_errors=1",
    "-d",
    "display_errors=0",
    "-d",
    `session.save_path=${p.sessions}`,
    "-d",
    `sys_temp_dir=${p.tmp}`,
    "-d",
    `upload_tmp_dir=${p.tmp}`,
  ];
}

/** A private user + mount namespace (root inside maps to the caller) with the slot's mounts, then `program`. */
function inNamespace(i: Omit<FusionpbxArgvInput, "address" | "port">): string[] {
  return [
    i.unshare,
    "--user",
    "--map-root-user",
    "--mount",
    "--propagation",
    "private",
    "--",
    i.sh,
    i.script,
    i.tree,
    i.paths.etc,
    i.php,
  ];
}

/**
 * The web server argv (pure): a private user + mount namespace (root inside maps to the caller),
 * the mounts, then PHP's built-in server on the slot's address and port serving /var/www/fusionpbx.
 */
export function fusionpbxArgv(i: FusionpbxArgvInput): string[] {
  return [...inNamespace(i), ...phpSettings(i.paths), "-S", `${i.address}:${i.port}`, "-t", FUSIONPBX_DOC_ROOT];
}

/**
 * A FusionPBX command-line script in the slot's namespace (pure), as finish.sh runs them
 * (`cd /var/www/fusionpbx && php core/upgrade/upgrade.php --schema`): the script's path relative to
 * the tree, then its arguments. The namespace script starts it in /var/www/fusionpbx.
 */
export function fusionpbxPhpCliArgv(
  i: Omit<FusionpbxArgvInput, "address" | "port">,
  script: string,
  args: readonly string[],
): string[] {
  return [...inNamespace(i), ...phpSettings(i.paths), script, ...args];
}
