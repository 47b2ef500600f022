/**
 * A fleet on one shared database table: three "production" nodes whose Kamailios all read the same
 * dispatcher table (db_postgres) in one PostgreSQL the test starts, users calling through each. The
 * test's own instrument on the table (a deferred trigger) records every commit that touched it: how
 * many rows the table held after it, and in which transaction.
 * - migrate --target passes: each step is one transaction on the table, every node reloaded and
 *   read back, the per-node table and the skew in the output and results.json;
 * - a second migrate from another state dir while the first runs is refused (exit 3) naming the
 *   holder of the lock row in `pbx_cutover_lock`; the row is gone once the first run ends;
 * - a stale lock row (its pid gone on this host; a host that stopped renewing) is named and refused;
 *   --take-over-stale-lock takes it over;
 * - the tool's connection is terminated (pg_terminate_backend) while step 2's transaction waits in
 *   it, between its DELETE and its INSERT: no commit ever left the table empty, it holds step 1's
 *   rows, every node is verified on step 1 (exit 4, the per-node table);
 * - target files mixing the table with list files, or naming two tables: exit 2, nothing changed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { runCli } from "../support/lab-fixture.js";
import type { NodeAuth, NodeDb } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { startCli, stopStartedClis, until as untilOk, type RunningCli } from "../support/running-cli.js";
import {
  appliedIn,
  assertStepPutBackOnOld,
  runtimeUris,
  targetFleet,
  untilWhileRunning,
  type TargetFleet,
} from "../support/target-fleet.js";
import { OLD_ATTRS } from "../support/target-node.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-db-8Rv" };
const NAMES = ["kam1", "kam2", "kam3"] as const;

interface FleetStep {
  ok: boolean;
  label: string;
  consistent?: boolean;
  skew?: { skewMs: number; boundMs: number };
  cause?: { node: string; stage: string; reason: string };
  nodes: { name: string; result: string; routing: string; location: string; restore?: { verified: boolean } }[];
}
interface Results {
  status: string;
  exitCode: number;
  steps: { label: string; verdict: string; fleet?: FleetStep }[];
}

/** users call through every node; step 2 holds as long as a test needs */
const PLAN = [
  "defaults:",
  "  hold: { durationS: 1, minCalls: 10 }",
  "steps:",
  "  - weightNew: 0",
  "    hold: { durationS: HOLD1, minCalls: 10 }",
  "  - 50",
  "  - 100",
  "",
].join("\n");

function migrate(f: TargetFleet, o: { hold1?: number; file?: string; dir?: string } = {}): RunningCli {
  const dir = o.dir ?? f.dir;
  const plan = path.join(dir, "plan.yaml");
  writeFileSync(plan, PLAN.replace("HOLD1", String(o.hold1 ?? 1)));
  return startCli({ dir }, [
    "migrate",
    "--target",
    o.file ?? f.file,
    "--artifacts-dir",
    path.join(dir, "art"),
    "--plan",
    plan,
  ]);
}

const resultsOf = (run: RunningCli): Results =>
  JSON.parse(readFileSync(path.join(runDirOf(run.out()), "results.json"), "utf8")) as Results;

/**
 * The test's instrument: at every commit that inserted or deleted rows of the dispatcher table, the
 * rows it held then and the transaction (a deferred constraint trigger runs at commit).
 */
function instrument(db: NodeDb): void {
  db.sql(
    [
      "CREATE TABLE harness_commits (txid bigint NOT NULL, n bigint NOT NULL);",
      "CREATE FUNCTION harness_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN",
      "  INSERT INTO harness_commits SELECT txid_current(), count(*) FROM dispatcher; RETURN NULL; END $$;",
      "CREATE CONSTRAINT TRIGGER harness_seen AFTER INSERT OR DELETE ON dispatcher",
      "  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION harness_seen();",
      "",
    ].join("\n"),
  );
}
const commits = (db: NodeDb): { transactions: number; empty: number } => {
  const [t, e] = db
    .sql("SELECT count(DISTINCT txid), count(*) FILTER (WHERE n = 0) FROM harness_commits;")
    .trim()
    .split("|");
  return { transactions: Number(t), empty: Number(e) };
};

/** the lock row's holder, or undefined (no row, or no lock table yet) */
const lockRow = (db: NodeDb): string | undefined => {
  let out: string;
  try {
    out = db.sql("SELECT holder FROM pbx_cutover_lock WHERE name = 'dispatcher';");
  } catch (err) {
    if (/relation "pbx_cutover_lock" does not exist/.test((err as Error).message)) return undefined;
    throw err;
  }
  return out.trim() === "" ? undefined : out.trim();
};

/** every node routes by `uri` alone, at runtime; the table holds its row */
async function everyNodeOn(f: TargetFleet, row: string): Promise<void> {
  const uri = row.split(" ")[1]!;
  for (const [i, n] of f.nodes.entries()) assert.deepEqual(await runtimeUris(n), [uri], NAMES[i]);
  assert.deepEqual(f.nodes[0]!.db!.rows(), [row]);
}

/** the per-node table as the output prints it: every node on `routing` */
function assertTable(out: string, routing: string): void {
  for (const name of NAMES)
    assert.match(out, new RegExp(`^(migrate: )? {2}node ${name} {2}routes by ${routing} `, "m"), `${name} in\n${out}`);
}

/** a pid that no process has now (a child that ran and was reaped) */
function deadPid(): number {
  const r = spawnSync("/bin/true");
  return r.pid;
}

describe("a fleet of three nodes on one shared dispatcher table (PostgreSQL)", () => {
  let f: TargetFleet;
  let db: NodeDb;
  let OLD: string;
  let NEW: string;
  before(async () => {
    // every node keeps Kamailio's default reload_delta (5 s): the tool waits it out
    f = await targetFleet({ prefix: "fleet-db", auth: AUTH, sharedTable: true });
    db = f.nodes[0]!.db!;
    OLD = f.nodes[0]!.backends.old.uri;
    NEW = f.nodes[0]!.backends.new.uri;
    instrument(db);
    f.callers(10);
  });
  after(async () => {
    stopStartedClis();
    await f?.dispose();
  });

  test("migrate --target passes: one transaction per step on the table, every node verified; a second migrate is refused naming the lock row's holder", async (t) => {
    const run = migrate(f, { hold1: 3 });
    // a failed assertion stops the run: the next test needs the fleet's lock free
    t.after(async () => {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill("SIGTERM");
      await run.closed;
    });
    await untilWhileRunning(run, "the lock row", () => lockRow(db) !== undefined);
    const held = JSON.parse(lockRow(db)!) as { tool: string; pid: number; host: string };
    assert.deepEqual([held.tool, held.host], ["pbx-cutover", os.hostname()]);
    // another operator's migrate on the same fleet while this one runs (another state dir: another machine's)
    const elsewhere = path.join(f.dir, "elsewhere");
    mkdirSync(elsewhere);
    const other = path.join(elsewhere, "target.yaml");
    writeFileSync(
      other,
      readFileSync(f.file, "utf8").replace(/^stateDir: .*$/m, `stateDir: ${path.join(elsewhere, "state")}`),
    );
    const second = migrate(f, { file: other, dir: elsewhere });
    const secondCode = await second.closed;
    assert.equal(secondCode, 3, second.out() + second.err());
    assert.match(
      second.err(),
      new RegExp(
        `the fleet is locked by another run: node kam1's lock row dispatcher of table pbx_cutover_lock of postgres://kamailio@\\S+/kamailio is held by pid ${held.pid} on host ${os.hostname()} \\(pbx-cutover migrate\\), since \\S+Z`,
      ),
    );
    assert.match(second.err(), /SELECT holder FROM pbx_cutover_lock WHERE name = 'dispatcher'/);
    assert.doesNotMatch(second.out(), /run folder/, "refused before any run started");

    const code = await run.closed;
    const out = run.out() + run.err();
    for (const l of run
      .out()
      .split("\n")
      .filter((l) => /fleet|node kam|skew/.test(l)))
      t.diagnostic(l);
    assert.equal(code, 0, out);
    assert.equal(run.child.pid, held.pid, "the lock row named the first run");
    const res = resultsOf(run);
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "pass"],
      ],
    );
    for (const s of res.steps.slice(1)) {
      const fl = s.fleet!;
      assert.deepEqual(
        fl.nodes.map((n) => [n.name, n.result, n.routing]),
        NAMES.map((name) => [name, "applied", s.label]),
        s.label,
      );
      assert.equal(new Set(fl.nodes.map((n) => n.location)).size, 1, "one table for every node");
      assert.ok(fl.skew && fl.skew.skewMs >= 0 && fl.skew.boundMs >= fl.skew.skewMs, JSON.stringify(fl.skew));
    }
    for (const label of ["new=50%", "new"]) {
      assert.match(
        run.out(),
        new RegExp(`${label} on the fleet: every node verified; skew \\d+\\.\\d ms \\(kam\\d first, kam\\d last`),
      );
      assertTable(run.out(), label);
    }
    // two steps changed the table: two transactions, none left it empty
    assert.deepEqual(commits(db), { transactions: 2, empty: 0 });
    await everyNodeOn(f, `1 ${NEW} 0 0`);
    assert.equal(lockRow(db), undefined, "the lock row is gone after the run");
  });

  test("bad input: the table mixed with list files, or two tables: exit 2, nothing changed", async () => {
    const before = db.rows();
    const doc = readFileSync(f.file, "utf8");
    const edit = (change: (d: { nodes: { list: Record<string, unknown> }[] }) => void): string => {
      const d = parseYaml(doc) as { nodes: { list: Record<string, unknown> }[] };
      change(d);
      return stringifyYaml(d);
    };
    const cases: [string, string, RegExp][] = [
      [
        "mixed.yaml",
        edit((d) => (d.nodes[1]!.list = { file: { path: f.nodes[1]!.listFile } })),
        /nodes\[1\]\.list\.file: node kam1 reads a database table; a fleet is either a list file per node or one shared table/,
      ],
      [
        "two-tables.yaml",
        edit((d) => ((d.nodes[2]!.list.db as Record<string, unknown>).table = "dispatcher_kam3")),
        /nodes\[2\]\.list\.db: names \S+ table dispatcher_kam3, node kam1 \S+ table dispatcher; the nodes of a fleet on a database table share one table/,
      ],
    ];
    for (const [name, text, why] of cases) {
      const file = path.join(f.dir, name);
      writeFileSync(file, text);
      const r = await runCli(["apply", "--mode", "new", "--target", file], { cwd: f.dir, timeoutMs: 60_000 });
      assert.equal(r.code, 2, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, why, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    assert.deepEqual(db.rows(), before);
    assert.equal(lockRow(db), undefined);
  });

  test("a stale lock row (its pid gone on this host; a host that stopped renewing) is named and refused; --take-over-stale-lock takes it over", async () => {
    const now = Date.now();
    const holder = (host: string, pid: number, renewedAgoMs: number): string =>
      JSON.stringify({
        tool: "pbx-cutover",
        fleet: "harness",
        host,
        pid,
        command: "pbx-cutover migrate",
        startedAt: new Date(now - 600_000).toISOString(),
        renewedAt: new Date(now - renewedAgoMs).toISOString(),
        token: "0123456789abcdef",
      });
    const put = (text: string): void => {
      db.sql(
        // as a DBA would create it beforehand
        "CREATE TABLE IF NOT EXISTS pbx_cutover_lock (name text PRIMARY KEY, holder text NOT NULL);\n" +
          `INSERT INTO pbx_cutover_lock (name, holder) VALUES ('dispatcher', '${text}') ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder;`,
      );
    };
    const before = db.rows();
    const dead = deadPid();
    put(holder(os.hostname(), dead, 1000));
    const refused = await runCli(["apply", "--mode", "old", "--target", f.file], { cwd: f.dir, timeoutMs: 60_000 });
    assert.equal(refused.code, 3, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `the fleet lock on node kam1 \\(row dispatcher of table pbx_cutover_lock of \\S+\\) is stale: held by pid ${dead} on host ${os.hostname()} \\(pbx-cutover migrate\\), since \\S+, but its holder pid ${dead} is gone; nothing was changed`,
      ),
    );
    assert.match(refused.stderr, /--take-over-stale-lock/);
    put(holder("ops-elsewhere", 4242, 600_000));
    const far = await runCli(["apply", "--mode", "old", "--target", f.file], { cwd: f.dir, timeoutMs: 60_000 });
    assert.equal(far.code, 3, far.stdout + far.stderr);
    assert.match(
      far.stderr,
      /is stale: held by pid 4242 on host ops-elsewhere \(pbx-cutover migrate\), since \S+, but it was last renewed \d+ s ago/,
    );
    assert.deepEqual(db.rows(), before, "nothing changed while refused");

    const taken = await runCli(["apply", "--mode", "old", "--target", f.file, "--take-over-stale-lock"], {
      cwd: f.dir,
      timeoutMs: 90_000,
    });
    assert.equal(taken.code, 0, taken.stdout + taken.stderr);
    assert.match(
      taken.stderr,
      /fleet lock: took over node kam1's stale lock \(pid 4242 on host ops-elsewhere .*last renewed \d+ s ago/,
    );
    assert.match(
      taken.stderr,
      /fleet lock: held on 3 nodes \(row dispatcher of table pbx_cutover_lock of [^,]+\) by pid/,
    );
    assert.match(taken.stdout, /on 3 nodes: every node verified/);
    await everyNodeOn(f, `1 ${OLD} 0 0 ${OLD_ATTRS}`);
    assert.equal(lockRow(db), undefined, "the taken-over lock is let go after the run");
  });
});

describe("a fleet on one shared table: the tool's connection terminated mid-transaction", () => {
  let f: TargetFleet;
  after(async () => {
    stopStartedClis();
    await f?.dispose();
  });

  test("step 2's transaction killed between its DELETE and its INSERT: the table never empty, step 1's rows; exit 4, every node verified on old", async (t) => {
    f = await targetFleet({
      prefix: "fleet-db-drop",
      auth: AUTH,
      sharedTable: true,
      node: () => ({ reloadDelta: 0 }),
    });
    const db = f.nodes[0]!.db!;
    instrument(db);
    f.callers(10);
    const OLD = f.nodes[0]!.backends.old.uri;
    const rowsBefore = db.rows();
    assert.deepEqual(rowsBefore, [`1 ${OLD} 0 0 ${OLD_ATTRS}`]);
    const run = migrate(f, { hold1: 5 });
    await untilWhileRunning(run, "step 1 applied", () => appliedIn(run, "old"));
    // another session inserts (and does not commit) the row id the tool's first INSERT will take: the
    // tool's transaction deletes every row, then waits on that id
    const holder = db.hold(
      "BEGIN; INSERT INTO dispatcher (id, setid, destination) SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END, 99, 'sip:127.0.0.1:9' FROM dispatcher_id_seq; SELECT pg_sleep(600);",
    );
    let pid = "";
    try {
      await untilOk(
        "the holder's uncommitted row",
        () =>
          db
            .sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND query LIKE 'BEGIN; INSERT%';")
            .trim() === "1",
      );
      assert.ok(!appliedIn(run, "new=50%"), "step 2 was not applied before the holder was there");
      await untilWhileRunning(run, "the tool's INSERT waiting in its transaction", () => {
        pid = db
          .sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'pbx-cutover' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"dispatcher\"%';",
          )
          .trim();
        return /^\d+$/.test(pid);
      });
      assert.equal(db.sql(`SELECT pg_terminate_backend(${pid});`).trim(), "t");
    } finally {
      holder.kill("SIGKILL");
    }
    const code = await run.closed;
    const out = run.out() + run.err();
    for (const l of out.split("\n").filter((l) => /fleet|node kam|terminat/.test(l))) t.diagnostic(l);
    assert.equal(code, 4, out);
    assert.match(
      run.err(),
      /applying new=50% to the fleet failed on node kam1 at write: .*writing table dispatcher of postgres:\/\/\S+ failed: .*terminat.*; the transaction did not commit: the table holds the rows it had; every node was put back on old and verified at runtime/,
    );
    assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
    assertTable(run.out(), "old");
    const res = resultsOf(run);
    assert.deepEqual([res.status, res.exitCode], ["fail", 4]);
    assertStepPutBackOnOld(res.steps[1]!, "new=50%", { node: "kam1", stage: "write" }, NAMES);
    assert.equal(commits(db).empty, 0, "a commit left the table empty");
    assert.deepEqual(db.rows(), rowsBefore);
    for (const [i, n] of f.nodes.entries()) assert.deepEqual(await runtimeUris(n), [OLD], NAMES[i]);
    assert.equal(lockRow(db), undefined, "the lock row is gone after the run");
  });
});
