import assert from "node:assert/strict";
import { test } from "node:test";
import { mentionsLabDir } from "../../os/ownership.js";
import {
  fusionpbxArgv,
  fusionpbxPaths,
  fusionpbxPhpCliArgv,
  initdbArgv,
  postgresArgv,
  postgresPaths,
} from "./config.js";

test("PostgreSQL: data, socket and log in the lab dir; TCP on the given loopback address and port only", () => {
  const p = postgresPaths("/lab");
  const argv = postgresArgv("/usr/lib/postgresql/15/bin", p, "127.0.0.1", 15432, undefined);
  assert.equal(argv[0], "/usr/lib/postgresql/15/bin/postgres");
  const flag = (f: string): string | undefined => argv[argv.indexOf(f) + 1];
  assert.equal(flag("-D"), "/lab/postgres/data");
  assert.equal(flag("-k"), "/lab/postgres/run");
  assert.equal(flag("-h"), "127.0.0.1");
  assert.equal(flag("-p"), "15432");
  assert.ok(mentionsLabDir(argv, "/lab"), "its command line names the lab dir (found by lab down)");
  assert.ok(!argv.some((a) => /password/i.test(a)), "no secret in argv");
});

test("as root PostgreSQL and initdb run as nobody in a user namespace (PostgreSQL refuses root)", () => {
  const p = postgresPaths("/lab");
  const argv = postgresArgv("/pg/bin", p, "127.0.0.1", 1, "/usr/bin/unshare");
  assert.deepEqual(argv.slice(0, 6), [
    "/usr/bin/unshare",
    "--user",
    "--map-user=65534",
    "--map-group=65534",
    "--",
    "/pg/bin/postgres",
  ]);
  const init = initdbArgv("/pg/bin", p, "/lab/postgres/.pw", "/usr/bin/unshare");
  assert.equal(init[5], "/pg/bin/initdb");
  assert.ok(init.includes("--pwfile=/lab/postgres/.pw") && init.includes("--auth-host=scram-sha-256"));
  assert.equal(initdbArgv("/pg/bin", p, "/x", undefined)[0], "/pg/bin/initdb");
});

test("the web server: its own namespace, the tree and the slot's etc dir mounted by the script, PHP on the slot's port", () => {
  const paths = fusionpbxPaths("/lab", "new");
  const argv = fusionpbxArgv({
    unshare: "/usr/bin/unshare",
    sh: "/bin/sh",
    script: "/a/serve.sh",
    php: "/usr/bin/php",
    tree: "/cache/fusionpbx-5.5.7",
    paths,
    address: "127.0.0.1",
    port: 18081,
  });
  assert.deepEqual(argv.slice(0, 7), [
    "/usr/bin/unshare",
    "--user",
    "--map-root-user",
    "--mount",
    "--propagation",
    "private",
    "--",
  ]);
  assert.deepEqual(argv.slice(7, 11), ["/bin/sh", "/a/serve.sh", "/cache/fusionpbx-5.5.7", "/lab/fusionpbx-new/etc"]);
  assert.equal(argv[11], "/usr/bin/php");
  assert.equal(argv[argv.indexOf("-S") + 1], "127.0.0.1:18081");
  assert.equal(argv[argv.indexOf("-t") + 1], "/var/www/fusionpbx");
  // FusionPBX 5.5.7 caches its class map in PHP's temp dir: each instance has its own (never the host's /tmp)
  assert.ok(argv.includes("sys_temp_dir=/lab/fusionpbx-new/tmp"), argv.join(" "));
  // after exec only PHP's argv is left: it must still name the lab dir
  assert.ok(mentionsLabDir(argv.slice(11), "/lab"), "PHP's own argv names the lab dir");
});

test("a FusionPBX command-line script runs in the slot's namespace with the server's PHP settings (same temp dir)", () => {
  const paths = fusionpbxPaths("/lab", "old");
  const argv = fusionpbxPhpCliArgv(
    { unshare: "/usr/bin/unshare", sh: "/bin/sh", script: "/a/serve.sh", php: "/usr/bin/php", tree: "/t", paths },
    "core/upgrade/upgrade.php",
    ["--schema"],
  );
  assert.deepEqual(argv.slice(7, 11), ["/bin/sh", "/a/serve.sh", "/t", "/lab/fusionpbx-old/etc"]);
  assert.ok(argv.includes("sys_temp_dir=/lab/fusionpbx-old/tmp"));
  assert.deepEqual(argv.slice(-2), ["core/upgrade/upgrade.php", "--schema"]);
  assert.ok(!argv.includes("-S"), "no web server");
});
