/**
 * Drain after the last step (real Kamailio 5.6.3 and SIPp): a long call placed on old before the
 * plan stays on old after the cutover (in-dialog requests follow the route set); `migrate
 * --drain-timeout` reports it by Kamailio's dialog profile, with its Call-ID and age, and then
 * "drained" when it ends; a drain timeout exits 1 naming the call; the operator's abort ends the wait.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { assetPath } from "../../src/core/assets.js";
import { uacArgv } from "../../src/sipp/argv.js";
import { startSipp, type SippProcess } from "../../src/sipp/runner.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { startCli, stopStartedClis, type RunningCli } from "../support/running-cli.js";
import { activeOn } from "../support/lab-runtime.js";
import { runDirOf } from "../support/run-folder.js";

interface DrainJson {
  state: string;
  initial: number;
  waitedMs: number;
  remaining: { callId: string; ageS: number }[];
  detail: string;
}

/** Poll `cond` until it holds; the deadline only bounds a hang. */
async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * One call through Kamailio held `holdMs`; resolves once Kamailio counts it on old. Holds are long
 * enough for a loaded machine (migrate may take seconds to reach its drain) and the calls end on
 * their own: a stopped SIPp would leave its dialog in Kamailio for the dialog timeout (1 h).
 */
async function longCall(f: LabFixture, tag: string, holdMs: number): Promise<SippProcess> {
  const files = {
    messageLog: path.join(f.dir, `${tag}.log`),
    statFile: path.join(f.dir, `${tag}.csv`),
    errorFile: path.join(f.dir, `${tag}.err`),
  };
  const uac = startSipp(
    uacArgv("sipp", assetPath("sipp", "uac-call.xml"), {
      proxy: { address: "127.0.0.1", port: f.ports.sip },
      localAddress: "127.0.0.1",
      service: "drain",
      calls: 1,
      rate: 10,
      holdMs,
      callIdTag: tag,
      recvTimeoutMs: 5000,
      ...files,
    }),
    { cwd: f.dir },
  );
  await waitFor(async () => (await activeOn(f, "old")) === 1, `${tag} up on old`);
  return uac;
}

const startMigrate = (f: LabFixture, args: string[]): RunningCli => startCli(f, ["migrate", ...f.flags, ...args]);

const drainEvents = (runDir: string): { state: string; active: number; calls: { callId: string }[] }[] =>
  readFileSync(path.join(runDir, "events.ndjson"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { kind: string; state: string; active: number; calls: { callId: string }[] })
    .filter((e) => e.kind === "drain");

describe("drain: the old backend's calls after the last step", () => {
  let f: LabFixture;
  const uacs: SippProcess[] = [];
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    stopStartedClis();
    for (const u of uacs) await u.stop();
    await f.dispose();
  });

  /** every test starts on old with no calls, whatever the one before left */
  beforeEach(async () => {
    assert.equal((await f.cli(["apply", "--mode", "old", ...f.flags])).code, 0);
    await waitFor(
      async () => (await activeOn(f, "old")) + (await activeOn(f, "new")) === 0,
      "no calls left from an earlier test",
      30_000,
    );
  });

  test("a long call on old: reported with its Call-ID and age while it lasts, then drained when it ends (exit 0)", async () => {
    const tag = `drain-a-${process.pid}`;
    const uac = await longCall(f, tag, 12000);
    uacs.push(uac);
    const m = startMigrate(f, [
      "--steps",
      "0,100",
      "--drain-timeout",
      "60",
      "--artifacts-dir",
      path.join(f.dir, "art-a"),
    ]);
    const code = await m.closed;
    assert.equal(code, 0, m.err() + m.out());
    assert.match(
      m.out(),
      new RegExp(
        `drain: waiting up to 60 s for the old backend's calls to end; 1 call\\(s\\) up on old: ${tag}-1-\\d+@127\\.0\\.0\\.1 \\(up \\d+ s\\)`,
      ),
    );
    assert.match(m.out(), /drain: drained: the last of 1 call\(s\) ended after \d+\.\d s/);
    assert.equal((await uac.done).code, 0, "the long call completed: its BYE reached old through the route set");
    const runDir = runDirOf(m.out());
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as {
      status: string;
      drain: DrainJson;
    };
    assert.equal(res.status, "pass");
    assert.equal(res.drain.state, "drained");
    assert.equal(res.drain.initial, 1);
    assert.deepEqual(res.drain.remaining, []);
    assert.ok(res.drain.waitedMs > 1000, `waited ${res.drain.waitedMs} ms for the call`);
    // started, progress while it waits (on a change or every 5 s: how many depends on the machine's pace), drained
    const ev = drainEvents(runDir);
    assert.equal(ev[0]!.state, "started");
    assert.equal(ev.at(-1)!.state, "drained");
    assert.deepEqual(
      ev.slice(1, -1).filter((e) => e.state !== "progress"),
      [],
    );
    assert.match(ev[0]!.calls[0]!.callId, new RegExp(`^${tag}-1-`));
    assert.match(
      readFileSync(path.join(runDir, "summary.md"), "utf8"),
      /## Drain[^\n]*\n\n- \*\*drained\*\*: the last of 1 call/,
    );
    assert.equal(await activeOn(f, "old"), 0);
    assert.ok(!existsSync(path.join(runDir, "control.sock")), "a passed run removes its control socket");
    assert.ok(!existsSync(path.join(f.labDir, "control.json")), "and its pointer");
  });

  test("--drain-timeout 2 with a call that lasts longer: exit 1 naming the call and its age; the cutover itself stays", async () => {
    const tag = `drain-b-${process.pid}`;
    const uac = await longCall(f, tag, 20000);
    uacs.push(uac);
    const m = startMigrate(f, [
      "--steps",
      "0,100",
      "--drain-timeout",
      "2",
      "--artifacts-dir",
      path.join(f.dir, "art-b"),
    ]);
    assert.equal(await m.closed, 1, m.err() + m.out());
    assert.match(
      m.err(),
      new RegExp(
        `drain timed out: 1 call\\(s\\) still up on old after 2\\.0 s: ${tag}-1-\\S+ \\(up \\d+ s\\); the cutover itself is complete \\(new only\\)`,
      ),
    );
    assert.match(m.err(), new RegExp(`still up on old: ${tag}-1-\\S+, up \\d+ s`));
    const runDir = runDirOf(m.out());
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as {
      exitCode: number;
      drain: DrainJson;
    };
    assert.equal(res.exitCode, 1);
    assert.equal(res.drain.state, "timed-out");
    assert.match(res.drain.remaining[0]!.callId, new RegExp(`^${tag}-1-`));
    assert.ok(res.drain.remaining[0]!.ageS >= 2, `age ${res.drain.remaining[0]!.ageS} s`);
    assert.deepEqual(
      drainEvents(runDir)
        .map((e) => e.state)
        .at(-1),
      "timed-out",
    );
    assert.equal((await uac.done).code, 0, "the call was left alone and completed");
  });

  test("--drain-timeout 0 (the default): one look, the call left is reported, not waited for (exit 0)", async () => {
    const tag = `drain-c-${process.pid}`;
    const uac = await longCall(f, tag, 12000);
    uacs.push(uac);
    const m = startMigrate(f, ["--artifacts-dir", path.join(f.dir, "art-c")]);
    assert.equal(await m.closed, 0, m.err() + m.out());
    assert.match(
      m.out(),
      new RegExp(`drain: remaining: 1 call\\(s\\) still up on old, not waited for \\(--drain-timeout 0\\): ${tag}-1-`),
    );
    const res = JSON.parse(readFileSync(path.join(runDir(m), "results.json"), "utf8")) as {
      drain: DrainJson;
      warnings: string[];
    };
    assert.equal(res.drain.state, "remaining");
    assert.ok(
      res.warnings.some((w) => w.startsWith("drain: 1 call(s) still up on old")),
      res.warnings.join("\n"),
    );
    await uac.done;
  });

  test("from a second process: status shows the drain; pause is refused; abort stops the wait (exit 1)", async () => {
    const tag = `drain-d-${process.pid}`;
    const uac = await longCall(f, tag, 20000);
    uacs.push(uac);
    const m = startMigrate(f, [
      "--steps",
      "0,100",
      "--drain-timeout",
      "60",
      "--artifacts-dir",
      path.join(f.dir, "art-d"),
    ]);
    await waitFor(() => /drain: waiting up to 60 s/.test(m.out()), "the drain wait");
    const st = await f.cli(["status", ...f.flags]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`drain: started, 1 call\\(s\\) on old[^\\n]*\\n {4}- ${tag}-1-\\S+ up \\d`));
    const pause = await f.cli(["pause", ...f.flags]);
    assert.equal(pause.code, 2);
    assert.match(
      pause.stderr,
      /waiting for the old backend's calls to end \(drain\); pause does not apply, abort stops the wait/,
    );
    const abort = await f.cli(["abort", ...f.flags]);
    assert.equal(abort.code, 0, abort.stderr);
    assert.equal(await m.closed, 1, m.err() + m.out());
    assert.match(
      m.err(),
      /drain aborted by the operator \(pbx-cutover abort\): stopped waiting .* with 1 call\(s\) up on old/,
    );
    const rd = runDirOf(m.out());
    const states = drainEvents(rd).map((e) => e.state);
    assert.deepEqual([states[0], states.at(-1)], ["started", "aborted"]);
    assert.deepEqual(
      states.slice(1, -1).filter((s) => s !== "progress"),
      [],
    );
    assert.ok(!existsSync(path.join(rd, "control.sock")), "socket removed");
    assert.ok(!existsSync(path.join(f.labDir, "control.json")), "pointer removed");
    await uac.done;
  });

  const runDir = (m: RunningCli): string => runDirOf(m.out());
});

describe("--drain-timeout: bad input", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });
  test("not a number, or a plan that never leaves old's share at 0: exit 2, nothing started", async () => {
    const bad = await f.cli(["migrate", ...f.flags, "--drain-timeout", "soon"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--drain-timeout "soon": must be a number of seconds from 0 to 604800/);
    const partial = await f.cli(["migrate", ...f.flags, "--steps", "0,50", "--drain-timeout", "30"]);
    assert.equal(partial.code, 2, partial.stderr);
    assert.match(
      partial.stderr,
      /--drain-timeout: the plan's last step is new=50%, which still sends calls to old, so old never drains/,
    );
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")), "no lab started");
  });
});
