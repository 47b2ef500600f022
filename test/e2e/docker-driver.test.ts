/**
 * The docker driver without a Docker engine: a fake `docker` on PATH answers the driver's commands,
 * forwarding `docker exec real-kamailio kamcmd ...` to the real kamcmd of a native lab. This runs the
 * driver's real code path (argv, KamcmdRpcClient, version sources, verify) end to end; the Docker
 * lab itself is only checked statically here (see README).
 * No SIP leaves loopback: the docker backends (172.28.0.x) are skipped by the direct probe, and the
 * probes through Kamailio are off (`verify.throughProxy: false`).
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { verifiedApply } from "../../src/kamailio/apply.js";
import { modeOf, parseDispatcherListResult } from "../../src/kamailio/runtime.js";
import { kamcmdExecArgv, freeswitchVersionArgv, fusionpbxSoftwarePhpArgv } from "../../src/lab/docker/argv.js";
import { runArgv } from "../../src/lab/docker/docker-cli.js";
import { dockerTarget } from "../../src/lab/docker/docker-target.js";
import { dockerBackendUri } from "../../src/lab/docker/topology.js";
import { writeFakeDocker } from "../support/fake-docker.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";

describe("docker driver against a fake docker CLI", () => {
  let f: LabFixture;
  let env: NodeJS.ProcessEnv;
  let log: string;
  let cfg: string;
  let web: http.Server;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    const fake = writeFakeDocker(f.dir);
    log = fake.log;
    env = {
      ...process.env,
      PATH: `${fake.binDir}${path.delimiter}${process.env["PATH"] ?? ""}`,
      FAKE_DOCKER_KAMCTL: path.join(f.labDir, "kamailio_ctl"),
      FAKE_FS_OLD: "1.10.3",
      FAKE_FS_NEW: "1.10.12",
    };
    // stands in for the two FusionPBX web UIs (a fresh FusionPBX redirects to its install wizard,
    // which answers its form: verify follows the redirect and checks the page)
    web = http.createServer((req, res) => {
      if (req.url === "/core/install/install.php") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html><head><title>FusionPBX</title></head><body><form method='post'><input type='hidden' name='step' value='2'></form></body></html>");
        return;
      }
      res.writeHead(302, { location: "/core/install/install.php" });
      res.end();
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    const port = (web.address() as { port: number }).port;
    cfg = path.join(f.dir, "docker-verify.json");
    writeFileSync(
      cfg,
      JSON.stringify({
        verify: { throughProxy: false, old: { fusionpbxUrl: `http://127.0.0.1:${port}/old/` }, new: { fusionpbxUrl: `http://127.0.0.1:${port}/new/` } },
      }),
    );
  });
  after(async () => {
    await new Promise<void>((r) => web.close(() => r()));
    await f.dispose();
  });

  test("verify --driver docker: Kamailio over docker exec kamcmd, versions from the containers", async () => {
    writeFileSync(log, "");
    const r = await f.cli(["verify", "--driver", "docker", "--config", cfg, "--artifacts-dir", "artifacts"], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Kamailio \(RPC\)\s+docker exec real-kamailio kamcmd\s+yes .*Kamailio 5\.6\.3/);
    assert.match(r.stdout, /old FreeSWITCH \(binary\)\s+docker exec real-freeswitch-old\s+yes .*FreeSWITCH 1\.10\.3\s+freeswitch -version/);
    assert.match(r.stdout, /new FreeSWITCH \(binary\).*FreeSWITCH 1\.10\.12/);
    assert.match(r.stdout, /old FusionPBX \(source\).*FusionPBX 5\.3\.3\s+software\.php/);
    assert.match(r.stdout, /new FusionPBX \(source\).*FusionPBX 5\.5\.7/);
    assert.match(r.stdout, /old backend \(SIP OPTIONS\)\s+172\.28\.0\.20:5060\/udp\s+skipped \(not on loopback/);
    assert.match(r.stdout, /\(docker driver\)/);
    assert.match(r.stdout, /old FusionPBX \(HTTP\)\s+http:\/\/127\.0\.0\.1:\d+\/old\/\s+yes \(302/);
    // the driver ran exactly the documented argv builders' commands
    const ran = readFileSync(log, "utf8").trim().split("\n").map((l) => ["docker", ...(JSON.parse(l) as string[])]);
    const expected = [kamcmdExecArgv("core.version"), freeswitchVersionArgv("old"), freeswitchVersionArgv("new"), fusionpbxSoftwarePhpArgv("old"), fusionpbxSoftwarePhpArgv("new")];
    for (const e of expected) assert.ok(ran.some((x) => JSON.stringify(x) === JSON.stringify(e)), `not run: ${e.join(" ")}`);
  });

  test("same FreeSWITCH version in both containers: exit 1", async () => {
    const r = await f.cli(["verify", "--driver", "docker", "--config", cfg, "--artifacts-dir", "artifacts"], {
      env: { ...env, FAKE_FS_OLD: "1.10.12" },
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL: old and new report the same freeswitch version 1\.10\.12/);
  });

  test("lab status --driver docker reads the runtime dispatcher through kamcmd", async () => {
    // `docker compose ps` is not faked: status must fail with exit 3 and say why, without a crash
    const r = await f.cli(["lab", "status", "--driver", "docker"], { env });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /docker compose ps failed/);
  });

  test("verified apply on the docker Target: list written through the mounted directory, reload and read-back over kamcmd", async () => {
    // a docker dir whose kamailio/ is the native lab's directory, as /etc/kamailio is the mounted one
    const dockerDir = path.join(f.dir, "docker-dir");
    mkdirSync(dockerDir);
    symlinkSync(f.labDir, path.join(dockerDir, "kamailio"));
    const fakeDocker = path.join(f.dir, "fakebin", "docker");
    const saved = process.env["FAKE_DOCKER_KAMCTL"];
    process.env["FAKE_DOCKER_KAMCTL"] = path.join(f.labDir, "kamailio_ctl");
    const target = dockerTarget(dockerDir, "sipp", (argv, t) => runArgv([fakeDocker, ...argv.slice(1)], t));
    try {
      for (const mode of ["both", "new", "old"] as const) {
        const out = await verifiedApply(target, mode, { command: `test apply ${mode}` });
        assert.equal(out.ok, true);
        const runtime = parseDispatcherListResult(await target.rpc.call("dispatcher.list"));
        assert.equal(modeOf(runtime, 1, target.backends.old.uri, target.backends.new.uri), mode);
        assert.equal(readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"), out.profileText);
      }
      assert.match(readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"), /^1 sip:172\.28\.0\.30:5060 0 0$/m);
    } finally {
      target.close();
      if (saved === undefined) delete process.env["FAKE_DOCKER_KAMCTL"];
      else process.env["FAKE_DOCKER_KAMCTL"] = saved;
    }
  });

  test("dashboard --driver docker observes the run's one Target: the SIPp UAS URIs the simulation uses", async () => {
    const dockerDir = path.join(f.dir, "docker-dash");
    mkdirSync(dockerDir);
    symlinkSync(f.labDir, path.join(dockerDir, "kamailio"));
    writeFileSync(log, "");
    const art = path.join(f.dir, "artifacts-docker-dash");
    // the lab "runs" (compose ps), Kamailio answers through kamcmd; the backends on the Docker network do
    // not answer the preflight OPTIONS Kamailio sends them (faked, never sent): exit 3 before any call
    const r = await f.cli(["dashboard", "--driver", "docker", "--docker-dir", dockerDir, "--artifacts-dir", art, "--interval", "0.05"], {
      env: { ...env, FAKE_DOCKER_LAB_RUNNING: "1", DASH_NO_CLEAR: "1" },
    });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /the old backend sip:172\.28\.0\.30:5060 does not answer SIP OPTIONS .*; nothing was changed/);
    const results = JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as { target: { old: string; new: string } };
    const simUris = [results.target.old, results.target.new];
    assert.deepEqual(simUris, [dockerBackendUri("sipp", "old"), dockerBackendUri("sipp", "new")], "the sim ran on the SIPp UAS backends");
    const stdoutLog = readFileSync(path.join(art, "latest", "simulation.stdout.log"), "utf8");
    assert.ok(stdoutLog.includes(`lab: already running (docker driver, docker dir ${dockerDir}); left running at the end`), stdoutLog);
    // every active-dialog question the dashboard asked named the sim's backends, and it asked after the end
    const ran = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as string[]);
    const asked = ran.filter((a) => a.includes("dlg.profile_get_size")).map((a) => a.at(-1)!);
    assert.ok(asked.length >= 2, `the dashboard asked Kamailio: ${asked.join(", ")}`);
    assert.deepEqual([...new Set(asked)].sort(), [...simUris].sort());
    assert.match(r.stdout, /^active dialogs at the end: old 0, new 0 \(Kamailio, asked (\d+ ms|\d+\.\d s) after the run\)$/m);
  });

  test("Docker engine not running: exit 3 with a clear message, nothing changed", async () => {
    for (const args of [["verify", "--driver", "docker"], ["lab", "up", "--driver", "docker"], ["lab", "down", "--driver", "docker"]]) {
      const r = await f.cli(args, { env: { ...env, FAKE_DOCKER_NO_ENGINE: "1" } });
      assert.equal(r.code, 3, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /the docker driver needs a running Docker engine; nothing was started or changed/);
      assert.match(r.stderr, /Cannot connect to the Docker daemon/);
    }
  });
});
