import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";

// small knobs: the whole run takes about 8 s
const KNOBS = [
  "--calls-per-phase",
  "4",
  "--call-rate",
  "20",
  "--call-duration-ms",
  "300",
  "--long-call-ms",
  "3000",
  "--post-cutover-calls",
  "4",
];

/** `node -e HOLD <exit file> <program> <args...>`: run the program on this TTY, write its exit code, stay open. */
const HOLD = `
const { spawn } = require("node:child_process");
const { writeFileSync } = require("node:fs");
const [file, program, ...args] = process.argv.slice(1);
spawn(program, args, { stdio: "inherit" }).on("exit", (code, signal) => {
  writeFileSync(file, String(code ?? signal));
  setInterval(() => undefined, 1 << 30);
})
`; // (no trailing ";": tmux reads an argument ending in ";" as a command separator)

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
    // each call phase lasts longer than a tick; preflight (two OPTIONS) usually does not, but a loaded
    // machine may stretch it over a tick: shown or not, it comes right after stack-start
    const seen = order.filter((p) => p !== "preflight");
    assert.deepEqual(
      seen,
      ["stack-start", "old", "both", "new", "inflight", "done"],
      `phases seen: ${order.join(" ")}`,
    );
    if (order.includes("preflight")) assert.equal(order.indexOf("preflight"), 1, `phases seen: ${order.join(" ")}`);
    assert.match(r.stdout, /RESULT: PASS \(exit 0\)\nactive dialogs at the end: .*\n$/);

    const run = latestRun(f);
    const csv = readFileSync(path.join(run, "live-metrics.csv"), "utf8").trimEnd().split("\n");
    assert.ok(csv[0]!.startsWith("timestamp,phase,status,dispatcher_mode,old_total,new_total,old_delta,new_delta"));
    const rows = csv.slice(1).map((l) => l.split(","));
    assert.ok(rows.length >= 10, `${rows.length} rows`);
    for (let i = 1; i < rows.length; i++) {
      for (const col of [4, 5])
        assert.ok(Number(rows[i]![col]) >= Number(rows[i - 1]![col]), `row ${i} col ${col} decreased`);
      assert.ok(rows[i]![0]! >= rows[i - 1]![0]!, "timestamps in order");
    }
    assert.ok(
      rows.some((row) => row[3] === "both"),
      "the runtime mode was observed as both at some tick",
    );
    const results = JSON.parse(readFileSync(path.join(run, "results.json"), "utf8")) as { calls: CallRow[] };
    const count = (b: string): number =>
      results.calls.filter((c) => (c.inviteBackend ?? "").split("+").includes(b)).length;
    const last = rows.at(-1)!;
    assert.deepEqual(
      [last[1], last[2], last[4], last[5]],
      ["done", "success", String(count("old")), String(count("new"))],
    );
    assert.ok(count("old") > 0 && count("new") > 0);

    // every call has ended: the final frame and the last row show Kamailio's dialogs observed after
    // the last BYE (0 and 0), not an observation from while the long call was up
    const finalFrame = r.stdout.slice(r.stdout.lastIndexOf("--- frame "));
    assert.match(finalFrame, /^OLD\s+.*\s0$/m, finalFrame);
    assert.match(finalFrame, /^NEW\s+.*\s0$/m, finalFrame);
    assert.match(
      finalFrame,
      /^active dialogs at the end: old 0, new 0 \(Kamailio, asked (\d+ ms|\d+\.\d s) after the run\)$/m,
      finalFrame,
    );
    assert.deepEqual([last[12], last[13]], ["0", "0"], `last row old_active,new_active: ${last.join(",")}`);
    // the final frame is in the run folder too, exactly as drawn
    assert.equal(
      readFileSync(path.join(run, "final-frame.txt"), "utf8"),
      finalFrame.slice(finalFrame.indexOf("\n") + 1),
    );

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
    assert.deepEqual(
      [routed("old"), routed("new")],
      [count("old"), count("new")],
      "call-routed events = results.json's calls",
    );
    assert.equal(
      events.filter((e) => e.kind === "verdict").length,
      32,
      "25 verdicts + evidence-agrees per phase (the lab default: both sources) + media-both-ways in old, both and new",
    );
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
  // -u: UTF-8 whatever the locale, so the block bars come back as drawn
  const tmux = (...args: string[]): string => execFileSync("tmux", ["-u", "-L", socket, ...args], { encoding: "utf8" });
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    try {
      execFileSync("tmux", ["-L", socket, "kill-server"], { stdio: "ignore" });
    } catch {
      /* already gone */
    }
    await f.dispose();
  });

  test("the screen mid-run shows phase, runtime mode and both backends' totals; the final frame stays, as final-frame.txt has it", async () => {
    // The pane runs a holder that runs the dashboard on the pane's TTY, records its exit code and keeps
    // the pane open. (tmux's remain-on-exit would print "Pane is dead" on the last row, scrolling
    // the final frame's first line away: the flake seen on a loaded machine, where the screen was
    // read after the exit.) 60 rows leave room for a failed run's final frame.
    const exitFile = path.join(f.dir, "dashboard.exit");
    execFileSync("tmux", [
      "-u",
      "-L",
      socket,
      "-f",
      "/dev/null",
      "new-session",
      "-d",
      "-s",
      "dash",
      "-x",
      "100",
      "-y",
      "60",
      "-c",
      f.dir,
      process.execPath,
      "-e",
      HOLD,
      exitFile,
      process.execPath,
      CLI,
      "dashboard",
      ...f.flags,
      ...KNOBS,
      "--interval",
      "0.2",
    ]);
    const capture = (): string => tmux("capture-pane", "-p", "-t", "dash");
    // the holder's writeFileSync creates the file before it writes the code: empty = not written yet
    // (under load the pane can be read between the two)
    const paneDead = (): string | undefined =>
      existsSync(exitFile) ? readFileSync(exitFile, "utf8") || undefined : undefined;
    // conditions on the pane, polled; the deadline only bounds a hung run, it is not a timing assumption
    const waitFor = async <T>(what: string, probe: () => T | undefined, ms = 180_000): Promise<T> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const v = probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) assert.fail(`never saw ${what}:\n${capture()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // mid-run: a frame of the new or in-flight phase whose runtime mode is both or new (the in-flight
    // phase holds mode new for the whole long call, so some tick shows it however loaded the machine)
    const mid = await waitFor("phase new/inflight with mode both/new", () => {
      if (paneDead() !== undefined) assert.fail(`the dashboard ended before the new phase showed:\n${capture()}`);
      const screen = capture();
      const ok =
        /phase: (new|inflight) {3}status: running/.test(screen) &&
        /dispatcher mode \(Kamailio runtime\): (both|new)/.test(screen);
      return ok ? screen : undefined;
    });
    const old = /^OLD\s+(\d+)\s/m.exec(mid);
    const neu = /^NEW\s+(\d+)\s/m.exec(mid);
    assert.ok(old && Number(old[1]) >= 4, `old total on screen:\n${mid}`);
    assert.ok(neu && Number(neu[1]) >= 2, `new total on screen:\n${mid}`);
    assert.equal(
      mid.split("\n").filter((l) => l.startsWith("pbx-cutover dashboard")).length,
      1,
      "redrawn in place, not appended",
    );

    // the end: once the dashboard has exited, the screen shows the final frame from its first line
    const status = await waitFor("the dashboard exit", paneDead);
    assert.equal(status, "0", capture());
    const finalFrame = readFileSync(path.join(latestRun(f), "final-frame.txt"), "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => l.trimEnd());
    const top = (screen: string): string[] =>
      screen
        .split("\n")
        .slice(0, finalFrame.length)
        .map((l) => l.trimEnd());
    // tmux may still be reading the last bytes from the pty: a condition, not a sleep
    const end = await waitFor(
      "the final frame at the top of the screen",
      () => {
        const screen = capture();
        return JSON.stringify(top(screen)) === JSON.stringify(finalFrame) ? screen : undefined;
      },
      30_000,
    );
    assert.match(end, /^pbx-cutover dashboard {3}phase: done {3}status: success/);
    assert.match(end, /RESULT: PASS \(exit 0\)/);
    assert.match(
      end,
      /^active dialogs at the end: old 0, new 0 \(Kamailio, asked (\d+ ms|\d+\.\d s) after the run\)$/m,
    );
  });
});
