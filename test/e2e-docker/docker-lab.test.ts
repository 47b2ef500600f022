/**
 * The Docker real-services lab on a real Docker engine (`make test-docker`): the project's own
 * images (built here, cached by their inputs hash), `lab up/status/down --driver docker`, and the
 * faults (no engine, a port in use, an image build failing, Ctrl-C). When no engine runs at the
 * start, every `lab up` here starts Debian's dockerd (--docker-start-engine) and `lab down` stops it;
 * the leak check at the end says no container, network, volume or dockerd of the lab is left.
 * Kamailio's SIP port is published on 127.0.0.1:$PBX_CUTOVER_DOCKER_SIP_PORT (a free port, so a
 * native lab holding the seed's 15060 does not collide).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import dgram from "node:dgram";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, ROOT, runCli, type CliResult } from "../support/lab-fixture.js";
import { dockerEnv, dockerLeaks, engineRunning, labContainers, waitFor } from "../support/docker-engine.js";

describe("docker lab on a real Docker engine", () => {
  let env: NodeJS.ProcessEnv;
  let engineAtStart: boolean;
  let tmp: string;
  const cli = (args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> =>
    runCli(args, { cwd: ROOT, env: o.env ?? env, timeoutMs: o.timeoutMs ?? 15 * 60_000 });

  before(async () => {
    engineAtStart = await engineRunning();
    env = await dockerEnv(!engineAtStart);
    tmp = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-docker-e2e-"));
  });

  after(async () => {
    await cli(["lab", "down", "--driver", "docker"]);
    rmSync(tmp, { recursive: true, force: true });
    const leaks = await dockerLeaks(engineAtStart);
    assert.deepEqual(leaks, [], "the docker lab left something behind");
  });

  test("lab up builds or reuses the images, starts the lab; status shows it; down removes everything it started", async () => {
    const up = await cli(["lab", "up", "--driver", "docker"]);
    assert.equal(up.code, 0, up.stderr + up.stdout);
    const tags = [
      "pbx-cutover/debian:bookworm",
      "pbx-cutover/kamailio:5.6.3",
      "pbx-cutover/freeswitch:1.10.3",
      "pbx-cutover/freeswitch:1.10.12",
      "pbx-cutover/sipp:3.6.1",
      "pbx-cutover/postgresql:15",
      "pbx-cutover/fusionpbx:5.3.0",
      "pbx-cutover/fusionpbx:5.5.7",
    ];
    for (const tag of tags) {
      assert.match(up.stdout, new RegExp(`image ${tag.replace(/[.]/g, "\\.")}: (cached|built in)`), up.stdout);
    }
    assert.match(up.stdout, /docker lab ready in \d+ ms/);
    assert.match(up.stdout, new RegExp(`compose: (docker compose|docker-compose) `));

    // a second up finds it running and changes nothing; every image is cached now
    const again = await cli(["lab", "up", "--driver", "docker"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already running: nothing started/);
    assert.equal((again.stdout.match(/: cached \(inputs unchanged\)/g) ?? []).length, tags.length, again.stdout);

    const st = await cli(["lab", "status", "--driver", "docker", "--json"]);
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout) as {
      containers: { name: string; state: string; image: string }[];
      dispatcher: { mode: string; destinations: string[] };
    };
    assert.deepEqual(
      status.containers.map((c) => [c.name, c.state, c.image]),
      [
        ["real-freeswitch-new", "running", "pbx-cutover/freeswitch:1.10.12"],
        ["real-freeswitch-old", "running", "pbx-cutover/freeswitch:1.10.3"],
        ["real-fusionpbx-new", "running", "pbx-cutover/fusionpbx:5.5.7"],
        ["real-fusionpbx-new-db", "running", "pbx-cutover/postgresql:15"],
        ["real-fusionpbx-old", "running", "pbx-cutover/fusionpbx:5.3.0"],
        ["real-fusionpbx-old-db", "running", "pbx-cutover/postgresql:15"],
        ["real-kamailio", "running", "pbx-cutover/kamailio:5.6.3"],
      ],
    );
    assert.equal(status.dispatcher.mode, "old");
    assert.deepEqual(status.dispatcher.destinations, ["sip:172.28.0.20:5060 (AX)"]);

    const down = await cli(["lab", "down", "--driver", "docker"]);
    assert.equal(down.code, 0, down.stderr);
    if (!engineAtStart) assert.match(down.stdout, /dockerd \(started by lab up\) stopped/);
    assert.deepEqual(await dockerLeaks(engineAtStart), []);
    const gone = await cli(["lab", "status", "--driver", "docker"]);
    assert.equal(gone.code, 3, "status of a lab that is down is exit 3");
  });

  test("no engine and not asked to start one: exit 3 with the commands to run, nothing started", async () => {
    const e = {
      ...env,
      DOCKER_HOST: `unix://${path.join(tmp, "no-engine.sock")}`,
      PBX_CUTOVER_DOCKER_START_ENGINE: "0",
    };
    const r = await cli(["lab", "up", "--driver", "docker"], { env: e });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /needs a running Docker engine/);
    assert.match(r.stderr, /--docker-start-engine/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });

  test("an engine that cannot be started: exit 3 with its last log lines, nothing left", async () => {
    if (engineAtStart) return; // an engine runs: nothing to start
    const fake = path.join(tmp, "dockerd-broken");
    writeFileSync(
      fake,
      "#!/bin/sh\necho 'failed to start daemon: pid file found, ensure docker is not running' >&2\nexit 1\n",
    );
    chmodSync(fake, 0o755);
    const r = await cli(["lab", "up", "--driver", "docker", "--docker-start-engine"], {
      env: { ...env, PBX_CUTOVER_DOCKERD: fake },
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /dockerd exited right after it was started/);
    assert.match(r.stderr, /pid file found/);
    assert.deepEqual(await dockerLeaks(engineAtStart), []);
  });

  test("a published FusionPBX port in use: exit 3 naming it, no container created", async () => {
    const port = Number(env["PBX_CUTOVER_DOCKER_FUSIONPBX_NEW_PORT"]);
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(port, "127.0.0.1", r));
    try {
      const r = await cli(["lab", "up", "--driver", "docker"]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`127\\.0\\.0\\.1:${port}/tcp \\(the new FusionPBX's web UI.*is in use by node`),
      );
      assert.match(r.stderr, /PBX_CUTOVER_DOCKER_FUSIONPBX_NEW_PORT=/);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
    assert.deepEqual(await dockerLeaks(engineAtStart), []);
  });

  test("Kamailio's published port in use: exit 3 naming it, no container created", async () => {
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((r) => sock.bind(Number(env["PBX_CUTOVER_DOCKER_SIP_PORT"]), "127.0.0.1", r));
    try {
      const r = await cli(["lab", "up", "--driver", "docker"]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`127\\.0\\.0\\.1:${env["PBX_CUTOVER_DOCKER_SIP_PORT"]}/udp .* is in use by node`),
      );
      assert.match(r.stderr, /nothing was started/);
    } finally {
      sock.close();
    }
    assert.deepEqual(await dockerLeaks(engineAtStart), []);
  });

  test("an image build failing: exit 3 with the failing step's last lines; the lab is not started", async () => {
    // a FreeSWITCH 1.10.3 tree whose binary is not 1.10.3: the image's version check fails the build
    const rs = path.join(tmp, "real-services");
    const installed =
      process.env["PBX_CUTOVER_REAL_SERVICES"] ?? path.join(os.homedir(), ".cache", "pbx-cutover", "real-services");
    for (const t of ["freeswitch-1.10.3", "freeswitch-1.10.12"])
      cpSync(path.join(installed, t), path.join(rs, t), { recursive: true, verbatimSymlinks: true });
    // the FusionPBX trees as they are (the build fails before their images)
    for (const t of ["fusionpbx-5.3.0", "fusionpbx-5.5.7"]) symlinkSync(path.join(installed, t), path.join(rs, t));
    mkdirSync(path.join(rs, "freeswitch-1.10.3", "bin"), { recursive: true });
    writeFileSync(
      path.join(rs, "freeswitch-1.10.3", "bin", "freeswitch"),
      "#!/bin/sh\necho 'FreeSWITCH version: 9.9.9-broken'\n",
    );
    chmodSync(path.join(rs, "freeswitch-1.10.3", "bin", "freeswitch"), 0o755);
    const r = await cli(["lab", "up", "--driver", "docker"], { env: { ...env, PBX_CUTOVER_REAL_SERVICES: rs } });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /building the image pbx-cutover\/freeswitch:1\.10\.3 .* failed/);
    assert.match(r.stderr, /freeswitch -version \| grep -F 'version: 1\.10\.3-'/, "the failing step is shown");
    assert.ok(!r.stderr.includes("\u001b["), "no terminal colour codes");
    assert.deepEqual(await dockerLeaks(engineAtStart), []);
  });

  test("Ctrl-C during lab up: exit 130, every container, the network and a dockerd it started are gone", async () => {
    // the signal must land between compose up and readiness; fresh FreeSWITCH certificates (made on
    // first start) widen that window. A run that became ready first lost the race: it is taken down
    // and tried again (at most 3 times)
    for (let attempt = 1; ; attempt++) {
      for (const role of ["old", "new"])
        rmSync(path.join(ROOT, "local-lab", "real-services", ".state", `freeswitch-${role}`, "certs"), {
          recursive: true,
          force: true,
        });
      const child = spawn(process.execPath, [CLI, "lab", "up", "--driver", "docker"], {
        cwd: ROOT,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      await waitFor(
        async () => (await labContainers()).length > 0,
        10 * 60_000,
        () => out,
      );
      child.kill("SIGINT");
      const code = await exited;
      if (/docker lab ready in/.test(out) && attempt < 3) {
        await cli(["lab", "down", "--driver", "docker"]);
        continue;
      }
      assert.doesNotMatch(out, /docker lab ready in/, "the signal never landed before readiness");
      assert.equal(code, 130, out);
      assert.deepEqual(await dockerLeaks(engineAtStart), [], out);
      break;
    }
  });
});
