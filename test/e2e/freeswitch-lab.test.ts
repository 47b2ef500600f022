import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { FreeswitchCallBook } from "../../src/evidence/event-socket.js";
import { channelsCount, subscribeChannelEvents } from "../../src/freeswitch/event-stream.js";
import { isTcpFree, isUdpFree } from "../../src/os/ports.js";
import { isAlive } from "../../src/os/process.js";
import { callThroughProxy, freeswitchFlags, freeswitchPidsUnder } from "../support/freeswitch-fixture.js";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import type { BackendRole } from "../../src/core/backend-role.js";

/**
 * The native lab with the real services: FreeSWITCH 1.10.3 (old) and 1.10.12 (new) from the trees
 * `make real-services` installed (make test runs it first), behind the real Kamailio.
 */

interface StatusJson {
  running: boolean;
  components: { role: string; pid: number; alive: boolean; version: string }[];
}
interface VerifyJson {
  verdict: string;
  findings: { check: string; message: string }[];
  components: { component: string; version?: string; source: string; reachable: boolean | string }[];
}

function verifyJson(stdout: string): VerifyJson {
  const m = /^verify\.json: (.+)$/m.exec(stdout);
  assert.ok(m, stdout);
  return JSON.parse(readFileSync(m[1]!.trim(), "utf8")) as VerifyJson;
}

describe("native lab with real FreeSWITCH: up, status, verify, calls through Kamailio, down", () => {
  let f: LabFixture;
  let fs: string[];
  before(async () => {
    f = await labFixture();
    fs = await freeswitchFlags();
  });
  after(async () => {
    await f.dispose();
    assert.deepEqual(freeswitchPidsUnder(f.dir), [], "no freeswitch left behind");
  });

  test("the whole life of a real-services lab", async () => {
    const up = await f.cli(["lab", "up", ...f.flags, ...fs], { timeoutMs: 60_000 });
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /lab ready in \d+ ms/);

    // each instance runs from the lab dir with the config the tool wrote; the password stays out of argv and logs
    const state = JSON.parse(readFileSync(path.join(f.labDir, "lab.json"), "utf8")) as {
      components: { role: string; argv: string[] }[];
    };
    for (const role of ["old", "new"]) {
      const conf = path.join(f.labDir, `freeswitch-${role}`, "conf", "freeswitch.xml");
      const secret = path.join(f.labDir, `freeswitch-${role}`, "event-socket.secret");
      assert.equal(statSync(conf).mode & 0o777, 0o600, `${conf} is 0600`);
      assert.equal(statSync(secret).mode & 0o777, 0o600, `${secret} is 0600`);
      const password = readFileSync(secret, "utf8").trim();
      assert.match(password, /^[0-9a-f]{32}$/);
      const argv = state.components.find((c) => c.role === role)!.argv;
      assert.equal(argv[argv.indexOf("-base") + 1], path.join(f.labDir, `freeswitch-${role}`));
      for (const file of [
        path.join(f.labDir, "lab.json"),
        path.join(f.labDir, `freeswitch-${role}`, "log", "freeswitch.log"),
      ]) {
        assert.ok(!readFileSync(file, "utf8").includes(password), `password not in ${file}`);
      }
      assert.ok(!up.stdout.includes(password) && !up.stderr.includes(password));
      assert.ok(
        existsSync(path.join(f.labDir, `freeswitch-${role}`, "certs", "dtls-srtp.pem")),
        "DTLS cert made and kept",
      );
    }

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
    assert.match(status.components[1]!.version, /^FreeSWITCH 1\.10\.3 \(1\.10\.3-release/);
    assert.match(status.components[2]!.version, /^FreeSWITCH 1\.10\.12 \(1\.10\.12-release/);
    const human = await f.cli(["lab", "status", ...f.flags]);
    assert.match(human.stdout, /old\s+127\.0\.0\.1:\d+\/udp\s+\d+\s+alive\s+FreeSWITCH 1\.10\.3/);
    assert.match(human.stdout, /^FreeSWITCH channels \(show channels count\): old 0, new 0$/m);

    // verify: versions from three sources per side, old and new differ -> exit 0
    const v = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const vj = verifyJson(v.stdout);
    assert.equal(vj.verdict, "pass");
    const versionOf = (component: string): [string | undefined, string] => {
      const row = vj.components.find((c) => c.component === component);
      assert.ok(row, `row ${component}`);
      return [row.version, row.source];
    };
    assert.deepEqual(versionOf("old backend (SIP OPTIONS)"), ["1.10.3", "SIP User-Agent header"]);
    assert.deepEqual(versionOf("new backend (SIP OPTIONS)"), ["1.10.12", "SIP User-Agent header"]);
    assert.deepEqual(versionOf("old FreeSWITCH (event socket)"), ["1.10.3", "event socket `api version`"]);
    assert.deepEqual(versionOf("new FreeSWITCH (event socket)"), ["1.10.12", "event socket `api version`"]);
    assert.deepEqual(versionOf("old FreeSWITCH (binary)"), ["1.10.3", "freeswitch -version"]);
    assert.deepEqual(versionOf("new FreeSWITCH (binary)"), ["1.10.12", "freeswitch -version"]);
    for (const role of ["old", "new"]) {
      const password = readFileSync(path.join(f.labDir, `freeswitch-${role}`, "event-socket.secret"), "utf8").trim();
      assert.ok(!v.stdout.includes(password), "password not printed");
      assert.ok(!JSON.stringify(vj).includes(password), "password not in verify.json");
    }

    // each FreeSWITCH's own account of the calls: channel events by Call-ID over its event socket
    const esl = (role: BackendRole) => ({
      host: "127.0.0.1",
      port: Number(fs[fs.indexOf(`--${role}-esl-port`) + 1]),
      password: readFileSync(path.join(f.labDir, `freeswitch-${role}`, "event-socket.secret"), "utf8").trim(),
    });
    const books = { old: new FreeswitchCallBook(), new: new FreeswitchCallBook() };
    const streams = (["old", "new"] as const).map((role) =>
      subscribeChannelEvents(esl(role), esl(role).password, (e) => books[role].add(e)),
    );
    await Promise.all(streams.map((st) => st.ready));

    // real calls through Kamailio: profile old -> every call answered by 1.10.3; new -> by 1.10.12
    const toOld = await callThroughProxy(f, 3, "old");
    assert.equal(toOld.code, 0, `calls to old complete:\n${toOld.log.slice(-2000)}`);
    assert.equal(toOld.statuses.filter((s) => s === "200").length, 6, "3 INVITE 200s + 3 BYE 200s");
    assert.ok(
      toOld.userAgents.every((ua) => ua.startsWith("FreeSWITCH-mod_sofia/1.10.3-")),
      toOld.userAgents.join(", "),
    );

    const apply = await f.cli(["apply", "--mode", "new", ...f.flags]);
    assert.equal(apply.code, 0, apply.stdout + apply.stderr);
    const toNew = await callThroughProxy(f, 3, "new");
    assert.equal(toNew.code, 0, `calls to new complete:\n${toNew.log.slice(-2000)}`);
    assert.equal(toNew.statuses.filter((s) => s === "200").length, 6);
    assert.ok(
      toNew.userAgents.every((ua) => ua.startsWith("FreeSWITCH-mod_sofia/1.10.12-")),
      toNew.userAgents.join(", "),
    );

    // a call held 4 s: the new FreeSWITCH counts one channel while it is up, none after. The three
    // calls before it have ended for the caller, but under load FreeSWITCH may still be tearing down
    // their channels (seen: 2 while the held call was up); wait (bounded) until it counts none first
    const idleDeadline = Date.now() + 10_000;
    while ((await channelsCount(esl("new"), esl("new").password)) !== 0 && Date.now() < idleDeadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      await channelsCount(esl("new"), esl("new").password),
      0,
      "new's channels of the calls before have gone",
    );
    const held = callThroughProxy(f, 1, "held", 4000);
    const upDeadline = Date.now() + 4000;
    let during = 0;
    while (during === 0 && Date.now() < upDeadline) {
      during = await channelsCount(esl("new"), esl("new").password);
      if (during === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(during, 1, "show channels count on new while the held call is up");
    assert.equal(await channelsCount(esl("old"), esl("old").password), 0, "old has no channel");
    assert.equal((await held).code, 0);

    // the event books agree with the caller: each call's Call-ID on exactly the FreeSWITCH its profile
    // sent it to, answered, and ended by the caller's BYE reaching that FreeSWITCH
    const completeDeadline = Date.now() + 5000;
    const allComplete = (): boolean =>
      books.old.withPrefix("fs-e2e-old-").filter((c) => c.complete).length === 3 &&
      books.new.withPrefix("fs-e2e-new-").filter((c) => c.complete).length === 3 &&
      books.new.withPrefix("fs-e2e-held-").filter((c) => c.complete).length === 1;
    while (!allComplete() && Date.now() < completeDeadline) await new Promise((r) => setTimeout(r, 50));
    for (const [role, other, label, n] of [
      ["old", "new", "old", 3],
      ["new", "old", "new", 3],
      ["new", "old", "held", 1],
    ] as const) {
      const calls = books[role].withPrefix(`fs-e2e-${label}-`);
      assert.equal(calls.length, n, `${label} calls seen by ${role} FreeSWITCH`);
      assert.equal(books[other].withPrefix(`fs-e2e-${label}-`).length, 0, `${label} calls never reached ${other}`);
      for (const c of calls) {
        assert.ok(c.answeredAtMs !== undefined, `${c.callId} answered`);
        assert.ok(
          c.byeReceived,
          `${c.callId}: the caller's BYE reached ${role} (${c.hangupDisposition ?? "no disposition"})`,
        );
        assert.equal(c.channels.length, 1);
      }
    }
    const heldCall = books.new.withPrefix("fs-e2e-held-")[0]!;
    assert.ok(heldCall.hungUpAtMs! - heldCall.answeredAtMs! >= 3500, "the held call lasted until the caller's BYE");
    for (const st of streams) st.close();
    await Promise.all(streams.map((st) => st.closed));

    // FreeSWITCH writes no SIPp-style message log: evidence from the stand-ins' logs is refused before
    // anything starts, lab left as it was (sim on it: sim-freeswitch.test.ts)
    const sim = await f.cli([
      "sim",
      ...f.flags,
      "--evidence",
      "sipp",
      "--calls-per-phase",
      "1",
      "--artifacts-dir",
      "artifacts",
    ]);
    assert.equal(sim.code, 2, sim.stdout + sim.stderr);
    assert.match(
      sim.stderr,
      /--evidence sipp: these backends write no message logs \(a real PBX\); nothing was started/,
    );
    assert.ok(
      status.components.every((c) => isAlive(c.pid)),
      "the running lab is untouched",
    );

    const pids = status.components.map((c) => c.pid);
    const down = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(down.code, 0, down.stderr);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} gone after down`);
    assert.deepEqual(freeswitchPidsUnder(f.dir), []);
    assert.ok(await isUdpFree("127.0.0.1", f.ports.old));
    assert.ok(await isTcpFree("127.0.0.1", Number(fs[fs.indexOf("--old-esl-port") + 1])), "event socket port free");
    assert.ok(
      existsSync(path.join(f.labDir, "freeswitch-old", "certs", "dtls-srtp.pem")),
      "certs kept for the next start",
    );
  });
});

describe("native lab with real FreeSWITCH: same version in both slots, refusals, Ctrl-C", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
    assert.deepEqual(freeswitchPidsUnder(f.dir), [], "no freeswitch left behind");
  });

  test("1.10.12 in both slots: verify fails with exit 1 naming the same version", async () => {
    const fs = await freeswitchFlags({ old: "1.10.12" });
    const up = await f.cli(["lab", "up", ...f.flags, ...fs], { timeoutMs: 60_000 });
    assert.equal(up.code, 0, up.stdout + up.stderr);
    try {
      const v = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
      assert.equal(v.code, 1, v.stdout + v.stderr);
      assert.match(v.stdout, /FAIL: old and new report the same freeswitch version 1\.10\.12/);
      const vj = verifyJson(v.stdout);
      assert.equal(vj.verdict, "fail");
      assert.ok(vj.components.filter((c) => c.component.startsWith("old")).some((c) => c.version === "1.10.12"));
    } finally {
      const down = await f.cli(["lab", "down", ...f.flags]);
      assert.equal(down.code, 0, down.stderr);
    }
    assert.deepEqual(freeswitchPidsUnder(f.dir), []);
  });

  test("a FreeSWITCH that is not installed: exit 3 naming make real-services; a bad kind: exit 2; nothing started", async () => {
    const missing = await f.cli(["lab", "up", ...f.flags, ...(await freeswitchFlags({ new: "1.10.99" }))]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /FreeSWITCH 1\.10\.99 for the new backend is not installed at .*freeswitch-1\.10\.99/);
    assert.match(missing.stderr, /make real-services/);
    assert.equal(existsSync(path.join(f.labDir, "lab.json")), false);
    const bad = await f.cli(["lab", "up", ...f.flags, "--backends", "asterisk"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /backends/);
    assert.ok(await isUdpFree("127.0.0.1", f.ports.sip), "kamailio was never started");
    assert.deepEqual(freeswitchPidsUnder(f.dir), []);
  });

  test("Ctrl-C while FreeSWITCH starts: exit 130, every freeswitch stopped", async () => {
    const fs = await freeswitchFlags();
    const child = spawn(process.execPath, [CLI, "lab", "up", ...f.flags, ...fs], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    // interrupt as soon as both freeswitch processes exist (they need ~1.5 s to be ready)
    const deadline = Date.now() + 20_000;
    while (freeswitchPidsUnder(f.dir).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const pids = freeswitchPidsUnder(f.dir);
    assert.equal(pids.length, 2, stderr);
    child.kill("SIGINT");
    const code = await closed;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted by SIGINT/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `freeswitch ${pid} must be gone`);
    assert.deepEqual(freeswitchPidsUnder(f.dir), []);
    assert.equal(existsSync(path.join(f.labDir, "lab.json")), false);
  });
});
