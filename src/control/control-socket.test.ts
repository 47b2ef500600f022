import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { EnvironmentError } from "../core/errors.js";
import { RunEvents } from "../events/run-events.js";
import { startTimeOf } from "../os/ownership.js";
import { locateRun, sendControl } from "./control-client.js";
import { openControlServer } from "./control-socket.js";
import { POINTER_FILE, PROTOCOL_VERSION, SOCKET_FILE } from "./protocol.js";
import { RunControl } from "./run-control.js";
import { initialStatus, reduceStatus, statusView } from "./run-status.js";

const root = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-control-unit-"));
after(() => rmSync(root, { recursive: true, force: true }));

function dirs(name: string): { runDir: string; labDir: string } {
  const runDir = path.join(root, name, "run");
  const labDir = path.join(root, name, "lab");
  mkdirSync(runDir, { recursive: true, mode: 0o755 });
  mkdirSync(labDir, { recursive: true, mode: 0o755 });
  chmodSync(runDir, 0o755);
  chmodSync(labDir, 0o755);
  return { runDir, labDir };
}

async function server(runDir: string, labDir: string) {
  const events = new RunEvents();
  let st = initialStatus({
    runDir,
    pid: process.pid,
    command: "test",
    startedAt: Date.now(),
    source: "unit",
    steps: [{ label: "old", weightNew: 0, holdS: 10, gates: [] }],
  });
  events.subscribe((e) => (st = reduceStatus(st, e)));
  const control = new RunControl(events);
  const s = await openControlServer({
    runDir,
    pointerDir: labDir,
    command: "test",
    control,
    status: () => statusView(st, Date.now()),
  });
  return { s, control };
}

describe("control socket", () => {
  it("owner-only socket and pointer; status and actions over one JSON line; both removed on close", async () => {
    const { runDir, labDir } = dirs("a");
    const { s, control } = await server(runDir, labDir);
    assert.equal(s.socketPath, path.join(runDir, SOCKET_FILE));
    const sock = lstatSync(s.socketPath);
    assert.ok(sock.isSocket());
    assert.equal(sock.mode & 0o777, 0o600);
    assert.equal(lstatSync(s.pointerPath).mode & 0o777, 0o600);
    const ptr = JSON.parse(readFileSync(path.join(labDir, POINTER_FILE), "utf8")) as { socket: string; pid: number };
    assert.deepEqual([ptr.socket, ptr.pid], [s.socketPath, process.pid]);
    const loc = locateRun({ pointerDir: labDir });
    const st = await sendControl(loc, "status");
    assert.equal(st.ok, true);
    assert.equal(st.ok && st.status.runDir, runDir);
    const p = await sendControl(loc, "pause");
    assert.equal(p.ok && p.status.paused, true);
    assert.equal(control.paused, true);
    const refused = await sendControl(loc, "promote");
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.error : "", /paused; resume it first/);
    // --run-dir finds the same run
    const byRun = await sendControl(locateRun({ runDir, pointerDir: path.join(root, "nowhere") }), "resume");
    assert.equal(byRun.ok, true);
    await s.close();
    assert.ok(!existsSync(s.socketPath), "socket removed");
    assert.ok(!existsSync(s.pointerPath), "pointer removed");
    assert.throws(
      () => locateRun({ pointerDir: labDir }),
      (e: unknown) => e instanceof EnvironmentError && /no plan is running on this lab: there is no/.test(e.message),
    );
  });

  it("a bad request line gets an error answer, not a hang", async () => {
    const { runDir, labDir } = dirs("b");
    const { s } = await server(runDir, labDir);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.createConnection(s.socketPath);
        let buf = "";
        c.on("data", (d) => (buf += d.toString()));
        c.on("end", () => resolve(buf));
        c.on("error", reject);
        c.write('{"v":1,"command":"reboot"}\n');
      });
      const r = JSON.parse(answer) as { v: number; ok: boolean; error: string };
      assert.equal(r.v, PROTOCOL_VERSION);
      assert.equal(r.ok, false);
      assert.match(r.error, /bad request: command/);
    } finally {
      await s.close();
    }
  });

  it("a directory others can write is refused before anything listens", async () => {
    const { runDir, labDir } = dirs("c");
    chmodSync(runDir, 0o777);
    await assert.rejects(
      server(runDir, labDir),
      (e: unknown) => e instanceof EnvironmentError && /writable by its group/.test(e.message),
    );
    assert.ok(!existsSync(path.join(runDir, SOCKET_FILE)));
    assert.ok(!existsSync(path.join(labDir, POINTER_FILE)));
  });

  it("a run folder path too long for a socket: the socket goes into a private temp dir the pointer names", async () => {
    const { labDir } = dirs("d");
    const runDir = path.join(root, "d", "x".repeat(120));
    mkdirSync(runDir, { mode: 0o755 });
    chmodSync(runDir, 0o755);
    const { s } = await server(runDir, labDir);
    try {
      assert.notEqual(path.dirname(s.socketPath), runDir);
      assert.equal(lstatSync(path.dirname(s.socketPath)).mode & 0o777, 0o700);
      const r = await sendControl(locateRun({ runDir, pointerDir: labDir }), "status");
      assert.equal(r.ok, true);
    } finally {
      await s.close();
    }
    assert.ok(!existsSync(path.dirname(s.socketPath)), "the private dir is removed");
  });

  it("stale: a run killed with SIGKILL leaves its socket; the client reports it (pid gone), removes it, never hangs", async () => {
    const { runDir, labDir } = dirs("e");
    const sockPath = path.join(runDir, SOCKET_FILE);
    // a real process binds the socket and is killed: the file stays, nobody listens
    const child = spawn(
      process.execPath,
      ["-e", `require("net").createServer().listen(${JSON.stringify(sockPath)}, () => console.log("up"))`],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    const pid = child.pid!;
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    chmodSync(sockPath, 0o600);
    assert.ok(lstatSync(sockPath).isSocket(), "the killed run's socket is left behind");
    // --run-dir straight at it: connection refused, reported as stale
    await assert.rejects(
      sendControl(locateRun({ runDir, pointerDir: path.join(root, "nowhere") }), "status"),
      (e: unknown) =>
        e instanceof EnvironmentError &&
        /no plan is listening on .* \(ECONNREFUSED\): the socket is stale/.test(e.message),
    );
    // through the lab's pointer: the pid is gone, so it is stale; pointer and socket are removed
    const ptr = { v: 1, socket: sockPath, runDir, pid, command: "pbx-cutover migrate", startedAt: "then" };
    writeFileSync(path.join(labDir, POINTER_FILE), JSON.stringify(ptr), { mode: 0o600 });
    assert.throws(
      () => locateRun({ pointerDir: labDir }),
      (e: unknown) => e instanceof EnvironmentError && /is stale \(its run, pid \d+ .* is gone/.test(e.message),
    );
    assert.ok(!existsSync(path.join(labDir, POINTER_FILE)), "stale pointer removed");
    assert.ok(!existsSync(sockPath), "stale socket removed");
    // a pointer naming a live process whose start time differs (a reused pid) is stale too
    writeFileSync(path.join(labDir, POINTER_FILE), JSON.stringify({ ...ptr, pid: process.pid, startTime: "1" }), {
      mode: 0o600,
    });
    assert.throws(() => locateRun({ pointerDir: labDir }), /is stale/);
    // a live run (our pid and start time) whose socket was removed by hand
    writeFileSync(
      path.join(labDir, POINTER_FILE),
      JSON.stringify({ ...ptr, pid: process.pid, startTime: startTimeOf(process.pid) }),
      { mode: 0o600 },
    );
    assert.throws(() => locateRun({ pointerDir: labDir }), /has no control socket/);
  });

  it("a run that accepts but never answers: timeout, exit 3, no hang", async () => {
    const { runDir } = dirs("f");
    const sockPath = path.join(runDir, SOCKET_FILE);
    const mute = net.createServer(() => undefined);
    await new Promise<void>((r) => mute.listen(sockPath, () => r()));
    chmodSync(sockPath, 0o600);
    try {
      const t0 = Date.now();
      await assert.rejects(
        sendControl(locateRun({ runDir, pointerDir: runDir }), "status", { answerMs: 300 }),
        (e: unknown) => e instanceof EnvironmentError && /did not answer within 300 ms/.test(e.message),
      );
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      mute.close();
    }
  });

  it("a socket that is not owner-only is refused", async () => {
    const { runDir } = dirs("g");
    const sockPath = path.join(runDir, SOCKET_FILE);
    const open = net.createServer();
    await new Promise<void>((r) => open.listen(sockPath, () => r()));
    chmodSync(sockPath, 0o666);
    try {
      assert.throws(
        () => locateRun({ runDir, pointerDir: runDir }),
        (e: unknown) => e instanceof EnvironmentError && /accessible to group or others \(mode 666\)/.test(e.message),
      );
    } finally {
      open.close();
    }
  });
});
