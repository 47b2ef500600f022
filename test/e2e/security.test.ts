/**
 * Nothing the lab starts listens beyond loopback (Kamailio, both SIPp backends, a UAC burst: every
 * socket of their processes, read from /proc like `ss -lunpt`), and every file the tool writes has
 * its explicit mode whatever the umask.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { assetPath } from "../../src/core/assets.js";
import { uacArgv } from "../../src/sipp/argv.js";
import { CLI, labFixture, runProgram, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { groupPids, isLoopback, socketsOf, type BoundSocket } from "../support/lab-sockets.js";
import { labRpc } from "../support/lab-runtime.js";

const labPids = (labDir: string): number[] =>
  (JSON.parse(readFileSync(path.join(labDir, "lab.json"), "utf8")) as { components: { pid: number }[] }).components.map(
    (c) => c.pid,
  );

const show = (s: readonly BoundSocket[]): string =>
  s.map((x) => `${x.proto} ${x.address}:${x.port} (pid ${x.pid})`).join(", ");

describe("every socket the lab opens is on 127.0.0.0/8", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("Kamailio (all its processes) and both backends: SIP, RPC, SIPp control and media sockets", () => {
    const sockets = socketsOf(groupPids(labPids(f.labDir)));
    const ports = new Set(sockets.map((s) => s.port));
    for (const p of [f.ports.sip, f.ports.rpc, f.ports.old, f.ports.new])
      assert.ok(ports.has(p), `port ${p} seen: ${show(sockets)}`);
    assert.ok(sockets.length >= 6, `SIPp's control sockets are among them too: ${show(sockets)}`);
    const open = sockets.filter((s) => !isLoopback(s));
    assert.deepEqual(open, [], `listening beyond loopback: ${show(open)}`);
  });

  test("a UAC burst (src/sipp/argv.ts) while its call is up", async () => {
    const argv = uacArgv("sipp", assetPath("sipp", "uac-call.xml"), {
      proxy: { address: "127.0.0.1", port: f.ports.sip },
      localAddress: "127.0.0.1",
      service: "security-e2e",
      calls: 1,
      rate: 1,
      holdMs: 1500,
      callIdTag: "security-e2e",
      recvTimeoutMs: 3000,
      messageLog: path.join(f.dir, "uac.messages.log"),
      statFile: path.join(f.dir, "uac.stat.csv"),
      errorFile: path.join(f.dir, "uac.errors.log"),
    });
    const uac: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
    let running = true;
    const closed = new Promise<number | null>((resolve) => uac.on("close", (c) => ((running = false), resolve(c))));
    try {
      let sockets: BoundSocket[] = [];
      // the control socket and the SIP socket both exist once SIPp is up (a condition: polled while the
      // UAC runs, however slowly it starts; the deadline only bounds a hang)
      const deadline = Date.now() + 60_000;
      while (running && Date.now() < deadline && (sockets = socketsOf([uac.pid!])).length < 2)
        await new Promise((r) => setTimeout(r, 20));
      assert.ok(sockets.length >= 2, `UAC sockets seen: ${show(sockets)}`);
      const open = sockets.filter((s) => !isLoopback(s));
      assert.deepEqual(open, [], `UAC listening beyond loopback: ${show(open)}`);
    } finally {
      const code = await closed;
      assert.equal(code, 0, "the call completed");
    }
  });
});

/** Run the CLI under a given umask (the shell only sets it; argv passes through untouched). */
function cliUnderUmask(f: LabFixture, mask: string, args: string[]): Promise<CliResult> {
  return runProgram("/bin/sh", ["-c", `umask ${mask} && exec "$0" "$@"`, process.execPath, CLI, ...args], {
    cwd: f.dir,
  });
}

const modeOf = (p: string): string => (statSync(p).mode & 0o777).toString(8).padStart(3, "0");

describe("explicit file modes whatever the umask", () => {
  for (const mask of ["077", "000"]) {
    describe(`umask ${mask}`, () => {
      let f: LabFixture;
      before(async () => {
        f = await labFixture();
      });
      after(async () => {
        await f.dispose();
      });

      test("lab files, dispatcher lists and backups 0644, directories 0755; run folders the same", async () => {
        const up = await cliUnderUmask(f, mask, ["lab", "up", ...f.flags]);
        assert.equal(up.code, 0, up.stderr);
        const apply = await cliUnderUmask(f, mask, ["apply", "--mode", "both", ...f.flags]);
        assert.equal(apply.code, 0, apply.stderr);
        const art = path.join(f.dir, "art");
        const m = await cliUnderUmask(f, mask, ["migrate", "--artifacts-dir", art, ...f.flags]);
        assert.equal(m.code, 0, m.stderr);
        const files = [
          "lab.json",
          "kamailio.cfg",
          "dispatcher.list",
          "kamailio.log",
          "uas-old.messages.log",
          "uas-new.stdout.log",
          "dispatcher-backups/previous.list",
        ].map((n) => path.join(f.labDir, n));
        const run = path.join(
          art,
          readdirSync(art).find((n) => n.startsWith("run-"))!,
        );
        files.push(...readdirSync(run).map((n) => path.join(run, n)));
        const wrong = files.filter((p) => modeOf(p) !== "644").map((p) => `${p} ${modeOf(p)}`);
        assert.deepEqual(wrong, [], "files 0644");
        const dirs = [f.labDir, path.join(f.labDir, "dispatcher-backups"), art, run];
        assert.deepEqual(
          dirs.filter((d) => modeOf(d) !== "755").map((d) => `${d} ${modeOf(d)}`),
          [],
          "directories 0755",
        );
        assert.equal(modeOf(path.join(f.labDir, "kamailio_ctl")), "600", "Kamailio's control socket is private");
        assert.equal(modeOf(path.join(f.labDir, "kamailio-rpc-secret.cfg")), "600", "the RPC's secret is private");
      });
    });
  }
});

/** One JSON-RPC request to the lab's RPC as `user` (this process's user when undefined): HTTP status and body. */
async function rpcAs(
  f: LabFixture,
  user: string | undefined,
  method: string,
  authorization?: string,
): Promise<{ status: number; body: string }> {
  const script = `
    const http = require("node:http");
    const body = JSON.stringify({ jsonrpc: "2.0", method: process.argv[1], params: [], id: 1 });
    const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    if (process.argv[3]) headers.authorization = process.argv[3];
    const req = http.request({ host: "127.0.0.1", port: Number(process.argv[2]), path: "/RPC", method: "POST", headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, body: text })));
    });
    req.on("error", (e) => console.log(JSON.stringify({ status: 0, body: e.message })));
    req.end(body);`;
  const argv = [process.execPath, "-e", script, method, String(f.ports.rpc), authorization ?? ""];
  const r =
    user === undefined
      ? await runProgram(argv[0]!, argv.slice(1), { cwd: f.dir })
      : await runProgram(
          "setpriv",
          [`--reuid=${user}`, `--regid=${user === "nobody" ? "nogroup" : user}`, "--clear-groups", ...argv],
          {
            cwd: "/",
          },
        );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { status: number; body: string };
}

describe("the lab's RPC answers only the user who started it", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    // another user may walk to the lab dir (as under a shared /tmp): only the files' own modes protect them
    chmodSync(f.dir, 0o711);
  });
  after(async () => {
    await f.dispose();
  });

  test("JSON-RPC without the lab's secret, or with a wrong one: 401 and nothing done; with it (the tool's way): answered", async () => {
    for (const auth of [undefined, "Bearer " + "0".repeat(64), "Basic x"]) {
      const r = await rpcAs(f, undefined, "dispatcher.reload", auth);
      assert.equal(r.status, 401, `${auth ?? "no Authorization"}: ${r.body}`);
      assert.match(r.body, /needs the lab's secret/);
    }
    const rpc = labRpc(f);
    try {
      assert.match(JSON.stringify(await rpc.call("core.version")), /kamailio 5\./i);
    } finally {
      rpc.close();
    }
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.equal(st.code, 0, st.stderr);
  });

  test("as another local user (nobody): the secret cannot be read, the RPC refuses every call, kamcmd cannot connect", async () => {
    const secret = path.join(f.labDir, "kamailio-rpc-secret.cfg");
    const read = await runProgram("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", secret], {
      cwd: "/",
    });
    assert.notEqual(read.code, 0, "nobody cannot read the secret");
    assert.match(read.stderr, /Permission denied/);
    for (const method of ["dispatcher.reload", "tm.t_uac_start", "core.version"]) {
      const r = await rpcAs(f, "nobody", method);
      assert.equal(r.status, 401, `${method} as nobody: ${r.body}`);
    }
    const k = await runProgram(
      "setpriv",
      [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "kamcmd",
        "-s",
        `unix:${path.join(f.labDir, "kamailio_ctl")}`,
        "core.version",
      ],
      { cwd: "/" },
    );
    assert.doesNotMatch(k.stdout, /kamailio 5\./i, "kamcmd as nobody gets no answer");
    assert.match(k.stdout + k.stderr, /(Permission denied|connect)/i);
  });
});
