/**
 * The web view end to end: a real `sim --web` on the real Kamailio and SIPp, watched by Debian's
 * Chromium (headless, playwright-core); then the run's report.html opened from disk with the network
 * off; `report RUN_DIR`; and the bad input of --web. Screenshots stay in WEB_SHOTS.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { launchBrowser, type TestBrowser } from "../support/browser.js";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { PROBE_SCRIPT, type Seen, type Shown } from "../support/page-probe.js";
import type { RunView as ViewJson } from "../../src/web/view-model.js";

/** the probe in the page (functions, not strings: the page's CSP forbids eval, as it should) */
type Probed = { __pbx: { shown(): Shown; seen: Seen[] } };
const shownOn = (p: Page): Promise<Shown> => p.evaluate(() => (globalThis as unknown as Probed).__pbx.shown());

/** screenshots of the pages, kept after the run */
export const WEB_SHOTS = path.join(os.tmpdir(), "pbx-cutover-web-e2e");

// small knobs; the long call keeps the in-flight step live long enough to be seen on any machine
const KNOBS = [
  "--calls-per-phase",
  "6",
  "--call-rate",
  "10",
  "--call-duration-ms",
  "300",
  "--long-call-ms",
  "3000",
  "--post-cutover-calls",
  "4",
  "--call-timeout-ms",
  "3000",
];

interface Results {
  exitCode: number;
  calls: { inviteBackend: string | null; outcome: string }[];
  verdicts: { phase: string; name: string; verdict: string; numbers: Record<string, number> }[];
}

function countTo(r: Results, b: string): number {
  return r.calls.filter((c) => (c.inviteBackend ?? "").split("+").includes(b)).length;
}

/** One raw HTTP GET (no browser): status, headers and the first `bytes` of the body. */
function get(
  url: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** An event-stream client: the ids of the views it received, until `stop()` or the stream ends. */
function sseClient(
  url: string,
  lastEventId?: string,
): { ids: number[]; views: ViewJson[]; ended: Promise<void>; stop(): void; firstAfterMs: Promise<number> } {
  const ids: number[] = [];
  const views: ViewJson[] = [];
  const t0 = Date.now();
  let firstResolve: (ms: number) => void = () => undefined;
  const firstAfterMs = new Promise<number>((r) => (firstResolve = r));
  let req: http.ClientRequest | undefined;
  const ended = new Promise<void>((resolve) => {
    req = http.get(url + "events", { headers: lastEventId ? { "Last-Event-ID": lastEventId } : {} }, (res) => {
      let buf = "";
      res.on("data", (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const msg = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (\d+)$/m.exec(msg);
          if (id && /^event: view$/m.test(msg)) {
            if (ids.length === 0) firstResolve(Date.now() - t0);
            ids.push(Number(id[1]));
            const data = /^data: (.*)$/m.exec(msg);
            if (data) views.push(JSON.parse(data[1]!) as ViewJson);
          }
        }
      });
      res.on("end", () => resolve());
      res.on("close", () => resolve());
    });
    req.on("error", () => resolve());
  });
  return { ids, views, ended, firstAfterMs, stop: () => req?.destroy() };
}

function latestRun(f: LabFixture): string {
  return realpathSync(path.join(f.dir, "artifacts", "latest"));
}

describe("web view of a real run", () => {
  let f: LabFixture;
  let browser: TestBrowser;
  let runDir = "";
  before(async () => {
    mkdirSync(WEB_SHOTS, { recursive: true });
    [f, browser] = await Promise.all([labFixture(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await f?.dispose();
  });

  test("sim --web: the live page shows the step change and the counters move; at the end its numbers equal results.json", async () => {
    const child = spawn(process.execPath, [CLI, "sim", ...f.flags, ...KNOBS, "--web"], {
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
      void exited.then(() => reject(new Error(`sim ended before printing the URL:\n${stdout}\n${stderr}`)));
    });
    try {
      // a second viewer (raw event stream) and a page that "reconnects" already up to date
      const raw = sseClient(url);
      // two browser pages at once; each records what its DOM showed, as it changed
      const pages = await Promise.all([browser.context.newPage(), browser.context.newPage()]);
      for (const p of pages) await p.addInitScript(PROBE_SCRIPT);
      await Promise.all(pages.map((p) => p.goto(url)));
      const [page, second] = pages;

      // read-only, and only at its own name
      assert.equal((await get(url, {}, "POST")).status, 405);
      assert.equal((await get(url, { Host: "attacker.example:80" })).status, 421);
      assert.equal((await get(url + "../../etc/passwd")).status, 404);
      const home = await get(url);
      assert.equal(home.status, 200);
      assert.match(String(home.headers["content-security-policy"]), /default-src 'none'/);

      // mid-run: the live step is new or inflight, with calls on both backends
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as Probed).__pbx.shown();
          return ["new", "inflight"].includes(s.live[0] ?? "") && s.new > 0;
        },
        undefined,
        { timeout: 120_000 },
      );
      const midSeq = (await shownOn(page)).seq;
      // a reconnecting page that is up to date gets nothing at once; one that is behind gets the current view
      const had = raw.ids.at(-1)!;
      const upToDate = sseClient(url, String(had));
      const behind = sseClient(url, "1");
      assert.ok((await behind.firstAfterMs) < 2000, "a page behind is caught up at once");
      assert.ok(behind.ids[0]! > 1);
      await page.screenshot({ path: path.join(WEB_SHOTS, "live-mid-run.png"), fullPage: true });

      // the end: the server says so, the page keeps the final view
      await page.waitForFunction(() => (globalThis as unknown as Probed).__pbx.shown().ended, undefined, {
        timeout: 180_000,
      });
      assert.equal(await exited, 0, stdout + stderr);
      await raw.ended;
      await Promise.all([upToDate.ended, behind.ended]);
      await page.screenshot({ path: path.join(WEB_SHOTS, "live-final.png"), fullPage: true });

      runDir = latestRun(f);
      const results = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
      for (const p of [page, second]) {
        const shown = await shownOn(p);
        // the counters come from the event stream; results.json from the evidence book: they must agree
        assert.deepEqual(
          [shown.old, shown.new],
          [countTo(results, "old"), countTo(results, "new")],
          JSON.stringify(shown),
        );
        // the HEP rates' totals (what Kamailio mirrored) count the same calls per backend
        assert.deepEqual(
          [shown.hepOld, shown.hepNew],
          [countTo(results, "old"), countTo(results, "new")],
          "HEP totals on the page",
        );
        assert.equal(shown.completed, results.calls.filter((c) => c.outcome === "completed").length);
        assert.equal(shown.failed, 0);
        assert.equal(shown.up, 0);
        assert.equal(shown.verdicts, results.verdicts.length);
        assert.equal(shown.passed, results.verdicts.length);
        assert.ok(
          shown.withNumbers > results.verdicts.length,
          "the verdicts' numbers from results.json are on the page",
        );
        assert.equal(shown.status, "success");
        assert.deepEqual(shown.live, [], "no step is live after the end");
        assert.deepEqual(shown.steps, ["old", "both", "new", "inflight"]);
        for (const name of ["results.json", "junit.xml", "events.ndjson", "report.html"])
          assert.ok(shown.links.includes(name), `link to ${name}: ${shown.links.join(" ")}`);
      }
      // what the page showed as the run went: the live step moved forward, the counters grew
      const seen = await page.evaluate(() => (globalThis as unknown as Probed).__pbx.seen);
      const liveOrder = seen.map((s) => s.live).filter((l, i, a) => l !== "" && l !== a[i - 1]);
      assert.ok(liveOrder.length >= 2, `live steps seen: ${liveOrder.join(" ")}`);
      const order = ["old", "both", "new", "inflight"];
      for (let i = 1; i < liveOrder.length; i++)
        assert.ok(order.indexOf(liveOrder[i]!) > order.indexOf(liveOrder[i - 1]!), `in order: ${liveOrder.join(" ")}`);
      const totals = [...new Set(seen.map((s) => s.old + s.new))];
      assert.ok(totals.length >= 3, `the counters moved while the page watched: ${totals.join(" ")}`);
      for (let i = 1; i < seen.length; i++)
        assert.ok(seen[i]!.old + seen[i]!.new >= seen[i - 1]!.old + seen[i - 1]!.new, "counters never go back");
      assert.ok(midSeq > 0);
      // the raw viewer saw views in order, ending with the final one
      assert.ok(raw.ids.length >= 3, `views on the raw stream: ${raw.ids.length}`);
      for (let i = 1; i < raw.ids.length; i++) assert.ok(raw.ids[i]! > raw.ids[i - 1]!, "view ids increase");
      assert.equal(upToDate.ids.at(-1), raw.ids.at(-1), "every viewer ends with the same final view");
      assert.ok(
        upToDate.ids[0]! > had,
        `an up-to-date page is not sent the view it has (${had}): ${upToDate.ids.join(" ")}`,
      );
      assert.ok(existsSync(path.join(runDir, "report.html")), "report.html at the end of the run");
      // the server is gone with the run
      await assert.rejects(get(url));
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
  });

  test("report.html opens from disk with the network off: same numbers, charts drawn, nothing requested", async () => {
    assert.ok(runDir, "the live test made a run");
    const offline = await launchBrowser({ offline: true });
    try {
      const page = await offline.context.newPage();
      await page.addInitScript(PROBE_SCRIPT);
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await page.route("**/*", (route) =>
        route.request().url().startsWith("file:") ? route.continue() : route.abort(),
      );
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      const fileUrl = pathToFileURL(path.join(runDir, "report.html")).href;
      await page.goto(fileUrl);
      await page.waitForSelector("#chart-rate canvas");
      const results = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
      const shown = await shownOn(page);
      assert.deepEqual([shown.old, shown.new], [countTo(results, "old"), countTo(results, "new")]);
      assert.deepEqual(
        [shown.hepOld, shown.hepNew],
        [countTo(results, "old"), countTo(results, "new")],
        "HEP totals in the report",
      );
      assert.equal(shown.verdicts, results.verdicts.length);
      const split = results.verdicts.find((v) => v.phase === "both" && v.name === "split")!;
      assert.deepEqual(
        shown.split,
        Object.entries(split.numbers).map(([k, v]) => `${k}=${v}`),
      );
      assert.equal(shown.charts, 2);
      assert.deepEqual(shown.steps, ["old", "both", "new", "inflight"]);
      for (const l of shown.links) {
        assert.doesNotMatch(l, /^[a-z]+:|^\//i, `relative link: ${l}`);
        assert.ok(existsSync(path.join(runDir, l)), `the link ${l} names a file in the run folder`);
      }
      assert.deepEqual(requests, [fileUrl], `requests made: ${requests.join(" ")}`);
      assert.deepEqual(errors, []);
      await page.screenshot({ path: path.join(WEB_SHOTS, "report.png"), fullPage: true });
    } finally {
      await offline.close();
    }
  });

  test("report RUN_DIR rebuilds the same report.html; a bad RUN_DIR exits 2", async () => {
    assert.ok(runDir);
    const before = readFileSync(path.join(runDir, "report.html"), "utf8");
    rmSync(path.join(runDir, "report.html"));
    const r = await f.cli(["report", runDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^report: .*report\.html$/m);
    assert.equal(
      readFileSync(path.join(runDir, "report.html"), "utf8"),
      before,
      "rebuilt from the folder alone, byte for byte",
    );
    for (const bad of [path.join(f.dir, "nope"), path.join(runDir, "results.json"), f.dir]) {
      const b = await f.cli(["report", bad]);
      assert.equal(b.code, 2, `${bad}: ${b.stderr}`);
      assert.equal(b.stderr.trim().split("\n").length, 1, b.stderr);
      assert.match(b.stderr, /run folder/);
    }
  });
});

describe("--web bad input", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("a non-loopback address without --web-allow-remote, a bad port, a name: exit 2, nothing started", async () => {
    for (const [args, msg] of [
      [["--web", "0.0.0.0:8090"], /0\.0\.0\.0 is not a loopback address.*--web-allow-remote/s],
      [["--web", "127.0.0.1:99999"], /port "99999" must be a number from 0 to 65535/],
      [["--web", "example.org:80"], /"example\.org" is not an IP address/],
      [["--web-allow-remote"], /--web-allow-remote goes with --web/],
    ] as const) {
      const r = await f.cli(["sim", ...f.flags, ...KNOBS, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(existsSync(path.join(f.dir, "artifacts")), false, "no run folder");
      assert.equal(existsSync(path.join(f.labDir, "lab.json")), false, "no lab started");
    }
  });

  test("a port in use: exit 3 naming it, nothing started", async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = await f.cli(["dashboard", ...f.flags, ...KNOBS, "--web", `127.0.0.1:${port}`]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`port ${port}/tcp on 127\\.0\\.0\\.1 is in use by pid ${process.pid} \\(node\\)`),
      );
      assert.equal(existsSync(path.join(f.dir, "artifacts")), false, "no run folder");
      assert.equal(existsSync(path.join(f.labDir, "lab.json")), false, "no lab started");
    } finally {
      holder.close();
    }
  });
});

describe("watch RUN_DIR: the live page of a run started elsewhere", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("follows a sim's events.ndjson to the end: the final view equals results.json, then exits 0", async () => {
    const sim = spawn(process.execPath, [CLI, "sim", ...f.flags, ...KNOBS], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const simExit = new Promise<number | null>((resolve) => sim.on("close", (code) => resolve(code)));
    let watch: ReturnType<typeof spawn> | undefined;
    try {
      // the run folder exists once the sim has started (the `latest` link moves to it)
      const latest = path.join(f.dir, "artifacts", "latest");
      for (let i = 0; !existsSync(path.join(latest, "events.ndjson")); i++) {
        assert.ok(i < 1200, "the sim never made its run folder");
        await new Promise((r) => setTimeout(r, 50));
      }
      const dir = realpathSync(latest);
      watch = spawn(process.execPath, [CLI, "watch", dir], { cwd: f.dir, stdio: ["ignore", "pipe", "pipe"] });
      const watchExit = new Promise<number | null>((resolve) => watch!.on("close", (code) => resolve(code)));
      let stderr = "";
      const url = await new Promise<string>((resolve, reject) => {
        watch!.stderr!.on("data", (d: Buffer) => {
          stderr += d.toString();
          const m = /at (http:\/\/127\.0\.0\.1:\d+\/) \(read-only\)/.exec(stderr);
          if (m) resolve(m[1]!);
        });
        void watchExit.then(() => reject(new Error(`watch ended before printing the URL: ${stderr}`)));
      });
      const viewer = sseClient(url);
      assert.equal(await simExit, 0);
      assert.equal(await watchExit, 0, stderr);
      await viewer.ended;
      const final = viewer.views.at(-1)!;
      const results = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as Results;
      assert.deepEqual(
        [final.backends.old.routed, final.backends.new.routed],
        [countTo(results, "old"), countTo(results, "new")],
      );
      assert.equal(final.finished?.exitCode, 0);
      assert.ok(
        final.verdicts.every((v) => v.numbers !== undefined),
        "results.json's numbers folded in",
      );
      assert.ok(
        final.evidence.some((e) => e.name === "report.html"),
        "the final view links report.html",
      );
      assert.ok(viewer.ids.length >= 2);
    } finally {
      sim.kill("SIGKILL");
      watch?.kill("SIGKILL");
      await simExit;
    }
  });

  test("a finished run is served until Ctrl-C (exit 130); a bad RUN_DIR exits 2", async () => {
    const bad = await f.cli(["watch", path.join(f.dir, "nope")]);
    assert.equal(bad.code, 2);
    const dir = realpathSync(path.join(f.dir, "artifacts", "latest"));
    const watch = spawn(process.execPath, [CLI, "watch", dir, "--web", "127.0.0.1:0"], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const watchExit = new Promise<number | null>((resolve) => watch.on("close", (code) => resolve(code)));
    let stderr = "";
    const url = await new Promise<string>((resolve) => {
      watch.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /at (http:\/\/127\.0\.0\.1:\d+\/) \(read-only\); the run is over/.exec(stderr);
        if (m) resolve(m[1]!);
      });
    });
    const view = JSON.parse((await get(url + "view.json")).body) as ViewJson;
    assert.equal(view.finished?.exitCode, 0);
    watch.kill("SIGINT");
    assert.equal(await watchExit, 130, stderr);
  });
});
