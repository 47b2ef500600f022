/**
 * Faults end in a known state with a clear message, never a stack trace: corrupt state files, full
 * and read-only disks (real tmpfs / read-only bind mounts), a half-dead lab under migrate, pid
 * reuse, a lab dir deleted under a running lab, a frozen Kamailio. Real Kamailio and SIPp.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { isAlive } from "../../src/os/process.js";
import { CLI, labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { bindReadOnly, cannotMount, fill, mountTmpfs, unmount } from "../support/mounts.js";
import { connectedTo, groupPids } from "../support/lab-sockets.js";
import { startCli, stopStartedClis } from "../support/running-cli.js";

interface StateJson {
  settings: { labDir: string };
  components: { role: string; pid: number; startTime?: string }[];
}
const stateOf = (labDir: string): StateJson =>
  JSON.parse(readFileSync(path.join(labDir, "lab.json"), "utf8")) as StateJson;
const pidsOf = (labDir: string): number[] => stateOf(labDir).components.map((c) => c.pid);

/** exit 3, the message names `what`, and nothing looks like a crash */
function assertFault(r: CliResult, what: string | RegExp, label: string): void {
  assert.equal(r.code, 3, `${label}: exit 3\n${r.stdout}\n${r.stderr}`);
  if (typeof what === "string") assert.ok(r.stderr.includes(what), `${label}: names ${what}\n${r.stderr}`);
  else assert.match(r.stderr, what, label);
  assert.doesNotMatch(r.stderr, /internal error|SyntaxError|\n\s+at \S+ \(/, `${label}: no stack trace`);
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const mountSkip = cannotMount();

describe("corrupt state files", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("a corrupt lab.json: every command that reads it exits 3 naming it; lab down recovers", async () => {
    mkdirSync(f.labDir, { recursive: true });
    const state = path.join(f.labDir, "lab.json");
    writeFileSync(state, '{"version": 1, "driver": "nat');
    for (const args of [
      ["lab", "up"],
      ["lab", "status"],
      ["migrate", "--artifacts-dir", path.join(f.dir, "art")],
    ]) {
      assertFault(await f.cli([...args, ...f.flags]), `the lab state file ${state} is corrupt`, args.join(" "));
    }
    const r = await f.cli(["lab", "up", ...f.flags]);
    assert.match(r.stderr, /lab down --lab-dir/, "says what to do");
    const down = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /corrupt; moved aside to .*lab\.json\.corrupt-/);
    assert.equal(existsSync(state), false);
    assert.equal(
      readdirSync(f.labDir).filter((e) => e.startsWith("lab.json.corrupt-")).length,
      1,
      "kept for inspection",
    );
  });

  test("lab.json corrupted under a running lab: lab down finds the processes by their command line", async () => {
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    const pids = pidsOf(f.labDir);
    writeFileSync(path.join(f.labDir, "lab.json"), "");
    assertFault(await f.cli(["lab", "status", ...f.flags]), /lab state file .* is corrupt \(empty\)/, "status");
    const down = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /found this lab's processes by their command line/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} stopped`);
  });
});

describe("full and read-only disks (real tmpfs and read-only bind mounts)", { skip: mountSkip }, () => {
  let f: LabFixture;
  const mounted: string[] = [];
  const mount = (dir: string, how: (d: string) => void): void => {
    how(dir);
    mounted.push(dir);
  };
  const umount = (dir: string): void => {
    unmount(dir);
    mounted.splice(mounted.indexOf(dir), 1);
  };
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    for (const d of mounted.reverse()) unmount(d);
    await f.dispose();
  });

  test("ENOSPC: lab up on a full disk exits 3 naming the path, nothing started", async () => {
    const mnt = path.join(f.dir, "full");
    mount(mnt, (d) => mountTmpfs(d, "1m"));
    fill(mnt);
    const labDir = path.join(mnt, "lab");
    mkdirSync(labDir);
    const flags = f.flags.map((a) => (a === f.labDir ? labDir : a));
    const r = await f.cli(["lab", "up", ...flags]);
    assertFault(r, /cannot write \S*\/full\/lab\/\S+: no space left on the device \(ENOSPC\)/, "lab up");
    assert.equal(existsSync(path.join(labDir, "lab.json")), false);
    assert.deepEqual(
      readdirSync(labDir).filter((e) => e.startsWith(".")),
      [],
      "no temp file left",
    );
    umount(mnt);
  });

  test("ENOSPC under a running lab: apply exits 3 naming the path, leaves no apply.lock, and works once space is back", async () => {
    const mnt = path.join(f.dir, "tight");
    mount(mnt, (d) => mountTmpfs(d, "8m"));
    const labDir = path.join(mnt, "lab");
    const flags = f.flags.map((a) => (a === f.labDir ? labDir : a));
    const up = await f.cli(["lab", "up", ...flags]);
    assert.equal(up.code, 0, up.stderr);
    try {
      const filler = fill(mnt);
      const lock = path.join(labDir, "apply.lock");
      const list = readFileSync(path.join(labDir, "dispatcher.list"), "utf8");
      for (let i = 0; i < 2; i++) {
        const r = await f.cli(["apply", "--mode", "both", ...flags]);
        assertFault(r, /no space left on the device \(ENOSPC\)/, `apply on a full disk #${i + 1}`);
        assert.match(r.stderr, new RegExp(labDir.replace(/[/.]/g, "\\$&")), "names the path");
        assert.equal(existsSync(lock), false, "no empty apply.lock left behind");
      }
      assert.equal(readFileSync(path.join(labDir, "dispatcher.list"), "utf8"), list, "list unchanged");
      rmSync(filler);
      const ok = await f.cli(["apply", "--mode", "both", ...flags]);
      assert.equal(ok.code, 0, `the next apply is not blocked: ${ok.stderr}`);
    } finally {
      await f.cli(["lab", "down", ...flags]);
      umount(mnt);
    }
  });

  test("EROFS: a read-only lab dir or artifacts dir exits 3 naming the path; the lab keeps running", async () => {
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    const art = path.join(f.dir, "ro-artifacts");
    mkdirSync(art);
    mount(art, bindReadOnly);
    try {
      const m = await f.cli(["migrate", "--artifacts-dir", art, ...f.flags]);
      assertFault(
        m,
        new RegExp(
          `cannot create the run folder ${art.replace(/[/.]/g, "\\$&")}/run-\\S+: the file system is read-only \\(EROFS\\)`,
        ),
        "migrate",
      );
    } finally {
      umount(art);
    }
    mount(f.labDir, bindReadOnly);
    try {
      const a = await f.cli(["apply", "--mode", "both", ...f.flags]);
      assertFault(
        a,
        /cannot create the dispatcher lock \S+apply\.lock: the file system is read-only \(EROFS\)/,
        "apply",
      );
    } finally {
      umount(f.labDir);
    }
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.equal(st.code, 0, st.stdout);
    assert.match(st.stdout, /dispatcher mode: old/);
  });

  test("ENOSPC under migrate's run folder: the cutover still completes; exit 3 naming events.ndjson and saying where calls go", async () => {
    if ((await f.cli(["lab", "status", ...f.flags])).code !== 0)
      assert.equal((await f.cli(["lab", "up", ...f.flags])).code, 0);
    const art = path.join(f.dir, "full-art");
    mount(art, (d) => mountTmpfs(d, "256k"));
    const filler = fill(art);
    try {
      const m = await f.cli(["migrate", "--artifacts-dir", art, ...f.flags]);
      assertFault(m, /cannot write \S+\/run-\S+\/events\.ndjson: no space left on the device \(ENOSPC\)/, "migrate");
      assert.match(
        m.stderr,
        /evidence in \S+ is incomplete \(\d+ more files not written\)\. Routing: the cutover completed: new in the file and at runtime, verified/,
      );
      assert.match(m.stderr, /not written: \S+\/results\.json/);
      assert.doesNotMatch(m.stdout, /PASS/);
      const st = await f.cli(["lab", "status", ...f.flags]);
      assert.match(st.stdout, /dispatcher mode: new/, "the verified cutover stands");
    } finally {
      rmSync(filler);
      umount(art);
    }
  });

  test("ENOSPC under sim's run folder: exit 3 naming the file and saying where calls go (the runtime read back)", async () => {
    if ((await f.cli(["lab", "status", ...f.flags])).code !== 0)
      assert.equal((await f.cli(["lab", "up", ...f.flags])).code, 0);
    const art = path.join(f.dir, "full-sim");
    mount(art, (d) => mountTmpfs(d, "256k"));
    const filler = fill(art);
    try {
      const r = await f.cli(["sim", "--artifacts-dir", art, "--calls-per-phase", "4", "--quiet", ...f.flags]);
      assertFault(r, /cannot write \S+\/call-cutover-\S+: no space left on the device \(ENOSPC\)/, "sim");
      const routing =
        /Routing: the dispatcher's runtime at the run's end: (sip:\S+) \[set \d+, [A-Z]+\]; (the lab is left running|the run ended before it touched the lab \(nothing applied\))/.exec(
          r.stderr,
        );
      assert.ok(routing, `sim says where calls go:\n${r.stderr}`);
      assert.doesNotMatch(r.stdout, /PASS/);
      const st = await f.cli(["lab", "status", ...f.flags]);
      assert.equal(st.code, 0, `the lab that was running stays up:\n${st.stdout}`);
      assert.ok(st.stdout.includes(routing[1]!), `the runtime named is the lab's:\n${st.stdout}`);
    } finally {
      rmSync(filler);
      umount(art);
    }
  });

  test("ENOSPC under a plan that must roll back: the rollback still happens; exit 3 naming the file and the step put back", async () => {
    if ((await f.cli(["lab", "status", ...f.flags])).code !== 0)
      assert.equal((await f.cli(["lab", "up", ...f.flags])).code, 0);
    assert.equal((await f.cli(["apply", "--mode", "old", ...f.flags])).code, 0);
    const planFile = path.join(f.dir, "hold-new.yaml");
    writeFileSync(planFile, "steps:\n  - 0\n  - 50\n  - weightNew: 100\n    hold: { durationS: 600 }\n");
    const art = path.join(f.dir, "full-art2");
    mount(art, (d) => mountTmpfs(d, "256k"));
    const filler = fill(art);
    try {
      const run = startCli(f, ["migrate", "--artifacts-dir", art, "--plan", planFile, ...f.flags]);
      await waitFor(() => /step 3\/3 \S+: holding/.test(run.out()), 60_000, "the last step's hold");
      // the new backend dies: the check after the last step fails and step 2 is put back
      process.kill(stateOf(f.labDir).components.find((c) => c.role === "new")!.pid, "SIGKILL");
      assert.equal((await f.cli(["promote", ...f.flags])).code, 0);
      const code = await run.closed;
      assertFault(
        { code, signal: null, stdout: run.out(), stderr: run.err() },
        /cannot write \S+\/events\.ndjson: no space left on the device \(ENOSPC\)/,
        "plan",
      );
      assert.match(
        run.err(),
        /Routing: step 3: gates failed: after the last step, new backend \S+ does not answer SIP OPTIONS.*; step 2 \(\S+\) is back in place/,
      );
      const st = await f.cli(["lab", "status", ...f.flags]);
      assert.match(st.stdout, /dispatcher mode: both/, "the last good step is back");
    } finally {
      stopStartedClis();
      rmSync(filler);
      umount(art);
    }
  });
});

describe("ownership: a command stops only what it started from nothing", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("migrate on a half-dead lab restarts it and leaves it running", async () => {
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    process.kill(stateOf(f.labDir).components[2]!.pid, "SIGKILL");
    const m = await f.cli(["migrate", "--artifacts-dir", path.join(f.dir, "art"), ...f.flags]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /dead components \(new\).*left running at the end/);
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.equal(st.code, 0, `the lab is still up after migrate:\n${st.stdout}`);
    const results = JSON.parse(readFileSync(path.join(f.dir, "art", "latest", "results.json"), "utf8")) as {
      lab: unknown;
    };
    assert.deepEqual(results.lab, { startedByThisRun: false, leftRunning: true });
  });

  test("sim on a half-dead lab restarts it and leaves it running", async () => {
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    process.kill(stateOf(f.labDir).components[1]!.pid, "SIGKILL");
    const fast = {
      CALLS_PER_PHASE: "4",
      CALL_RATE: "20",
      CALL_DURATION_MS: "200",
      LONG_CALL_MS: "1000",
      POST_CUTOVER_CALLS: "2",
      CALL_TIMEOUT_MS: "1500",
    };
    const r = await f.cli(["sim", "--artifacts-dir", path.join(f.dir, "sim-art"), ...f.flags], {
      env: { ...process.env, ...fast },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /dead components \(old\).*left running at the end \(it was running before\)/);
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.equal(st.code, 0, `the lab is still up after sim:\n${st.stdout}`);
  });
});

/** Run the CLI as the unprivileged user `nobody` (what an operator without root sees). */
function cliAsNobody(f: LabFixture, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: f.dir,
      uid: 65534,
      gid: 65534,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe(
  "permissions (as the user nobody)",
  { skip: process.getuid?.() === 0 ? false : "needs root to run a command as nobody" },
  () => {
    let f: LabFixture;
    before(async () => {
      f = await labFixture();
      chmodSync(f.dir, 0o755); // nobody may enter, not write
    });
    after(async () => {
      await f.dispose();
    });

    test("EACCES: a lab dir nobody may not create is exit 3 naming the path, nothing started", async () => {
      const r = await cliAsNobody(f, ["lab", "up", ...f.flags]);
      assertFault(
        r,
        new RegExp(
          `cannot create the lab directory ${f.labDir.replace(/[/.]/g, "\\$&")}: permission denied \\(EACCES\\)`,
        ),
        "lab up as nobody",
      );
      assert.equal(existsSync(f.labDir), false);
    });

    test("a lab process the user may not signal: lab down exits 3 naming what still runs and how to stop it", async () => {
      const up = await f.cli(["lab", "up", ...f.flags]);
      assert.equal(up.code, 0, up.stderr);
      const pids = pidsOf(f.labDir);
      const down = await cliAsNobody(f, ["lab", "down", ...f.flags]);
      assertFault(
        down,
        /could not stop everything of the lab in .*; still running: pid \d+ \((sipp|kamailio)/,
        "lab down as nobody",
      );
      assert.match(down.stderr, /kill -KILL \d+/);
      for (const pid of pids) assert.equal(isAlive(pid), true, `pid ${pid} still running, as reported`);
      assert.ok(existsSync(path.join(f.labDir, "lab.json")), "the state stays: root can still take the lab down");
      assert.equal((await f.cli(["lab", "down", ...f.flags])).code, 0);
    });
  },
);

describe("pid reuse, a deleted lab dir, a frozen Kamailio", () => {
  let a: LabFixture;
  let b: LabFixture;
  before(async () => {
    a = await labFixture();
    b = await labFixture();
    const up = await a.cli(["lab", "up", ...a.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await a.dispose();
    await b.dispose();
  });

  test("a stale lab.json naming another lab's processes: lab down and lab up never signal them", async () => {
    const aPids = pidsOf(a.labDir);
    // B's stale state: its pids were reused by lab A's Kamailio and backends
    mkdirSync(b.labDir, { recursive: true });
    const stale = stateOf(a.labDir);
    stale.settings.labDir = b.labDir;
    writeFileSync(path.join(b.labDir, "lab.json"), JSON.stringify(stale));
    const st = await b.cli(["lab", "status", "--json", ...b.flags]);
    assert.equal(st.code, 3);
    assert.ok(
      (JSON.parse(st.stdout) as { components: { state: string }[] }).components.every((c) => c.state === "not ours"),
      st.stdout,
    );
    const down = await b.cli(["lab", "down", ...b.flags]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /not ours .*left alone/);
    for (const pid of aPids) assert.equal(isAlive(pid), true, `lab A's pid ${pid} untouched by B's down`);
    writeFileSync(path.join(b.labDir, "lab.json"), JSON.stringify(stale));
    const upB = await b.cli(["lab", "up", ...b.flags]);
    assert.equal(upB.code, 0, upB.stderr);
    for (const pid of aPids) assert.equal(isAlive(pid), true, `lab A's pid ${pid} untouched by B's up`);
    assert.equal((await a.cli(["lab", "status", ...a.flags])).code, 0);
    assert.equal((await b.cli(["lab", "down", ...b.flags])).code, 0);
  });

  test("a recorded pid whose start time differs is not ours (same lab dir)", async () => {
    const file = path.join(a.labDir, "lab.json");
    const original = readFileSync(file, "utf8");
    const s = JSON.parse(original) as StateJson;
    assert.ok(
      s.components.every((c) => typeof c.startTime === "string" && /^\d+$/.test(c.startTime)),
      "start times recorded",
    );
    s.components[0]!.startTime = "1";
    writeFileSync(file, JSON.stringify(s));
    const down = await a.cli(["lab", "down", ...a.flags]);
    assert.match(down.stdout, /kamailio pid \d+: not ours \(pid \d+ was reused/);
    assert.equal(isAlive(s.components[0]!.pid), true, "never signalled");
    // what it did stop were the backends; the Kamailio (really ours) is found by command line next time
    const again = await a.cli(["lab", "down", ...a.flags]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /found this lab's processes by their command line/);
    assert.equal(isAlive(s.components[0]!.pid), false);
  });

  test("lab dir deleted under a running lab: lab down finds and stops Kamailio and both backends", async () => {
    const up = await a.cli(["lab", "up", ...a.flags]);
    assert.equal(up.code, 0, up.stderr);
    const pids = pidsOf(a.labDir);
    const all = groupPids(pids);
    rmSync(a.labDir, { recursive: true, force: true });
    const st = await a.cli(["lab", "status", ...a.flags]);
    assert.equal(st.code, 3);
    assert.match(st.stdout, /lab\.json is missing, but processes of this lab dir are running/);
    const down = await a.cli(["lab", "down", ...a.flags]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /found this lab's processes by their command line/);
    assert.match(down.stdout, /stopped kamailio/);
    for (const pid of all) assert.equal(isAlive(pid), false, `pid ${pid} stopped`);
  });

  test("a frozen Kamailio (SIGSTOP) is unhealthy: status exits 3 with the reason; up refuses; an RPC-dead one too", async () => {
    const up = await a.cli(["lab", "up", ...a.flags]);
    assert.equal(up.code, 0, up.stderr);
    const k = stateOf(a.labDir).components[0]!.pid;
    process.kill(-k, "SIGSTOP");
    try {
      const st = await a.cli(["lab", "status", "--json", ...a.flags]);
      assert.equal(st.code, 3, st.stdout);
      const kam = (JSON.parse(st.stdout) as { components: { role: string; state: string; reason?: string }[] })
        .components[0]!;
      assert.equal(kam.state, "frozen");
      assert.match(kam.reason ?? "", /stopped \(process state T/);
      const human = await a.cli(["lab", "status", ...a.flags]);
      assert.match(human.stdout, /problem: kamailio is frozen/);
      const again = await a.cli(["lab", "up", ...a.flags]);
      assertFault(again, /is frozen: kamailio pid \d+ is stopped/, "lab up on a frozen lab");
    } finally {
      process.kill(-k, "SIGCONT");
    }
    // only the workers frozen: the main process looks fine, but no RPC answers
    const workers = groupPids([k]).filter((p) => p !== k);
    for (const w of workers) process.kill(w, "SIGSTOP");
    try {
      const st = await a.cli(["lab", "status", "--json", ...a.flags]);
      assert.equal(st.code, 3, st.stdout);
      const kam = (JSON.parse(st.stdout) as { components: { state: string; reason?: string }[] }).components[0]!;
      assert.equal(kam.state, "unhealthy");
      assert.match(kam.reason ?? "", /JSON-RPC .* did not answer/);
    } finally {
      for (const w of workers) process.kill(w, "SIGCONT");
    }
    assert.equal((await a.cli(["lab", "status", ...a.flags])).code, 0);
  });
});

describe("signals: SIGINT -> 130, SIGTERM -> 143, the same cleanup", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  function slowSipp(): string {
    const slow = path.join(f.dir, "slow-sipp.sh");
    writeFileSync(slow, `#!/bin/sh\nsleep 30\nexec sipp "$@"\n`);
    chmodSync(slow, 0o755);
    return slow;
  }

  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    test(`${sig} while lab up waits for readiness: exit ${code}, everything it started stopped`, async () => {
      assert.equal((await f.cli(["lab", "down", ...f.flags])).code, 0, "starts from a stopped lab");
      const child = spawn(process.execPath, [CLI, "lab", "up", ...f.flags], {
        cwd: f.dir,
        env: { ...process.env, PBX_CUTOVER_SIPP: slowSipp() },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      const state = path.join(f.labDir, "lab.json");
      await waitFor(() => existsSync(state), 60_000, "lab.json written");
      const pids = groupPids(pidsOf(f.labDir));
      child.kill(sig);
      assert.equal(await closed, code, stderr);
      assert.match(stderr, new RegExp(`interrupted by ${sig}`));
      for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} gone`);
      assert.equal(existsSync(state), false);
    });

    test(`${sig} while a command owns nothing (lab status waiting on a frozen RPC): exit ${code} at once`, async () => {
      assert.equal((await f.cli(["lab", "down", ...f.flags])).code, 0, "starts from a stopped lab");
      const up = await f.cli(["lab", "up", ...f.flags]);
      assert.equal(up.code, 0, up.stderr);
      const k = pidsOf(f.labDir)[0]!;
      process.kill(-k, "SIGSTOP");
      try {
        const child = spawn(process.execPath, [CLI, "lab", "status", ...f.flags], {
          cwd: f.dir,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        const closed = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
        // inside its RPC wait: it holds a TCP connection to the frozen Kamailio's RPC port
        await waitFor(() => connectedTo(child.pid!, f.ports.rpc), 60_000, "status connected to the RPC port");
        child.kill(sig);
        assert.equal(await closed, code, out);
        assert.doesNotMatch(out, /dispatcher mode/, "ended at once, without finishing the status");
        assert.match(out, new RegExp(`interrupted by ${sig}; nothing was running`));
      } finally {
        process.kill(-k, "SIGCONT");
      }
      assert.equal((await f.cli(["lab", "down", ...f.flags])).code, 0);
    });
  }

  test("SIGTERM while apply waits out reload_delta: exit 143, previous list back, lock released", async () => {
    // reload_delta 30: the apply is still being refused when SIGTERM comes, however slowly the child
    // started on a loaded machine (with 5 s it could be through already: exit 0)
    const up = await f.cli(["lab", "up", "--reload-delta", "30", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    const r1 = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(r1.code, 0, r1.stderr);
    const list = path.join(f.labDir, "dispatcher.list");
    const before = readFileSync(list, "utf8");
    const child = spawn(process.execPath, [CLI, "apply", "--mode", "new", ...f.flags], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    await waitFor(() => /profile: new/.test(readFileSync(list, "utf8")), 60_000, "new list written");
    child.kill("SIGTERM");
    assert.equal(await closed, 143, stderr);
    assert.match(stderr, /interrupted by SIGTERM/);
    assert.equal(readFileSync(list, "utf8"), before);
    assert.equal(existsSync(path.join(f.labDir, "apply.lock")), false);
    assert.equal((await f.cli(["lab", "down", ...f.flags])).code, 0);
  });
});
