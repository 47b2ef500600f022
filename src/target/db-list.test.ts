import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entriesText } from "../dispatcher/list.js";
import {
  dbLockRow,
  psqlArgv,
  readRowsSql,
  replaceRowsSql,
  rowsToListText,
  sqlLiteral,
  dbTableStore,
} from "./db-list.js";
import { Secret } from "./secret.js";

const db = {
  host: "10.0.0.3",
  port: 5432,
  user: "kamailio",
  database: "kamailio",
  table: "dispatcher",
  password: new Secret("s3cr3t-pw", "file /etc/pbx-cutover/db.pw"),
  timeoutMs: 5000,
};

describe("the dispatcher table as a list", () => {
  it("a write is one statement list: every row deleted, the list's rows inserted in order, values as literals", () => {
    const sql = replaceRowsSql("dispatcher", [
      { setId: 1, uri: "sip:10.0.0.10:5060", flags: 8, priority: 0, attrs: "duid=o'brien;weight=90" },
      { setId: 1, uri: "sip:10.0.0.20:5060", flags: 0, priority: 2, attrs: undefined },
    ]);
    assert.equal(
      sql,
      [
        'DELETE FROM "dispatcher";',
        'INSERT INTO "dispatcher" (setid, destination, flags, priority, attrs, description) VALUES',
        "(1, 'sip:10.0.0.10:5060', 8, 0, 'duid=o''brien;weight=90', ''),",
        "(1, 'sip:10.0.0.20:5060', 0, 2, '', '');",
        "",
      ].join("\n"),
    );
    assert.equal(sqlLiteral("it's; DROP TABLE dispatcher; --"), "'it''s; DROP TABLE dispatcher; --'");
    assert.throws(() => sqlLiteral("a\nb"), /control character/);
  });

  it("rows read back (id order) are list lines; a list compares with them by its entries", () => {
    const text = rowsToListText(
      JSON.stringify([
        { setid: 1, destination: "sip:10.0.0.10:5060", flags: 8, priority: 0, attrs: "duid=a;weight=90" },
        { setid: 1, destination: "sip:10.0.0.20:5060", flags: 0, priority: 2, attrs: "" },
      ]),
    );
    assert.equal(text, "1 sip:10.0.0.10:5060 8 0 duid=a;weight=90\n1 sip:10.0.0.20:5060 0 2\n");
    const written =
      "# pbx-cutover profile: new=10%\n1  sip:10.0.0.10:5060 8 0 duid=a;weight=90\n\n1 sip:10.0.0.20:5060 0 2\n";
    assert.equal(entriesText(written), text);
    assert.match(readRowsSql("dispatcher"), /ORDER BY id\), '\[\]'::json\) FROM "dispatcher";$/);
  });

  it("psql: no psqlrc, stop on error, one transaction for a write, and no password in its argv", () => {
    const w = psqlArgv(db, true);
    assert.ok(w.includes("-X") && w.includes("ON_ERROR_STOP=1") && w.includes("--single-transaction"));
    assert.ok(!psqlArgv(db, false).includes("--single-transaction"));
    assert.ok(!w.join(" ").includes("s3cr3t-pw"));
    assert.match(w[w.indexOf("-d") + 1]!, /^host=10\.0\.0\.3 port=5432 user=kamailio dbname=kamailio /);
  });

  it("the password reaches psql in its environment only; a failed write says the transaction did not commit (exit 3)", async () => {
    const seen: { argv: readonly string[]; env: Record<string, string>; input?: string }[] = [];
    const store = dbTableStore(db, "node kam1", (env) => (argv, _t, input) => {
      seen.push({ argv, env, ...(input !== undefined ? { input } : {}) });
      return Promise.resolve({
        stdout: "",
        stderr: "psql: error: server closed the connection unexpectedly\n",
        code: 2,
      });
    });
    await assert.rejects(store.writeAtomic("1 sip:10.0.0.20:5060 0 0\n"), (e: Error & { exitCode?: number }) => {
      assert.equal(e.exitCode, 3);
      assert.match(
        e.message,
        /^node kam1: writing table dispatcher of postgres:\/\/kamailio@10\.0\.0\.3:5432\/kamailio failed: psql: error: server closed the connection unexpectedly; the transaction did not commit/,
      );
      return true;
    });
    assert.equal(seen[0]!.env.PGPASSWORD, "s3cr3t-pw");
    assert.ok(!seen[0]!.argv.join(" ").includes("s3cr3t-pw"));
    assert.match(seen[0]!.input ?? "", /^DELETE FROM "dispatcher";/);
  });

  it("the fleet lock row: created under an advisory lock (two first runs take turns), the holder's text one line, read back as a lock file's", async () => {
    const inputs: string[] = [];
    let reply = "created\n";
    const row = dbLockRow(db, "node kam1", () => (_argv, _t, input) => {
      inputs.push(input ?? "");
      return Promise.resolve({ stdout: reply, stderr: "", code: 0 });
    });
    assert.equal(
      row.location,
      "row dispatcher of table pbx_cutover_lock of postgres://kamailio@10.0.0.3:5432/kamailio",
    );
    assert.equal(await row.create('{"tool":"pbx-cutover","pid":7}\n'), true);
    assert.deepEqual(inputs[0]!.split("\n").slice(0, 3), [
      "SELECT pg_advisory_xact_lock(1885501539);",
      'CREATE TABLE IF NOT EXISTS "pbx_cutover_lock" (name text PRIMARY KEY, holder text NOT NULL);',
      `INSERT INTO "pbx_cutover_lock" (name, holder) VALUES ('dispatcher', '{"tool":"pbx-cutover","pid":7}') ON CONFLICT (name) DO NOTHING RETURNING 'created';`,
    ]);
    reply = "\n";
    assert.equal(await row.create("{}\n"), false, "the row was there");
    reply = "t\n";
    assert.equal(await row.read(), "t\n");
  });
});
