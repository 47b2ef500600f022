import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";

// small knobs: the whole run takes about 8 s
const KNOBS = ["--calls-per-phase", "4", "--call-rate", "20", "--call-duration-ms", "300", "--long-call-ms", "3000", "--post-cutover-calls", "4"];

interface CallRow {
  inviteBackend: string | null;
}

function latestRun(f: LabFixture): string {
  return realpathSync(path.join(f.dir, "artifacts", "latest"));
}

describe("dashboard in plain mode on the real lab", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("frames in phase order, seed CSV columns, monotonic totals, last row = results.json", async () => {
    const r = await f.cli(["dashboard", ...f.flags, ...KNOBS, "--interval", "0.2"], {
      env: { ...process.env, DASH_NO_CLEAR: "1" },
    });
    assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(r.stdout, /\x1b/, "plain mode: no control codes");
    const phases = [...r.stdout.matchAll(/^pbx-cutover dashboard {3}phase: (\S+)/gm)].map((m) => m[1]!);
    const order = phases.filter((p, i) => p !== phases[i - 1]);
    assert.deepEqual(order, ["stack-start", "old", "both", "new", "inflight", "done"], `phases seen: ${order.join(" ")}`);
    assert.match(r.stdout, /RESULT: PASS \(exit 0\)\nactive dialogs at the end: .*\n$/);

    const run = latestRun(f);
    const csv = readFileSync(path.join(run, "live-metrics.csv"), "utf8").trimEnd().split("\n");
    assert.ok(csv[0]!.startsWith("timestamp,phase,status,dispatcher_mode,old_total,new_total,old_delta,new_delta"));
    const rows = csv.slice(1).map((l) => l.split(","));
    assert.ok(rows.length >= 10, `${rows.length} rows`);
    for (let i = 1; i < rows.length; i++) {
      for (const col of [4, 5]) assert.ok(Number(rows[i]![col]) >= Number(rows[i - 1]![col]), `row ${i} col ${col} decreased`);
      assert.ok(rows[i]![0]! >= rows[i - 1]![0]!, "timestamps in order");
    }
    assert.ok(rows.some((row) => row[3] === "both"), "the runtime mode was observed as both at some tick");
    const results = JSON.parse(readFileSync(path.join(run, "results.json"), "utf8")) as { calls: CallRow[] };
    const count = (b: string): number => results.calls.filter((c) => (c.inviteBackend ?? "").split("+").includes(b)).length;
    const last = rows.at(-1)!;
    assert.deepEqual([last[1], last[2], last[4], last[5]], ["done", "success", String(count("old")), String(count("new"))]);
    assert.ok(count("old") > 0 && count("new") > 0);

    // every call has ended: the final frame and the last row show Kamailio's dialogs observed after
    // the last BYE (0 and 0), not an observation from while the long call was up
    const finalFrame = r.stdout.slice(r.stdout.lastIndexOf("--- frame "));
    assert.match(finalFrame, /^OLD\s+.*\s0$/m, finalFrame);
    assert.match(finalFrame, /^NEW\s+.*\s0$/m, finalFrame);
    assert.match(finalFrame, /^active dialogs at the end: old 0, new 0 \(Kamailio, asked \d+ ms after the run\)$/m, finalFrame);
    assert.deepEqual([last[12], last[13]], ["0", "0"], `last row old_active,new_active: ${last.join(",")}`);
    // the final frame is in the run folder too, exactly as drawn
    assert.equal(readFileSync(path.join(run, "final-frame.txt"), "utf8"), finalFrame.slice(finalFrame.indexOf("\n") + 1));

    // events.ndjson: the run's event stream, one JSON event per line
    const events = readFileSync(path.join(run, "events.ndjson"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; at: number; backend?: string; exitCode?: number; phase?: string });
    assert.deepEqual(events[0], { kind: "phase", at: events[0]!.at, phase: "stack-start" });
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.at >= events[i - 1]!.at, `event ${i} in time order`);
    const finished = events.filter((e) => e.kind === "run-finished");
    assert.equal(finished.length, 1);
    assert.equal(finished[0]!.exitCode, 0);
    const routed = (b: string): number => events.filter((e) => e.kind === "call-routed" && e.backend === b).length;
    assert.deepEqual([routed("old"), routed("new")], [count("old"), count("new")], "call-routed events = results.json's calls");
    assert.equal(events.filter((e) => e.kind === "verdict").length, 25);
  });

  test("a bad interval exits 2 before anything starts", async () => {
    const r = await f.cli(["dashboard", ...f.flags, ...KNOBS], { env: { ...process.env, DASH_INTERVAL_SECONDS: "0" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /DASH_INTERVAL_SECONDS="0"/);
  });
});

describe("dashboard in a real terminal (tmux)", () => {
  let f: LabFixture;
  const socket = `pbxc-e2e-${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    try {
      tmux("kill-server");
    } catch {
      /* already gone */
    }
    await f.dispose();
  });

  test("the screen mid-run shows phase, runtime mode and both backends' totals; the final frame stays", async () => {
    const conf = path.join(f.dir, "tmux.conf");
    writeFileSync(conf, "set -g remain-on-exit on\n");
    execFileSync("tmux", [
      "-L", socket, "-f", conf, "new-session", "-d", "-s", "dash", "-x", "100", "-y", "40", "-c", f.dir,
      process.execPath, CLI, "dashboard", ...f.flags, ...KNOBS, "--interval", "0.2",
    ]);
    const capture = (): string => tmux("capture-pane", "-p", "-t", "dash");
    const waitFor = async (re: RegExp, ms: number): Promise<string> => {
      const deadline = Date.now() + ms;
      let screen = "";
      while (Date.now() < deadline) {
        screen = capture();
        if (re.test(screen)) return screen;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`screen never matched ${re}:\n${screen}`);
    };
    const mid = await waitFor(/phase: (new|inflight) {3}status: running/, 30_000);
    assert.match(mid, /dispatcher mode \(Kamailio runtime\): (both|new)/);
    const old = /^OLD\s+(\d+)\s/m.exec(mid);
    const neu = /^NEW\s+(\d+)\s/m.exec(mid);
    assert.ok(old && Number(old[1]) >= 4, `old total on screen:\n${mid}`);
    assert.ok(neu && Number(neu[1]) >= 2, `new total on screen:\n${mid}`);
    assert.equal(mid.split("\n").filter((l) => l.startsWith("pbx-cutover dashboard")).length, 1, "redrawn in place, not appended");
    const end = await waitFor(/RESULT: (PASS|FAIL)/, 30_000);
    assert.match(end, /RESULT: PASS \(exit 0\)/);
    assert.match(end, /phase: done {3}status: success/);
  });
});
