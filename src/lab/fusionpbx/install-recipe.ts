import { createHash } from "node:crypto";
import path from "node:path";
import type { BackendRole } from "../../core/backend-role.js";
import { FUSIONPBX_DOC_ROOT, type FusionpbxPaths } from "./config.js";

/**
 * Installing FusionPBX without a browser, as data (pure): the steps FusionPBX's own Debian install
 * script (fusionpbx-install.sh, debian/resources/finish.sh) runs after the packages are in place,
 * adapted to one lab slot:
 *   1. a database of its own owned by the `fusionpbx` role (finish.sh: the role from postgresql.sh);
 *   2. /etc/fusionpbx/config.conf (both 5.3 and 5.5 read it first; the slot's etc dir is mounted there);
 *   3. `core/upgrade/upgrade.php` schema: every app's tables;
 *   4. the first domain (v_domains), named after the address the slot's web UI answers on;
 *   5. upgrade.php app defaults (menus, groups, permissions, default settings, dialplans of the domain);
 *   6. the superadmin user (v_users, password md5(salt . password) as finish.sh writes it:
 *      FusionPBX re-hashes it with password_hash() on the first login) in the superadmin group;
 *   7. app defaults again, then the group permissions.
 * 5.3 and 5.5 spell upgrade.php's steps differently (`schema`, `domains`, `permissions` against
 * `--schema`, `--defaults`, `--group`); 5.5's `--permissions` also chowns files to www-data, which a
 * lab never wants, so its `--group` half (groups and their permissions) is run.
 */

export type UpgradeStep = "schema" | "defaults" | "permissions" | "version";

/** upgrade.php's argument for a step in the tree's generation: 5.3.x and older vs 5.4 and later. */
export function upgradeArg(codeVersion: string, step: UpgradeStep): string {
  const [maj = 0, min = 0] = codeVersion.split(".").map(Number);
  const modern = maj > 5 || (maj === 5 && min >= 4);
  if (modern) return { schema: "--schema", defaults: "--defaults", permissions: "--group", version: "--version" }[step];
  return { schema: "schema", defaults: "domains", permissions: "permissions", version: "version" }[step];
}

/** The upgrade.php invocations of an install, in order, around the SQL steps (which go between them). */
export const UPGRADE_SCRIPT = path.join("core", "upgrade", "upgrade.php");

/** A slot's database and the role that owns it. */
export const FUSIONPBX_DB_ROLE = "fusionpbx";
export function fusionpbxDatabase(role: BackendRole): string {
  return `fusionpbx_${role}`;
}

/** The directories FusionPBX writes outside its tree, per slot (cache, the switch dirs app defaults copy into). */
export function fusionpbxWritableDirs(p: FusionpbxPaths) {
  const sw = path.join(p.base, "switch");
  return {
    cache: path.join(p.base, "cache"),
    switchConf: path.join(sw, "conf"),
    switchSounds: path.join(sw, "sounds"),
    switchDb: path.join(sw, "db"),
    switchRecordings: path.join(sw, "recordings"),
    switchStorage: path.join(sw, "storage"),
    switchVoicemail: path.join(sw, "storage", "voicemail"),
    switchScripts: path.join(sw, "scripts"),
  };
}

export interface ConfigConfInput {
  paths: FusionpbxPaths;
  /** PostgreSQL's unix socket directory (libpq: a host starting with "/" is a socket directory) */
  dbHost: string;
  dbPort: number;
  database: string;
  dbUser: string;
  dbPassword: string;
  phpDir: string;
}

/**
 * config.conf as finish.sh writes it (debian/resources/fusionpbx/config.conf with its placeholders
 * filled), with the lab's differences: the database over PostgreSQL's unix socket in the lab dir
 * (5.3 opens one connection per query object, ~10,000 during its first app defaults: TCP with
 * SCRAM costs minutes of CPU), every directory FusionPBX writes under the slot's lab dir, and
 * session cookies not marked Secure (the lab serves plain HTTP on loopback).
 */
export function renderConfigConf(i: ConfigConfInput): string {
  const d = fusionpbxWritableDirs(i.paths);
  for (const v of [i.dbHost, i.database, i.dbUser, i.dbPassword, i.phpDir, ...Object.values(d)]) {
    if (/[\n\r"]/.test(v)) throw new Error(`config.conf value holds a newline or quote: ${JSON.stringify(v)}`);
  }
  return [
    "",
    "#database system settings",
    "database.0.type = pgsql",
    `database.0.host = ${i.dbHost}`,
    `database.0.port = ${i.dbPort}`,
    "database.0.sslmode = disable",
    `database.0.name = ${i.database}`,
    `database.0.username = ${i.dbUser}`,
    `database.0.password = ${i.dbPassword}`,
    "",
    "#database switch settings",
    "database.1.type = sqlite",
    `database.1.path = ${d.switchDb}`,
    "database.1.name = core.db",
    "",
    "#general settings",
    `document.root = ${FUSIONPBX_DOC_ROOT}`,
    "project.path =",
    `temp.dir = ${i.paths.tmp}`,
    `php.dir = ${i.phpDir}`,
    "php.bin = php",
    "",
    "#session settings",
    "session.cookie_httponly = true",
    "session.cookie_secure = false",
    "session.cookie_samesite = Lax",
    "",
    "#cache settings",
    "cache.method = file",
    `cache.location = ${d.cache}`,
    "cache.settings = true",
    "",
    "#switch settings",
    `switch.conf.dir = ${d.switchConf}`,
    `switch.sounds.dir = ${d.switchSounds}`,
    `switch.database.dir = ${d.switchDb}`,
    `switch.recordings.dir = ${d.switchRecordings}`,
    `switch.storage.dir = ${d.switchStorage}`,
    `switch.voicemail.dir = ${d.switchVoicemail}`,
    `switch.scripts.dir = ${d.switchScripts}`,
    "",
    "#switch xml handler",
    "xml_handler.fs_path = false",
    "xml_handler.reg_as_number_alias = false",
    "xml_handler.number_as_presence_id = true",
    "",
    "#error reporting options: user,dev,all",
    "error.reporting = user",
    "",
  ].join("\n");
}

/** A SQL string literal (standard_conforming_strings, PostgreSQL's default). */
export function sqlLiteral(v: string): string {
  if (v.includes("\0")) throw new Error("a SQL literal cannot hold NUL");
  return `'${v.replace(/'/g, "''")}'`;
}

/** A SQL identifier (double-quoted). */
export function sqlIdent(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

/** finish.sh's password hash: md5(salt . password). FusionPBX 5.3 and 5.5 accept it and re-hash on login. */
export function legacyPasswordHash(salt: string, password: string): string {
  return createHash("md5")
    .update(salt + password)
    .digest("hex");
}

/** The role the slots' databases belong to, made or given its password (idempotent), over the superuser's session. */
export function ensureRoleSql(role: string, rolePassword: string): string {
  return [
    `DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${sqlLiteral(role)}) THEN CREATE ROLE ${sqlIdent(role)}; END IF; END$$;`,
    `ALTER ROLE ${sqlIdent(role)} WITH LOGIN PASSWORD ${sqlLiteral(rolePassword)};`,
    "",
  ].join("\n");
}

/** A slot's database, owned by `role`. */
export function createDatabaseSql(database: string, role: string): string {
  return `CREATE DATABASE ${sqlIdent(database)} OWNER ${sqlIdent(role)} ENCODING 'UTF8' TEMPLATE template0;\n`;
}

export function dropDatabaseSql(database: string): string {
  return `DROP DATABASE IF EXISTS ${sqlIdent(database)};\n`;
}

export function insertDomainSql(domainUuid: string, domainName: string): string {
  return (
    `INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) ` +
    `VALUES (${sqlLiteral(domainUuid)}, ${sqlLiteral(domainName)}, 'true');\n`
  );
}

export interface AdminUser {
  userUuid: string;
  domainUuid: string;
  username: string;
  salt: string;
  password: string;
}

/** finish.sh's user, and its membership of the superadmin group (the group app defaults made). */
export function insertAdminSql(u: AdminUser, userGroupUuid: string): string {
  return [
    `INSERT INTO v_users (user_uuid, domain_uuid, username, password, salt, user_enabled) VALUES (` +
      [u.userUuid, u.domainUuid, u.username, legacyPasswordHash(u.salt, u.password), u.salt]
        .map(sqlLiteral)
        .join(", ") +
      `, 'true');`,
    `INSERT INTO v_user_groups (user_group_uuid, domain_uuid, group_name, group_uuid, user_uuid) ` +
      `SELECT ${sqlLiteral(userGroupUuid)}, ${sqlLiteral(u.domainUuid)}, 'superadmin', group_uuid, ${sqlLiteral(u.userUuid)} ` +
      `FROM v_groups WHERE group_name = 'superadmin' AND domain_uuid IS NULL LIMIT 1;`,
    "",
  ].join("\n");
}

/** A restored install gets this lab's admin password (the cached dump holds another lab's). */
export function resetAdminPasswordSql(username: string, domainName: string, salt: string, password: string): string {
  return (
    `UPDATE v_users SET salt = ${sqlLiteral(salt)}, password = ${sqlLiteral(legacyPasswordHash(salt, password))} ` +
    `WHERE username = ${sqlLiteral(username)} AND domain_uuid = ` +
    `(SELECT domain_uuid FROM v_domains WHERE domain_name = ${sqlLiteral(domainName)});\n`
  );
}

/** What `lab status` and `verify` read to say installed or not: the domain, the admin, v_software's version. */
export function installedStateSql(username: string, domainName: string): string {
  return [
    `SELECT`,
    `  (SELECT count(*) FROM v_domains WHERE domain_name = ${sqlLiteral(domainName)}) AS domains,`,
    `  (SELECT count(*) FROM v_users u JOIN v_domains d USING (domain_uuid)`,
    `     WHERE u.username = ${sqlLiteral(username)} AND d.domain_name = ${sqlLiteral(domainName)}) AS admins,`,
    `  (SELECT software_version FROM v_software ORDER BY update_date DESC NULLS LAST, insert_date DESC NULLS LAST LIMIT 1) AS version;`,
    "",
  ].join("\n");
}

export interface InstalledState {
  installed: boolean;
  /** what the installed FusionPBX reports (v_software.software_version, written by app defaults) */
  version?: string;
  reason?: string;
}

/** psql -At output of installedStateSql ("1|1|5.3.3") → the state (pure). */
export function parseInstalledState(out: string): InstalledState {
  const [domains, admins, version] = out.trim().split("|");
  const v = version ? { version } : {};
  if (domains !== "1") return { installed: false, ...v, reason: `the domain is missing (${domains ?? "?"} rows)` };
  if (admins !== "1") return { installed: false, ...v, reason: `the admin user is missing (${admins ?? "?"} rows)` };
  if (!version) return { installed: false, reason: "v_software holds no version (app defaults did not run)" };
  return { installed: true, version };
}

/**
 * Where a finished install is cached for the next lab (a pg_dump): keyed by what makes two installs
 * the same: the tree (its real path and code version), the domain name, the recipe.
 */
export const INSTALL_RECIPE_VERSION = 1;
export function installCacheKey(treeRealPath: string, codeVersion: string, domainName: string): string {
  const h = createHash("sha256")
    .update(JSON.stringify([INSTALL_RECIPE_VERSION, treeRealPath, codeVersion, domainName]))
    .digest("hex")
    .slice(0, 12);
  return `fusionpbx-${codeVersion}-${domainName}-${h}`;
}
