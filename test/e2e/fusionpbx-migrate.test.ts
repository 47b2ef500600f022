import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loginToFusionpbx, sessionGet } from "../../src/lab/fusionpbx/web-session.js";
import { fusionpbxFlags, fusionpbxSkip, INSTALL_TIMEOUT_MS } from "../support/fusionpbx-fixture.js";
import { labFixture, runProgram, type LabFixture } from "../support/lab-fixture.js";

/**
 * The data side of a 5.3 -> 5.5 migration on the real FusionPBX pair (installed once for the whole
 * file): the project's data set loaded into old, `fusionpbx migrate-data` carries it into new
 * (dump, restore, 5.5.7's schema upgrade and app defaults), `verify --parity` proves them equal and
 * catches each sabotage by the key a user knows, a plan requiring parity refuses to start, and
 * `migrate-data --undo` puts new's own database back.
 */

const SKIP = fusionpbxSkip();
if (SKIP) process.stdout.write(`# skipping the FusionPBX migration e2e: ${SKIP}\n`);

interface ParityJson {
  ok: boolean;
  compared: Record<string, number>;
  diffs: { kind: string; key: string; status: string; fields: { field: string; old: unknown; new: unknown }[] }[];
  ignored: Record<string, number>;
}

describe("FusionPBX data: seed old, migrate-data into new, parity, sabotage, undo", { skip: SKIP }, () => {
  let f: LabFixture;
  let fp: Awaited<ReturnType<typeof fusionpbxFlags>>;
  let creds: { username: string; password: string };

  /** SQL on new's database, as its owner, over the lab's socket (the sabotage: behind the tool's back) */
  const onNew = async (sql: string): Promise<void> => {
    const r = await runProgram(
      "/usr/bin/psql",
      ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", path.join(f.labDir, "postgres", "run"), "-p", String(fp.pg)].concat([
        "-U",
        "fusionpbx",
        "-d",
        "fusionpbx_new",
        "-c",
        sql,
      ]),
      { cwd: f.dir },
    );
    assert.equal(r.code, 0, r.stderr);
  };
  const parity = async (): Promise<{ code: number | null; out: string; json: ParityJson }> => {
    const r = await f.cli(["verify", "--parity", ...f.flags, "--artifacts-dir", "artifacts"]);
    const m = /^parity\.json: (.+)$/m.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    return { code: r.code, out: r.stdout, json: JSON.parse(readFileSync(m[1]!.trim(), "utf8")) as ParityJson };
  };
  const page = async (role: "old" | "new", p: string): Promise<string> => {
    const base = `http://127.0.0.1:${fp.http[role]}`;
    const s = await loginToFusionpbx(base, { username: creds.username, domain: "127.0.0.1", password: creds.password });
    assert.equal(s.ok, true, `${role}: ${s.chain} ${s.error ?? ""}`);
    const res = await sessionGet(base, p, s.cookie!);
    assert.equal(res.status, 200, p);
    return res.body;
  };

  before(async () => {
    f = await labFixture();
    fp = await fusionpbxFlags();
    const up = await f.cli(["lab", "up", ...f.flags, ...fp.flags, "--ready-timeout-ms", "60000", "--fusionpbx-seed"], {
      timeoutMs: INSTALL_TIMEOUT_MS,
    });
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /FusionPBX old: data set \S+seed-5\.3\.0\.sql loaded/);
    creds = JSON.parse(readFileSync(path.join(f.labDir, "fusionpbx-credentials.json"), "utf8")) as typeof creds;
  });
  after(async () => {
    await f.dispose();
  });

  test("the data set is in old (its own UI lists it) and not in new: parity fails, naming what new lacks", async () => {
    const ext = await page("old", "/app/extensions/extensions.php");
    for (const name of ["Bob Sales", "Carol Sales", "Dave Support"]) assert.ok(ext.includes(name), name);
    assert.ok((await page("old", "/app/gateways/gateways.php")).includes("carrier-a"));
    assert.ok(!(await page("new", "/app/extensions/extensions.php")).includes("Carol Sales"));
    const p = await parity();
    assert.equal(p.code, 1, p.out);
    assert.equal(p.json.ok, false);
    const missing = p.json.diffs.filter((d) => d.status === "missing").map((d) => `${d.kind} ${d.key}`);
    for (const want of [
      "domain branch.pbx.test",
      "extension 127.0.0.1 / 1001",
      "voicemail branch.pbx.test / 201",
      "gateway 127.0.0.1 / carrier-a",
      "dialplan 127.0.0.1 / us-long-distance",
      "dialplan public / +15551230100",
      "ring group 127.0.0.1 / 2000",
      "ivr menu 127.0.0.1 / 5000",
      "destination public / +15551230200",
    ]) {
      assert.ok(missing.includes(want), `${want} in ${missing.join(", ")}`);
    }
  });

  test("migrate-data: old copied into new, 5.5.7's upgrade run and reported; new's own UI lists old's data; parity passes", async () => {
    const m = await f.cli(["fusionpbx", "migrate-data", ...f.flags], { timeoutMs: 600_000 });
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.match(
      m.stdout,
      /copied fusionpbx_old \(FusionPBX 5\.3\.3\) into fusionpbx_new; after the upgrade it reports 5\.5\.7/,
    );
    assert.match(m.stdout, /column types changed \([1-9]\d*\): .*text -> boolean/);
    assert.match(m.stdout, /tables and views added \([1-9]\d*\): .*v_dashboards/);
    assert.match(m.stdout, /new's database before the copy: \S+before-migrate\.dump \(made now\)/);
    const ext = await page("new", "/app/extensions/extensions.php");
    for (const name of ["Bob Sales", "Carol Sales"]) assert.ok(ext.includes(name), `5.5.7 lists ${name}`);
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.match(st.stdout, /fusionpbx-new .*installed \(v_software 5\.5\.7, database fusionpbx_new\)/);
    const p = await parity();
    assert.equal(p.code, 0, p.out);
    assert.equal(p.json.ok, true);
    assert.deepEqual(
      [
        p.json.compared["extension"],
        p.json.compared["voicemail"],
        p.json.compared["gateway"],
        p.json.compared["ring group"],
      ],
      [7, 7, 1, 1],
    );
    assert.ok((p.json.ignored["schema-boolean"] ?? 0) > 0, "the boolean conversion is ignored by its rule");
    assert.match(p.out, /^parity: old and new hold the same configuration$/m);
  });

  test("sabotage: a gateway's proxy changed on new is caught (exit 1), by gateway name", async () => {
    await onNew("UPDATE v_gateways SET proxy = 'sip.other-carrier.test' WHERE gateway = 'carrier-a'");
    const p = await parity();
    assert.equal(p.code, 1, p.out);
    assert.deepEqual(p.json.diffs, [
      {
        kind: "gateway",
        key: "127.0.0.1 / carrier-a",
        status: "different",
        fields: [{ field: "proxy", old: "sip.carrier-a.test", new: "sip.other-carrier.test" }],
      },
    ]);
    assert.match(
      p.out,
      /gateway\s+127\.0\.0\.1 \/ carrier-a\s+different\s+proxy: sip\.carrier-a\.test -> sip\.other-carrier\.test/,
    );
    await onNew("UPDATE v_gateways SET proxy = 'sip.carrier-a.test' WHERE gateway = 'carrier-a'");
  });

  test("sabotage: a dialplan disabled on new is caught, by its name", async () => {
    await onNew("UPDATE v_dialplans SET dialplan_enabled = false WHERE dialplan_name = 'us-long-distance'");
    const p = await parity();
    assert.equal(p.code, 1, p.out);
    assert.deepEqual(
      p.json.diffs.map((d) => [d.kind, d.key, d.status, d.fields.map((x) => x.field)]),
      [["dialplan", "127.0.0.1 / us-long-distance", "different", ["dialplan_enabled"]]],
    );
    await onNew("UPDATE v_dialplans SET dialplan_enabled = true WHERE dialplan_name = 'us-long-distance'");
  });

  test("sabotage: an extension added only on new is reported extra", async () => {
    await onNew(
      "INSERT INTO v_extensions (extension_uuid, domain_uuid, extension, enabled) " +
        "SELECT gen_random_uuid(), domain_uuid, '1099', true FROM v_domains WHERE domain_name = '127.0.0.1'",
    );
    const p = await parity();
    assert.equal(p.code, 1, p.out);
    assert.deepEqual(
      p.json.diffs.map((d) => [d.kind, d.key, d.status]),
      [["extension", "127.0.0.1 / 1099", "extra"]],
    );
    await onNew("DELETE FROM v_extensions WHERE extension = '1099'");
  });

  test("sabotage: an extension deleted on new after the copy is missing; a plan requiring parity refuses to start", async () => {
    await onNew("DELETE FROM v_extensions WHERE extension = '1003'");
    const p = await parity();
    assert.equal(p.code, 1, p.out);
    assert.deepEqual(
      p.json.diffs.map((d) => [d.kind, d.key, d.status]),
      [["extension", "127.0.0.1 / 1003", "missing"]],
    );
    assert.match(p.out, /parity FAILED: 1 object missing, extra or different/);

    const plan = path.join(f.dir, "plan.yaml");
    writeFileSync(plan, "requires: [fusionpbx-parity]\nsteps: [0, 50, 100]\n");
    const dry = await f.cli(["migrate", ...f.flags, "--plan", plan, "--dry-run"]);
    assert.match(dry.stdout, /before the first step: fusionpbx-parity must hold/);
    const listBefore = readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8");
    const m = await f.cli(["migrate", ...f.flags, "--plan", plan, "--artifacts-dir", "artifacts"]);
    assert.equal(m.code, 1, m.stdout + m.stderr);
    assert.match(m.stderr, /the plan requires fusionpbx-parity and old and new FusionPBX differ; no step was run/);
    assert.match(m.stderr, /extension\s+127\.0\.0\.1 \/ 1003\s+missing on new/);
    assert.equal(readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"), listBefore, "routing untouched");
  });

  test("migrate-data --undo puts new's own database back (5.5.7, no data of old); a second copy keeps the first backup", async () => {
    const u = await f.cli(["fusionpbx", "migrate-data", "--undo", ...f.flags], { timeoutMs: 600_000 });
    assert.equal(u.code, 0, u.stdout + u.stderr);
    assert.match(u.stdout, /new's database put back from \S+before-migrate\.dump \(FusionPBX 5\.5\.7\)/);
    assert.ok(!(await page("new", "/app/extensions/extensions.php")).includes("Carol Sales"));
    const p = await parity();
    assert.equal(p.code, 1, p.out);
    const again = await f.cli(["fusionpbx", "migrate-data", ...f.flags], { timeoutMs: 600_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /before-migrate\.dump \(kept from the first copy\)/);
    assert.equal((await parity()).code, 0);
  });
});
