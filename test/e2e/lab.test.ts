import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { assetPath } from "../../src/core/assets.js";
import { isTcpFree, isUdpFree } from "../../src/os/ports.js";
import { isAlive } from "../../src/os/process.js";
import { probeOptions } from "../../src/sip/options-probe.js";
import { CLI, freePorts, labFixture, type LabFixture } from "../support/lab-fixture.js";

interface StatusJson {
  running: boolean;
  components: { role: string; pid: number; alive: boolean; version: string; address: string }[];
  dispatcher: { mode: string; destinations: string[] };
}

/** Received requests of `method` whose record contains `marker`, in a SIPp -trace_msg log. */
function countRequests(log: string, method: string, marker: string): number {
  return log
    .split(/^-{10,}.*$/m)
    .filter((rec) => /message received/.test(rec))
    .filter((rec) => new RegExp(`^${method} `, "m").test(rec) && rec.includes(marker)).length;
}

async function portsFree(f: LabFixture): Promise<boolean> {
  const r = await Promise.all([
    isUdpFree("127.0.0.1", f.ports.sip),
    isTcpFree("127.0.0.1", f.ports.rpc),
    isUdpFree("127.0.0.1", f.ports.old),
    isUdpFree("127.0.0.1", f.ports.new),
  ]);
  return r.every(Boolean);
}

function slowSipp(f: LabFixture): string {
  // the real sipp, started late (for readiness-timeout and Ctrl-C tests)
  const slow = path.join(f.dir, "slow-sipp.sh");
  writeFileSync(slow, `#!/bin/sh\nsleep 30\nexec sipp "$@"\n`);
  chmodSync(slow, 0o755);
  return slow;
}

describe("native lab: up, status, real SIP through Kamailio, down", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("the whole life of a lab", async () => {
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /lab ready in \d+ ms/);

    const st = await f.cli(["lab", "status", "--json", ...f.flags]);
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout) as StatusJson;
    assert.deepEqual(
      status.components.map((c) => [c.role, c.alive]),
      [
        ["kamailio", true],
        ["old", true],
        ["new", true],
      ],
    );
    assert.match(status.components[0]!.version, /^kamailio 5\./);
    assert.match(status.components[1]!.version, /^SIPp 3\./);
    assert.equal(status.dispatcher.mode, "old");
    assert.deepEqual(
      status.dispatcher.destinations.map((d) => d.split(" ")[0]),
      [`sip:127.0.0.1:${f.ports.old}`],
    );

    const human = await f.cli(["lab", "status", ...f.flags]);
    assert.match(human.stdout, /dispatcher mode: old/);
    assert.match(human.stdout, /kamailio\s+127\.0\.0\.1:\d+\/udp\s+\d+\s+alive/);

    // a real OPTIONS through Kamailio reaches the old backend, which answers with its honest Server header
    const opt = await probeOptions({ address: "127.0.0.1", port: f.ports.sip, user: "lab-e2e-options" }, 2000);
    assert.equal(opt.status, 200, opt.error);
    assert.match(opt.server ?? "", /SIPp stand-in .*old backend/);

    // a real INVITE (SIPp UAC) through Kamailio reaches the old backend, never the new one
    const uacPort = (await freePorts()).sip;
    const uac = spawn(
      "sipp",
      [
        `127.0.0.1:${f.ports.sip}`,
        "-sf",
        assetPath("sipp", "uac-call.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        String(uacPort),
        "-m",
        "1",
        "-d",
        "100",
        "-cid_str",
        "lab-e2e-invite-%u-%p@%s",
        "-nostdin",
        "-timeout",
        "10",
        "-timeout_error",
      ],
      { stdio: "ignore" },
    );
    const code = await new Promise<number | null>((resolve) => uac.on("close", resolve));
    assert.equal(code, 0, "SIPp UAC call through Kamailio must complete");

    const oldLog = readFileSync(path.join(f.labDir, "uas-old.messages.log"), "utf8");
    const newLog = readFileSync(path.join(f.labDir, "uas-new.messages.log"), "utf8");
    assert.match(oldLog, /^OPTIONS sip:lab-e2e-options@/m, "OPTIONS reached the old backend");
    assert.doesNotMatch(newLog, /^OPTIONS sip:lab-e2e-options@/m, "OPTIONS did not reach the new backend");
    assert.equal(countRequests(oldLog, "INVITE", "lab-e2e-invite-"), 1, "INVITE reached the old backend once");
    assert.equal(countRequests(oldLog, "BYE", "lab-e2e-invite-"), 1, "BYE followed the route set to old");
    assert.equal(countRequests(newLog, "INVITE", "lab-e2e-invite-"), 0, "nothing reached the new backend");

    // a backend dies behind the lab's back: status says so (exit 3); up says it replaces the dead lab
    process.kill(status.components[2]!.pid, "SIGKILL");
    // kill() returns before the process is gone: wait for it (a condition, not a sleep)
    await until(() => !isAlive(status.components[2]!.pid), "the killed backend is gone");
    const dead = await f.cli(["lab", "status", "--json", ...f.flags]);
    assert.equal(dead.code, 3);
    assert.deepEqual(
      (JSON.parse(dead.stdout) as StatusJson).components.map((c) => c.alive),
      [true, true, false],
    );
    const restart = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(restart.code, 0, restart.stderr);
    assert.match(restart.stdout, /previous lab had dead components \(new\); stopped the rest and started afresh/);
    for (const pid of status.components.map((c) => c.pid)) assert.equal(isAlive(pid), false, `old pid ${pid} stopped`);
    const fresh = JSON.parse((await f.cli(["lab", "status", "--json", ...f.flags])).stdout) as StatusJson;
    assert.ok(fresh.components.every((c) => c.alive));

    const pids = fresh.components.map((c) => c.pid);
    const down = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /lab down/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} must be gone after down`);
    assert.ok(await portsFree(f), "all four ports are free after down");
    assert.equal(existsSync(path.join(f.labDir, "kamailio_ctl")), false, "ctl socket removed");

    // idempotent
    const again = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /not running/);
    const stDown = await f.cli(["lab", "status", ...f.flags]);
    assert.equal(stDown.code, 3, "status of a stopped lab is an environment problem");
  });
});

describe("native lab: refusals leave nothing running", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("a port in use: exit 3 naming the port and its owner", async () => {
    const squatter = dgram.createSocket("udp4");
    await new Promise<void>((r) => squatter.bind(f.ports.old, "127.0.0.1", r));
    try {
      const up = await f.cli(["lab", "up", ...f.flags]);
      assert.equal(up.code, 3, up.stderr);
      assert.match(
        up.stderr,
        new RegExp(`port ${f.ports.old}/udp on 127\\.0\\.0\\.1 is in use by pid ${process.pid} \\(node\\)`),
      );
      assert.match(up.stderr, /nothing was started/);
      assert.equal(existsSync(path.join(f.labDir, "lab.json")), false);
    } finally {
      squatter.close();
    }
    assert.ok(await isUdpFree("127.0.0.1", f.ports.sip), "kamailio was never started");
  });

  test("sipp missing from PATH: exit 3 with the install command", async () => {
    const up = await f.cli(["lab", "up", ...f.flags], { env: { ...process.env, PATH: "/nonexistent" } });
    assert.equal(up.code, 3, up.stderr);
    assert.match(up.stderr, /required program not found: sipp/);
    assert.match(up.stderr, /apt-get install -y sip-tester/);
    assert.ok(await portsFree(f));
  });

  test("kamailio missing: exit 3 with the install command", async () => {
    const up = await f.cli(["lab", "up", ...f.flags], {
      env: { ...process.env, PBX_CUTOVER_KAMAILIO: "/nonexistent/kamailio" },
    });
    assert.equal(up.code, 3, up.stderr);
    assert.match(up.stderr, /required program not found: kamailio/);
    assert.match(up.stderr, /apt-get install -y kamailio/);
    assert.ok(await portsFree(f));
  });

  test("bad flags: exit 2, nothing started", async () => {
    const r1 = await f.cli(["lab", "up", ...f.flags, "--sip-port", "70000"]);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /--sip-port 70000: must be at most 65535/);
    const r2 = await f.cli(["lab", "up", ...f.flags, "--old-addr", "10.0.0.1"]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /loopback/);
    const r3 = await f.cli(["lab", "up", ...f.flags, "--children", "two"]);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /--children must be an integer/);
    const r4 = await f.cli(["lab", "up", "--no-such-flag"]);
    assert.equal(r4.code, 2);
    const r5 = await f.cli(["lab", "up", ...f.flags, "--new-port", String(f.ports.old)]);
    assert.equal(r5.code, 2);
    assert.match(r5.stderr, /both use 127\.0\.0\.1:/);
    const r6 = await f.cli(["lab", "up", ...f.flags, "--lab-dir", "/proc/pbx-cutover-e2e/lab"]);
    assert.equal(r6.code, 2, r6.stderr);
    assert.match(r6.stderr, /cannot create the lab directory/);
    assert.ok(await portsFree(f));
  });

  test("a component that never gets ready: exit 3 with its last log lines, nothing left", async () => {
    // 5 s: Kamailio is ready long before, even on a loaded machine; the backends start 30 s late
    const up = await f.cli(["lab", "up", ...f.flags, "--ready-timeout-ms", "5000"], {
      env: { ...process.env, PBX_CUTOVER_SIPP: slowSipp(f) },
    });
    assert.equal(up.code, 3, up.stderr);
    assert.match(up.stderr, /backend SIPp UAS .* was not ready within 5000 ms/);
    assert.match(up.stderr, /last lines of /);
    assert.equal(existsSync(path.join(f.labDir, "lab.json")), false);
    assert.ok(await portsFree(f));
  });

  test("Ctrl-C during up stops everything it started", async () => {
    const child = spawn(process.execPath, [CLI, "lab", "up", ...f.flags], {
      cwd: f.dir,
      env: { ...process.env, PBX_CUTOVER_SIPP: slowSipp(f) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const state = path.join(f.labDir, "lab.json");
    // interrupt once the processes are recorded (they are spawned by then)
    await until(() => existsSync(state), `${state} written`);
    const pids = (JSON.parse(readFileSync(state, "utf8")) as { components: { pid: number }[] }).components.map(
      (c) => c.pid,
    );
    assert.equal(pids.length, 3);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted by SIGINT/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} must be gone`);
    assert.equal(existsSync(state), false);
    assert.ok(await portsFree(f));
  });
});

/** Poll `cond` until it holds; the deadline only bounds a hang (it is not a timing assumption). */
async function until(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `never: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
