/**
 * The dispatcher list as a database table: a "production" node whose Kamailio reads its destinations
 * from PostgreSQL through db_postgres (Kamailio's default reload_delta of 5 s, algorithm 9), its own
 * PostgreSQL started by the test. Reached over JSON-RPC and over kamcmd on its ctl socket, `target
 * check` passes and `migrate --target` moves the SIPp users' calls to new with one transaction per
 * step. Over JSON-RPC, the database going away while a step's transaction
 * is open leaves the table with the rows it had (the old step), never half a list: exit 3, Kamailio
 * untouched. The database password is in no output and no artifact.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type CliResult } from "../support/lab-fixture.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf, artifactsText } from "../support/run-folder.js";
import { targetNode, type TargetNode } from "../support/target-node.js";

const AUTH: NodeAuth = { basic: { user: "cutover", password: "pw-db-7Hq2" } };
const RATE = 50;

const until = async (what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

for (const transport of ["http", "kamcmd"] as const)
  describe(`the dispatcher table in PostgreSQL (db_postgres), RPC over ${transport === "http" ? "JSON-RPC" : "kamcmd on the ctl socket"}`, () => {
    let t: TargetNode;
    let node: TargetNode["node"];
    let dir: string;
    let file: string;
    before(async () => {
      t = await targetNode({ prefix: "tdb", auth: AUTH, node: { listSource: "db" }, target: { transport } });
      ({ node, dir, file } = t);
    });
    after(async () => {
      await t?.dispose();
    });

    test("target check: the table is the durable list, runtime = table, the guard learned", async () => {
      const r = await runCli(["target", "check", "--target", file], { cwd: dir, timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(
        r.stdout,
        /list {12}table dispatcher of postgres:\/\/kamailio@127\.0\.1\.\d+:\d+\/kamailio: 1 destination/,
      );
      assert.match(r.stdout, /runtime = list {2}yes/);
      assert.match(r.stdout, /reload guard {4}active/);
      assert.ok(!(r.stdout + r.stderr).includes(node.db!.password));
    });

    test("migrate --target 0,50,100 on the users' calls: one transaction per step, new only in the table and at runtime", async () => {
      const callers = t.callers(RATE);
      let r: CliResult;
      try {
        r = await runCli(
          ["migrate", "--target", file, "--artifacts-dir", path.join(dir, "art"), "--steps", "0,50,100"],
          {
            cwd: dir,
            timeoutMs: 240_000,
          },
        );
      } finally {
        await callers.stop();
      }
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const res = JSON.parse(readFileSync(path.join(runDirOf(r), "results.json"), "utf8")) as {
        steps: { label: string; verdict: string }[];
      };
      assert.deepEqual(
        res.steps.map((p) => [p.label, p.verdict]),
        [
          ["old", "pass"],
          ["new=50%", "pass"],
          ["new", "pass"],
        ],
      );
      assert.deepEqual(node.db!.rows(), [`1 ${node.backends.new.uri} 0 0`]);
      const runtime = JSON.stringify(await node.rpc("dispatcher.list"));
      assert.ok(runtime.includes(node.backends.new.uri) && !runtime.includes(node.backends.old.uri), runtime);
      assert.ok(!(r.stdout + r.stderr).includes(node.db!.password));
      assert.ok(!artifactsText(runDirOf(r)).includes(node.db!.password), "the database password is in an artifact");
    });

    // the store is the same whatever the RPC: its fault once, over JSON-RPC
    if (transport === "http")
      test("the database goes away while a step's transaction is open: the table keeps its rows, never half (exit 3)", async () => {
        const before = node.db!.rows();
        const runtimeBefore = JSON.stringify(await node.rpc("dispatcher.list"));
        // another session has inserted (not committed) a row with the id the tool's first row will get:
        // the tool's transaction deletes every row, then its INSERT waits on that id; the database goes
        // away right then. Committed statement by statement, the table would be left empty (half a write).
        const holder = node.db!.hold(
          "BEGIN; INSERT INTO dispatcher (id, setid, destination) SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END, 99, 'sip:127.0.0.1:9' FROM dispatcher_id_seq; SELECT pg_sleep(120);",
        );
        try {
          await until(
            "the holder's uncommitted row",
            () =>
              node
                .db!.sql(
                  "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'BEGIN; INSERT%';",
                )
                .trim() === "1",
          );
          const apply = runCli(["apply", "--mode", "both", "--target", file], { cwd: dir, timeoutMs: 90_000 });
          await until(
            "the tool's transaction waiting on the lock",
            () =>
              node
                .db!.sql(
                  "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pbx-cutover' AND wait_event_type = 'Lock' AND xact_start IS NOT NULL;",
                )
                .trim() === "1",
          );
          await node.db!.crash();
          const r = await apply;
          assert.equal(r.code, 3, r.stdout + r.stderr);
          assert.match(
            r.stderr,
            /writing table dispatcher of postgres:\/\/kamailio@.* failed: .*the transaction did not commit/,
          );
          assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
          assert.ok(!(r.stdout + r.stderr).includes(node.db!.password));
        } finally {
          holder.kill("SIGKILL");
        }
        await node.db!.start();
        assert.deepEqual(node.db!.rows(), before, "the table holds the rows it had");
        assert.equal(JSON.stringify(await node.rpc("dispatcher.list")), runtimeBefore, "Kamailio was not reloaded");
        const check = await runCli(["target", "check", "--target", file], { cwd: dir, timeoutMs: 90_000 });
        assert.equal(check.code, 0, check.stdout + check.stderr);
      });
  });
