import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { ROOT, labFixture, runProgram, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";
import { placeCalls } from "../support/sip-call.js";
import { runDirOf } from "../support/run-folder.js";

interface Results {
  status: string;
  exitCode: number;
  lab: { startedByThisRun: boolean; leftRunning: boolean };
  probes: { role: string; probe: { status: number; server: string } }[];
  steps: {
    label: string;
    verdict: string;
    changed: boolean;
    runtime: { uri: string }[];
    timings: { totalMs: number };
  }[];
  final: {
    verdict: string;
    file: { oldPresent: boolean; newPresent: boolean };
    runtime: { oldPresent: boolean; newPresent: boolean };
  };
  kamcmd: { exitCode: number };
  error?: string;
}

const SEED_FILES = [
  "applied-both.list",
  "applied-new.list",
  "applied-old.list",
  "dispatcher.both.list",
  "dispatcher.new.list",
  "dispatcher.old.list",
  "kamcmd-dispatcher.list.txt",
  "results.json",
  "summary.md",
];

/** set-1 destination URIs of a list file */
const listUris = (text: string): string[] =>
  text
    .split("\n")
    .filter((l) => /^\s*\d/.test(l))
    .map((l) => l.trim().split(/\s+/)[1]!);

function checkRunDir(f: LabFixture, runDir: string): Results {
  const OLD = uriOf(f, "old");
  const NEW = uriOf(f, "new");
  // the seed's files, plus the run's event stream and its offline report (every run folder has both)
  assert.deepEqual(readdirSync(runDir).sort(), [...SEED_FILES, "events.ndjson", "report.html"].sort());
  const read = (n: string): string => readFileSync(path.join(runDir, n), "utf8");
  const events = read("events.ndjson")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { kind: string; label?: string; state?: string; exitCode?: number });
  assert.equal(events[0]!.kind, "run-started");
  assert.deepEqual(
    events.at(-1),
    { ...events.at(-1), kind: "run-finished", exitCode: 0 },
    "the stream ends with the run's exit code",
  );
  assert.deepEqual(
    events.filter((e) => e.kind === "step" && e.state === "passed").map((e) => e.label),
    ["old", "both", "new"],
    "each step of the default plan passed, in order, in the stream",
  );
  assert.match(read("report.html"), /<\/html>\s*$/);
  assert.deepEqual(listUris(read("dispatcher.old.list")), [OLD]);
  assert.deepEqual(listUris(read("dispatcher.both.list")), [OLD, NEW]);
  assert.deepEqual(listUris(read("dispatcher.new.list")), [NEW]);
  for (const m of ["old", "both", "new"]) {
    assert.equal(
      read(`applied-${m}.list`),
      read(`dispatcher.${m}.list`),
      `applied-${m}.list is the file Kamailio read after the ${m} apply`,
    );
  }
  const kam = read("kamcmd-dispatcher.list.txt");
  assert.match(kam, /NRSETS: 1/, "kamcmd's own output format");
  assert.ok(kam.includes(`URI: ${NEW}`), "kamcmd lists the new backend");
  assert.ok(!kam.includes(OLD), "kamcmd does not list the old backend");
  const r = JSON.parse(read("results.json")) as Results;
  assert.equal(r.status, "pass");
  assert.equal(r.exitCode, 0);
  assert.deepEqual(
    r.steps.map((p) => [p.label, p.verdict]),
    [
      ["old", "pass"],
      ["both", "pass"],
      ["new", "pass"],
    ],
  );
  assert.deepEqual(
    r.steps.map((p) => p.runtime.map((d) => d.uri).sort()),
    [[OLD], [OLD, NEW].sort(), [NEW]],
  );
  assert.deepEqual(r.final.file, { oldPresent: false, newPresent: true });
  assert.deepEqual([r.final.runtime.oldPresent, r.final.runtime.newPresent], [false, true]);
  assert.equal(r.final.verdict, "pass");
  assert.equal(r.kamcmd.exitCode, 0);
  assert.deepEqual(
    r.probes.map((p) => [p.role, p.probe.status]),
    [
      ["old", 200],
      ["new", 200],
    ],
  );
  assert.match(r.probes[0]!.probe.server, /old backend/);
  const summary = read("summary.md");
  assert.match(summary, /^# pbx-cutover migrate: PASS/);
  assert.match(summary, /\| new \| pass \|/);
  assert.match(summary, /file: new present, old absent/);
  return r;
}

describe("migrate on a lab that is not running", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("starts the lab, migrates old -> both -> new with every artifact, stops the lab it started", async () => {
    const art = path.join(f.dir, "art");
    const r = await f.cli(["migrate", ...f.flags, "--artifacts-dir", art]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /lab: started/);
    assert.match(r.stdout, /PASS: cutover complete/);
    const runDir = runDirOf(r);
    assert.match(path.basename(runDir), /^run-\d{8}_\d{6}$/);
    assert.equal(readlinkSync(path.join(art, "latest")), path.basename(runDir));
    const res = checkRunDir(f, runDir);
    assert.deepEqual(res.lab, { startedByThisRun: true, leftRunning: false });
    assert.equal(res.steps[0]!.changed, false, "the lab starts on profile old");
    // the lab it started is gone
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")));
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.equal(st.code, 3);
  });
});

describe("migrate on a running lab", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await f.dispose();
  });
  afterEach(async () => {
    // each test starts from profile old
    const r = await f.cli(["apply", "--mode", "old", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("passes, leaves the lab running, and new calls then reach the new backend only", async () => {
    const before = await placeCalls(f, 1, "pre-migrate");
    assert.deepEqual([before.code, before.old, before.new], [0, 1, 0]);
    const art = path.join(f.dir, "art");
    const r = await f.cli(["migrate", ...f.flags, "--artifacts-dir", art]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /lab: already running/);
    const res = checkRunDir(f, runDirOf(r));
    assert.deepEqual(res.lab, { startedByThisRun: false, leftRunning: true });
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
    const calls = await placeCalls(f, 2, "post-migrate");
    assert.deepEqual([calls.code, calls.old, calls.new], [0, 0, 2]);
  });

  test("the seed wrapper runs it from another directory", async () => {
    const script = path.join(ROOT, "local-lab", "real-services", "run_real_migration_smoke.sh");
    assert.match(readFileSync(script, "utf8"), /--artifacts-dir local-lab\/real-services\/artifacts/);
    // a later --artifacts-dir wins, so the test leaves the repository's artifacts folder alone
    const art = path.join(f.dir, "seed-art");
    const r = await runProgram(script, [...f.flags, "--artifacts-dir", art], { cwd: f.dir });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    checkRunDir(f, runDirOf(r));
    assert.ok(existsSync(path.join(art, "latest", "results.json")));
  });

  test("a backend it cannot probe: exit 3 before any apply, and the evidence says why", async () => {
    const art = path.join(f.dir, "art-fail");
    // nothing listens there (fixtures take ports base+0..3 of bases that are multiples of 10)
    const silent = `sip:127.0.0.1:${f.ports.sip + 7}`;
    const r = await f.cli(["migrate", ...f.flags, "--artifacts-dir", art, "--new-uri", silent]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`new backend ${silent.replace(/\./g, "\\.")} did not answer SIP OPTIONS; nothing was changed`),
    );
    const res = JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as Results;
    assert.equal(res.status, "fail");
    assert.equal(res.exitCode, 3);
    assert.deepEqual(res.steps, []);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")]);
  });
});
