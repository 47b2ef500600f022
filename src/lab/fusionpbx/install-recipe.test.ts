import assert from "node:assert/strict";
import { test } from "node:test";
import { fusionpbxPaths } from "./config.js";
import {
  createDatabaseSql,
  ensureRoleSql,
  insertAdminSql,
  installCacheKey,
  legacyPasswordHash,
  parseInstalledState,
  renderConfigConf,
  resetAdminPasswordSql,
  sqlLiteral,
  upgradeArg,
} from "./install-recipe.js";

test("upgrade.php's arguments: 5.3 spells its steps as words, 5.4 and later as options (--group, never --permissions' chown)", () => {
  assert.deepEqual(
    (["schema", "defaults", "permissions", "version"] as const).map((s) => upgradeArg("5.3.3", s)),
    ["schema", "domains", "permissions", "version"],
  );
  assert.deepEqual(
    (["schema", "defaults", "permissions", "version"] as const).map((s) => upgradeArg("5.5.7", s)),
    ["--schema", "--defaults", "--group", "--version"],
  );
  assert.equal(upgradeArg("5.4.0", "schema"), "--schema");
  assert.equal(upgradeArg("6.0.1", "defaults"), "--defaults");
});

test("config.conf: the slot's database over the lab's unix socket, every writable dir in the slot, cookies not Secure", () => {
  const paths = fusionpbxPaths("/lab", "old");
  const text = renderConfigConf({
    paths,
    dbHost: "/lab/postgres/run",
    dbPort: 15432,
    database: "fusionpbx_old",
    dbUser: "fusionpbx",
    dbPassword: "s3cret",
    phpDir: "/usr/bin",
  });
  const conf = Object.fromEntries(
    text
      .split("\n")
      .filter((l) => l.includes(" = ") || l.endsWith(" ="))
      .map((l) => l.split(/ =\s?/) as [string, string]),
  );
  assert.equal(conf["database.0.type"], "pgsql");
  assert.equal(conf["database.0.host"], "/lab/postgres/run");
  assert.equal(conf["database.0.port"], "15432");
  assert.equal(conf["database.0.name"], "fusionpbx_old");
  assert.equal(conf["database.0.password"], "s3cret");
  assert.equal(conf["document.root"], "/var/www/fusionpbx");
  assert.equal(conf["session.cookie_secure"], "false");
  for (const k of ["cache.location", "temp.dir", "switch.conf.dir", "switch.scripts.dir", "database.1.path"]) {
    assert.ok(conf[k]!.startsWith("/lab/fusionpbx-old/"), `${k} = ${conf[k]} lies in the slot's lab dir`);
  }
  assert.throws(() =>
    renderConfigConf({
      ...{ paths, dbHost: "/x", dbPort: 1, database: "d", dbUser: "u", phpDir: "/p" },
      dbPassword: "a\nb",
    }),
  );
});

test("SQL: literals quoted, the role made once and given its password, the admin hashed as finish.sh does", () => {
  assert.equal(sqlLiteral("it's"), "'it''s'");
  assert.match(ensureRoleSql("fusionpbx", "p'w"), /ALTER ROLE "fusionpbx" WITH LOGIN PASSWORD 'p''w';/);
  assert.match(createDatabaseSql("fusionpbx_new", "fusionpbx"), /^CREATE DATABASE "fusionpbx_new" OWNER "fusionpbx"/);
  // finish.sh: php -r "echo md5('$user_salt$user_password');"
  assert.equal(legacyPasswordHash("salt", "password"), "67a1e09bb1f83f5007dc119c14d663aa");
  const sql = insertAdminSql(
    { userUuid: "u-1", domainUuid: "d-1", username: "admin", salt: "salt", password: "password" },
    "ug-1",
  );
  assert.ok(sql.includes("'67a1e09bb1f83f5007dc119c14d663aa'") && !sql.includes("'password'"), sql);
  assert.match(sql, /FROM v_groups WHERE group_name = 'superadmin'/);
  assert.match(
    resetAdminPasswordSql("admin", "127.0.0.1", "salt", "password"),
    /password = '67a1e09bb1f83f5007dc119c14d663aa'/,
  );
});

test("installed or not, from psql's answer: the domain, the admin and v_software's version all needed", () => {
  assert.deepEqual(parseInstalledState("1|1|5.3.3\n"), { installed: true, version: "5.3.3" });
  assert.deepEqual(parseInstalledState("0|0|\n"), { installed: false, reason: "the domain is missing (0 rows)" });
  assert.equal(parseInstalledState("1|0|5.5.7").installed, false);
  assert.match(parseInstalledState("1|1|").reason!, /v_software/);
});

test("the install cache key changes with the tree, its version and the domain", () => {
  const k = installCacheKey("/t/fusionpbx-5.3.0", "5.3.3", "127.0.0.1");
  assert.match(k, /^fusionpbx-5\.3\.3-127\.0\.0\.1-[0-9a-f]{12}$/);
  assert.notEqual(k, installCacheKey("/t/other", "5.3.3", "127.0.0.1"));
  assert.notEqual(k, installCacheKey("/t/fusionpbx-5.3.0", "5.3.3", "127.0.0.2"));
  assert.equal(k, installCacheKey("/t/fusionpbx-5.3.0", "5.3.3", "127.0.0.1"));
});
