/**
 * migrate --web end to end: a real `migrate --steps 0,50,100 --web` on the real Kamailio (its
 * reload_delta at Kamailio's default 5 s, so the steps are seconds apart as on a production proxy:
 * the step that only lasts as long as the final check may pass unseen, the others do not),
 * watched by Debian's Chromium: the live page shows the plan's steps change; the run's report.html,
 * opened from disk with the network off, shows the same timeline; bad --web input.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../support/browser.js";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { PROBE_SCRIPT, type Seen, type Shown } from "../support/page-probe.js";

/** screenshots of the pages, kept after the run (beside web.test.ts's) */
const WEB_SHOTS = path.join(os.tmpdir(), "pbx-cutover-web-e2e");

type Probed = { __pbx: { shown(): Shown; seen: Seen[] } };
const shownOn = (p: Page): Promise<Shown> => p.evaluate(() => (globalThis as unknown as Probed).__pbx.shown());

describe("migrate --web: the plan's timeline, live and in report.html", () => {
  let f: LabFixture;
  let browser: TestBrowser;
  let runDir = "";
  before(async () => {
    mkdirSync(WEB_SHOTS, { recursive: true });
    [f, browser] = await Promise.all([labFixture(), launchBrowser()]);
    // Kamailio's default reload_delta: a reload within 5 s of the previous one is refused, the tool waits
    const up = await f.cli(["lab", "up", ...f.flags, "--reload-delta", "5"]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await browser?.close();
    await f?.dispose();
  });

  test("migrate --steps 0,50,100 --web: the live page shows the step change, every step passed at the end", async () => {
    // a reload just now (list: both): step 1 (old) waits out reload_delta, and so does every later step,
    // so each step is live for about 5 s, long enough for a page on a loaded machine to see it
    const both = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(both.code, 0, both.stderr);
    const child = spawn(process.execPath, [CLI, "migrate", ...f.flags, "--steps", "0,50,100", "--web"], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /live view at (http:\/\/127\.0\.0\.1:\d+\/) \(read-only\)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`migrate ended before printing the URL:\n${stdout}\n${stderr}`)));
    });
    try {
      const page = await browser.context.newPage();
      await page.addInitScript(PROBE_SCRIPT);
      await page.goto(url);
      await page.waitForFunction(() => (globalThis as unknown as Probed).__pbx.shown().ended, undefined, {
        timeout: 120_000,
      });
      assert.equal(await exited, 0, stdout + stderr);
      await page.screenshot({ path: path.join(WEB_SHOTS, "migrate-live-final.png"), fullPage: true });
      const shown = await shownOn(page);
      assert.deepEqual(shown.steps, ["step-1", "step-2", "step-3"]);
      assert.deepEqual(shown.stepStates, ["passed", "passed", "passed"]);
      assert.deepEqual(shown.live, [], "no step is live after the end");
      assert.equal(shown.status, "success");
      // what the page showed as the run went: a plan step was live, then a later one
      const seen = await page.evaluate(() => (globalThis as unknown as Probed).__pbx.seen);
      const liveOrder = seen.map((s) => s.live).filter((l, i, a) => l !== "" && l !== a[i - 1]);
      assert.ok(liveOrder.length >= 2, `live steps seen: ${liveOrder.join(" ")}`);
      for (let i = 1; i < liveOrder.length; i++)
        assert.ok(liveOrder[i]! > liveOrder[i - 1]!, `in order: ${liveOrder.join(" ")}`);
      const m = /run folder (\S+)/.exec(stdout);
      assert.ok(m, stdout);
      runDir = m[1]!;
      for (const name of ["results.json", "events.ndjson", "report.html"])
        assert.ok(shown.links.includes(name), `link to ${name}: ${shown.links.join(" ")}`);
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
  });

  test("report.html of that run, opened from disk with the network off, shows the same timeline", async () => {
    assert.ok(runDir, "the live test made a run");
    const offline = await launchBrowser({ offline: true });
    try {
      const page = await offline.context.newPage();
      await page.addInitScript(PROBE_SCRIPT);
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      const fileUrl = pathToFileURL(path.join(runDir, "report.html")).href;
      await page.goto(fileUrl);
      await page.waitForSelector("#timeline li[data-step]");
      const shown = await shownOn(page);
      assert.deepEqual(shown.steps, ["step-1", "step-2", "step-3"]);
      assert.deepEqual(shown.stepStates, ["passed", "passed", "passed"]);
      assert.deepEqual(shown.weights, ["new 0%", "new 50%", "new 100%"]);
      const results = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as {
        status: string;
        steps: { runtime: unknown[] }[];
      };
      assert.equal(results.status, "pass");
      assert.equal(shown.applies, results.steps.length, "one verified apply per step on the timeline");
      assert.deepEqual(requests, [fileUrl]);
      assert.deepEqual(errors, []);
      await page.screenshot({ path: path.join(WEB_SHOTS, "migrate-report.png"), fullPage: true });
    } finally {
      await offline.close();
    }
    // and `report RUN_DIR` rebuilds it from the folder
    const r = await f.cli(["report", runDir]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("bad --web input: exit 2 (non-loopback), exit 3 (port in use), nothing changed", async () => {
    const before = readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8");
    const bad = await f.cli(["migrate", ...f.flags, "--steps", "0,100", "--web", "0.0.0.0:8090"]);
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /0\.0\.0\.0 is not a loopback address/);
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await f.cli([
        "migrate",
        ...f.flags,
        "--steps",
        "0,100",
        "--web",
        `127.0.0.1:${port}`,
        "--artifacts-dir",
        "busy",
      ]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`port ${port}/tcp on 127\\.0\\.0\\.1 is in use by pid ${process.pid}`));
      assert.equal(existsSync(path.join(f.dir, "busy")), false, "no run folder");
    } finally {
      holder.close();
    }
    assert.equal(
      readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"),
      before,
      "the dispatcher list was not touched",
    );
  });
});
