import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { Scope } from "../core/scope.js";
import type { EnsureUpResult, LabControl } from "../drivers/lab-control.js";
import { fakeTarget } from "../../test/support/fake-kamailio.js";
import { RunSession } from "./session.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(): { scope: Scope; session: RunSession; art: string } {
  const f = fakeTarget();
  const art = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-session-"));
  dirs.push(f.dir, art);
  const scope = new Scope();
  const session = RunSession.open(scope, {
    command: "pbx-cutover test",
    artifactsDir: art,
    folderPrefix: "run",
    target: f.target,
  });
  return { scope, session, art };
}

function lab(up: EnsureUpResult): LabControl & { downs: number } {
  const l = {
    readyTimeoutMs: 1000,
    downs: 0,
    ensureUp: () => Promise.resolve(up),
    down: () => {
      l.downs++;
      return Promise.resolve();
    },
  };
  return l;
}

const lines = (file: string): { kind: string }[] =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { kind: string });

describe("RunSession: the shell of every run", () => {
  it("a run folder with `latest` at it; every event in events.ndjson; report.html when the scope closes", async () => {
    const { scope, session, art } = open();
    assert.match(path.basename(session.runDir), /^run-\d{8}_\d{6}(-\d+)?$/);
    assert.equal(readlinkSync(path.join(art, "latest")), path.basename(session.runDir));
    session.events.emit({ kind: "run-started", at: 1, runDir: session.runDir, knobs: {} });
    session.finish({ status: "success", exitCode: 0, failures: [] });
    session.finish({ status: "failed", exitCode: 1, failures: ["twice"] });
    assert.ok(!existsSync(path.join(session.runDir, "report.html")), "the report is the run's last word");
    await scope.close();
    assert.deepEqual(
      lines(path.join(session.runDir, "events.ndjson")).map((e) => e.kind),
      ["run-started", "run-finished"],
      "run-finished once",
    );
    assert.ok(existsSync(path.join(session.runDir, "report.html")));
    session.events.emit({ kind: "log", at: 2, line: "after the end" });
    assert.equal(lines(path.join(session.runDir, "events.ndjson")).length, 2, "the log is closed with the scope");
  });

  it("a lab the run started from nothing is stopped at the end, unless kept; a lab found running is left running", async () => {
    const cases: [EnsureUpResult, boolean, { startedByThisRun: boolean; leftRunning: boolean; downs: number }][] = [
      [
        { alreadyRunning: false, startedFromNothing: true, readyMs: 5 },
        false,
        { startedByThisRun: true, leftRunning: false, downs: 1 },
      ],
      [
        { alreadyRunning: false, startedFromNothing: true, readyMs: 5 },
        true,
        { startedByThisRun: true, leftRunning: true, downs: 0 },
      ],
      [
        { alreadyRunning: true, startedFromNothing: false, readyMs: 0 },
        false,
        { startedByThisRun: false, leftRunning: true, downs: 0 },
      ],
      [
        { alreadyRunning: false, startedFromNothing: false, readyMs: 5, replacedDead: ["new"] },
        false,
        { startedByThisRun: false, leftRunning: true, downs: 0 },
      ],
    ];
    for (const [up, keepLab, want] of cases) {
      const { scope, session } = open();
      const l = lab(up);
      const own = await session.ownLab(l, keepLab);
      assert.equal(own.up, up);
      assert.equal(l.downs, 0, "nothing is stopped before the end");
      await scope.close();
      assert.deepEqual({ startedByThisRun: own.startedByThisRun, leftRunning: own.leftRunning, downs: l.downs }, want);
    }
  });

  it("the apply lock is held for the whole run, in the command's name, and released at the end", async () => {
    const { scope, session } = open();
    session.lockApplies();
    assert.match(readFileSync(session.target.lockPath, "utf8"), /pbx-cutover test/);
    assert.throws(() => session.lockApplies(), /pbx-cutover test/, "a second apply on the target is refused");
    await scope.close();
    assert.ok(!existsSync(session.target.lockPath));
  });
});
