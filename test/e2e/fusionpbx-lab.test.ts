import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { listProcs } from "../../src/os/ownership.js";
import { isTcpFree } from "../../src/os/ports.js";
import { isAlive } from "../../src/os/process.js";
import { probeFusionpbxPage } from "../../src/verify/fusionpbx-page.js";
import { fusionpbxFlags, fusionpbxSkip, INSTALL_TIMEOUT_MS } from "../support/fusionpbx-fixture.js";
import { CLI, labFixture, runProgram, type LabFixture } from "../support/lab-fixture.js";
import { launchBrowser } from "../support/browser.js";
import { loginToFusionpbx } from "../../src/lab/fusionpbx/web-session.js";

/** the dashboards' screenshots, kept after the run */
export const FUSIONPBX_SHOTS = path.join(os.tmpdir(), "pbx-cutover-fusionpbx-e2e");

/**
 * The native lab with the whole real-services stack: FreeSWITCH 1.10.3 / 1.10.12 and FusionPBX
 * 5.3.0 / 5.5.7 (PHP's server, each in its own mount namespace) backed by a PostgreSQL in the lab
 * dir, from the trees `make real-services` installed (make test runs it first).
 */

const SKIP = fusionpbxSkip();
if (SKIP) process.stdout.write(`# skipping the FusionPBX lab e2e: ${SKIP}\n`);

interface StatusJson {
  running: boolean;
  components: { role: string; pid: number; alive: boolean; state: string; version: string; address: string }[];
}
interface VerifyJson {
  verdict: string;
  findings: { check: string; message: string }[];
  components: {
    component: string;
    version?: string;
    versionText: string;
    source: string;
    status?: string;
    reachable: boolean | string;
  }[];
}

function verifyJson(stdout: string): VerifyJson {
  const m = /^verify\.json: (.+)$/m.exec(stdout);
  assert.ok(m, stdout);
  return JSON.parse(readFileSync(m[1]!.trim(), "utf8")) as VerifyJson;
}

/** Processes of the lab's services whose command line names `dir`, or in the process group of a recorded pid. */
function servicesUnder(dir: string, groups: readonly number[] = []): string[] {
  return listProcs()
    .filter((p) => ["postgres", "unshare", "freeswitch"].includes(p.comm) || /^php/.test(p.comm))
    .filter((p) => p.cmdline.some((a) => a.includes(dir)) || groups.includes(p.pgid))
    .map((p) => `${p.pid} ${p.comm} ${p.cmdline.join(" ").slice(0, 100)}`);
}

function hostMountPointsEmpty(): void {
  for (const d of ["/var/www/fusionpbx", "/etc/fusionpbx"]) {
    if (existsSync(d)) assert.deepEqual(readdirSync(d), [], `${d} on the host stays an empty mount point`);
  }
}

describe("native lab with FreeSWITCH and FusionPBX: up, status, verify, down", { skip: SKIP }, () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
    assert.deepEqual(servicesUnder(f.dir), [], "no FreeSWITCH, PostgreSQL, PHP left behind");
  });

  test("both FusionPBX versions installed: login reaches each dashboard (HTTP session and Chromium), status and verify say installed and the version each reports", async () => {
    const fp = await fusionpbxFlags();
    const all = [...f.flags, ...fp.flags];
    const up = await f.cli(["lab", "up", ...all, "--ready-timeout-ms", "60000"], { timeoutMs: INSTALL_TIMEOUT_MS });
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, new RegExp(`started postgres\\s+127\\.0\\.0\\.1:${fp.pg}/tcp`));
    assert.match(up.stdout, new RegExp(`started fusionpbx-old 127\\.0\\.0\\.1:${fp.http.old}/tcp`));
    assert.match(
      up.stdout,
      /FusionPBX old 5\.3\.3 (installed|restored) in [\d.]+ s \(database fusionpbx_old, domain 127\.0\.0\.1\); admin login reaches the dashboard/,
    );
    assert.match(up.stdout, /FusionPBX new 5\.5\.7 (installed|restored) in [\d.]+ s \(database fusionpbx_new/);

    // PostgreSQL lives in the lab dir: data made by initdb, its password 0600, its socket dir 0700
    const pgDir = path.join(f.labDir, "postgres");
    assert.ok(existsSync(path.join(pgDir, "data", "PG_VERSION")));
    assert.equal(statSync(path.join(pgDir, "password")).mode & 0o777, 0o600);
    assert.ok(
      readdirSync(path.join(pgDir, "run")).some((e) => e === `.s.PGSQL.${fp.pg}`),
      "unix socket in the lab dir",
    );
    // the generated admin credentials: 0600 in the lab dir, never printed; each slot's config.conf 0600
    const credsFile = path.join(f.labDir, "fusionpbx-credentials.json");
    assert.equal(statSync(credsFile).mode & 0o777, 0o600);
    const creds = JSON.parse(readFileSync(credsFile, "utf8")) as { username: string; password: string };
    assert.ok(creds.password.length >= 16);
    assert.ok(!(up.stdout + up.stderr).includes(creds.password), "the admin password is never printed");
    for (const role of ["old", "new"]) {
      const conf = path.join(f.labDir, `fusionpbx-${role}`, "etc", "config.conf");
      assert.equal(statSync(conf).mode & 0o777, 0o600);
      assert.match(readFileSync(conf, "utf8"), new RegExp(`^database\\.0\\.name = fusionpbx_${role}$`, "m"));
    }

    // each slot answers / with its own tree's login page (5.5.7 renders only inside its namespace)
    for (const role of ["old", "new"] as const) {
      const page = await probeFusionpbxPage(`http://127.0.0.1:${fp.http[role]}/`);
      assert.equal(page.page, "login", `${role}: ${page.chain} ${page.error ?? ""}`);
      assert.match(page.chain, /^302 -> \/login\.php, 200$/);
    }
    hostMountPointsEmpty();
    // 5.5.7 caches its class map in PHP's temp dir: the slot's own, not the host's /tmp (shared by every instance)
    assert.ok(
      existsSync(path.join(f.labDir, "fusionpbx-new", "tmp", "autoloader_cache.php")),
      "5.5.7's class map cache in its own temp dir",
    );

    // an HTTP client session logs in with the lab's credentials and reaches each dashboard; a wrong password does not
    for (const role of ["old", "new"] as const) {
      const base = `http://127.0.0.1:${fp.http[role]}`;
      const ok = await loginToFusionpbx(base, {
        username: creds.username,
        domain: "127.0.0.1",
        password: creds.password,
      });
      assert.equal(ok.ok, true, `${role}: ${ok.chain} ${ok.error ?? ""}`);
      assert.match(
        ok.chain,
        /POST \/login\.php 302 -> \/core\/dashboard\/, GET \/core\/dashboard\/ 200 \(Dashboard - FusionPBX\)$/,
      );
      const bad = await loginToFusionpbx(base, { username: creds.username, domain: "127.0.0.1", password: "wrong" });
      assert.equal(bad.ok, false, `${role}: a wrong password must not reach the dashboard (${bad.chain})`);
    }
    // and a real browser, through the login form, to each dashboard: one screenshot each
    mkdirSync(FUSIONPBX_SHOTS, { recursive: true });
    const browser = await launchBrowser();
    try {
      for (const role of ["old", "new"] as const) {
        const page = await browser.context.newPage();
        await page.goto(`http://127.0.0.1:${fp.http[role]}/login.php`);
        await page.fill("input[name=username]", `${creds.username}@127.0.0.1`);
        await page.fill("input[name=password]", creds.password);
        await Promise.all([page.waitForURL(/\/core\/dashboard\//), page.click("#btn_login")]);
        assert.match(await page.title(), /^Dashboard - FusionPBX/);
        await page.screenshot({ path: path.join(FUSIONPBX_SHOTS, `${role}-dashboard.png`), fullPage: false });
        await page.close();
      }
    } finally {
      await browser.close();
    }

    const st = await f.cli(["lab", "status", "--json", ...f.flags]);
    assert.equal(st.code, 0, st.stdout + st.stderr);
    const status = JSON.parse(st.stdout) as StatusJson;
    assert.deepEqual(
      status.components.map((c) => [c.role, c.state]),
      [
        ["kamailio", "alive"],
        ["old", "alive"],
        ["new", "alive"],
        ["postgres", "alive"],
        ["fusionpbx-old", "alive"],
        ["fusionpbx-new", "alive"],
      ],
    );
    const version = (role: string): string => status.components.find((c) => c.role === role)!.version;
    assert.match(version("postgres"), /^PostgreSQL \d+\.\d+/);
    assert.match(
      version("fusionpbx-old"),
      /^FusionPBX 5\.3\.3 \(software\.php\) installed \(v_software 5\.3\.3, database fusionpbx_old\), login page/,
    );
    assert.match(
      version("fusionpbx-new"),
      /^FusionPBX 5\.5\.7 \(software\.php\) installed \(v_software 5\.5\.7, database fusionpbx_new\), login page/,
    );
    const human = await f.cli(["lab", "status", ...f.flags]);
    assert.match(
      human.stdout,
      new RegExp(`fusionpbx-new\\s+127\\.0\\.0\\.1:${fp.http.new}/tcp\\s+\\d+\\s+alive\\s+FusionPBX 5\\.5\\.7`),
    );

    const v = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const vj = verifyJson(v.stdout);
    const row = (component: string) => {
      const r = vj.components.find((c) => c.component === component);
      assert.ok(r, `row ${component}: ${vj.components.map((c) => c.component).join(", ")}`);
      return r;
    };
    assert.deepEqual(
      [row("old FusionPBX (code)").version, row("old FusionPBX (code)").source],
      ["5.3.3", "software.php of the served tree"],
    );
    assert.deepEqual(
      [row("new FusionPBX (code)").version, row("new FusionPBX (code)").source],
      ["5.5.7", "software.php of the served tree"],
    );
    assert.equal(row("old FusionPBX (installed)").version, "5.3.3");
    assert.equal(row("new FusionPBX (installed)").version, "5.5.7");
    for (const role of ["old", "new"]) {
      const http = row(`${role} FusionPBX (HTTP)`);
      assert.equal(http.reachable, true);
      assert.equal(http.status, "302 -> /login.php, 200");
      assert.equal(http.versionText, "login page (HTTP gives no version)");
    }
    assert.equal(row("old FreeSWITCH (event socket)").version, "1.10.3");

    // the FusionPBX web server of new stopped behind the tool's back: verify says so (exit 3), names it
    const web = status.components.find((c) => c.role === "fusionpbx-new")!;
    process.kill(-web.pid, "SIGTERM");
    const deadline = Date.now() + 5000;
    while (isAlive(web.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const v2 = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
    assert.equal(v2.code, 3, v2.stdout + v2.stderr);
    assert.match(v2.stdout + v2.stderr, /new FusionPBX \(HTTP\) at http:\/\/127\.0\.0\.1:\d+\/ is unreachable/);

    const pids = status.components.map((c) => c.pid);
    const down = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(down.code, 0, down.stdout + down.stderr);
    assert.match(down.stdout, /stopped postgres pid \d+: stopped/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} gone after down`);
    assert.deepEqual(servicesUnder(f.dir, pids), [], "no PostgreSQL child, PHP or unshare left");
    for (const port of [fp.pg, fp.http.old, fp.http.new])
      assert.ok(await isTcpFree("127.0.0.1", port), `port ${port} free`);
    assert.ok(existsSync(path.join(pgDir, "data", "PG_VERSION")), "the database is kept for the next start");
    hostMountPointsEmpty();

    // up again on the same lab dir: both installs kept; new's database dropped behind the tool's back: not installed
    const again = await f.cli(["lab", "up", ...all], { timeoutMs: INSTALL_TIMEOUT_MS });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /FusionPBX old 5\.3\.3 kept in/);
    assert.match(again.stdout, /FusionPBX new 5\.5\.7 kept in/);
    const drop = await runProgram(
      "/usr/bin/psql",
      [
        "-X",
        "-q",
        "-h",
        path.join(pgDir, "run"),
        "-p",
        String(fp.pg),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-c",
        "DROP DATABASE fusionpbx_new WITH (FORCE)",
      ],
      { cwd: f.dir },
    );
    assert.equal(drop.code, 0, drop.stderr);
    const st2 = await f.cli(["lab", "status", ...f.flags]);
    assert.match(
      st2.stdout,
      /fusionpbx-new .*FusionPBX 5\.5\.7 \(software\.php\) not installed \(no database fusionpbx_new\)/,
    );
    assert.match(st2.stdout, /fusionpbx-old .*FusionPBX 5\.3\.3 \(software\.php\) installed/);
    const v3 = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
    assert.equal(v3.code, 3, v3.stdout + v3.stderr);
    assert.match(
      v3.stdout + v3.stderr,
      /new FusionPBX \(installed\) at postgresql:\/\/\S+ is unreachable: not installed: no database fusionpbx_new/,
    );
  });
});

describe("native lab with FusionPBX: same version in both slots, lab.json lost, Ctrl-C", { skip: SKIP }, () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
    assert.deepEqual(servicesUnder(f.dir), [], "no FreeSWITCH, PostgreSQL, PHP left behind");
  });

  test("5.5.7 in both slots: verify fails with exit 1 naming the same FusionPBX version; lab.json deleted: lab down still stops everything", async () => {
    const fp = await fusionpbxFlags({ old: "5.5.7" });
    const up = await f.cli(["lab", "up", ...f.flags, ...fp.flags, "--ready-timeout-ms", "60000"], {
      timeoutMs: INSTALL_TIMEOUT_MS,
    });
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const state = JSON.parse(readFileSync(path.join(f.labDir, "lab.json"), "utf8")) as {
      components: { pid: number }[];
    };
    const pids = state.components.map((c) => c.pid);
    try {
      const v = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
      assert.equal(v.code, 1, v.stdout + v.stderr);
      assert.match(v.stdout, /FAIL: old and new report the same fusionpbx version 5\.5\.7/);
      assert.equal(verifyJson(v.stdout).verdict, "fail");
    } finally {
      rmSync(path.join(f.labDir, "lab.json"));
      const down = await f.cli(["lab", "down", ...f.flags]);
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.match(down.stdout, /found this lab's processes by their command line/);
      assert.match(down.stdout, /stopped postgres\s+pid \d+/);
      assert.match(down.stdout, /stopped fusionpbx-old pid \d+/);
    }
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} gone after down`);
    assert.deepEqual(servicesUnder(f.dir, pids), []);
  });

  test("Ctrl-C while FusionPBX starts: exit 130, PostgreSQL, PHP and FreeSWITCH all stopped", async () => {
    const fp = await fusionpbxFlags();
    const child = spawn(process.execPath, [CLI, "lab", "up", ...f.flags, ...fp.flags, "--ready-timeout-ms", "60000"], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    // interrupt as soon as the web servers exist (before they are ready)
    const deadline = Date.now() + 30_000;
    const webs = (): number =>
      listProcs().filter(
        (p) => (/^php/.test(p.comm) || p.comm === "unshare") && p.cmdline.some((a) => a.includes(f.dir)),
      ).length;
    while (webs() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const before = listProcs()
      .filter((p) => p.cmdline.some((a) => a.includes(f.dir)))
      .map((p) => p.pgid);
    assert.ok(webs() >= 2, stderr);
    child.kill("SIGINT");
    const code = await closed;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted by SIGINT/);
    assert.deepEqual(servicesUnder(f.dir, before), []);
    assert.equal(existsSync(path.join(f.labDir, "lab.json")), false);
  });
});
