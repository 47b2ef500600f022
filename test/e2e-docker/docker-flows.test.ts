/**
 * The commands on the Docker lab, real engine, real containers (`make test-docker`): verify (versions
 * from inside the containers, over SIP from the lab bridge, over each FreeSWITCH's event socket),
 * migrate, sim and dashboard with HEP evidence from the Kamailio container, each through the seed's
 * wrapper under local-lab/real-services/ with `--driver docker`, as the seed's users run them.
 * Sabotage: the new FreeSWITCH container stopped makes verify exit 3 naming it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, runCli, runProgram, type CliResult } from "../support/lab-fixture.js";
import { dockerEnv, dockerLeaks, engineRunning } from "../support/docker-engine.js";
import { FAST } from "../support/sim-knobs.js";

const WRAPPERS = path.join(ROOT, "local-lab", "real-services");

describe("the commands on the Docker lab (real engine)", () => {
  let env: NodeJS.ProcessEnv;
  let engineAtStart: boolean;
  let art: string;
  const cli = (args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
    runCli(args, { cwd: ROOT, env: o.env ?? env, timeoutMs: 15 * 60_000 });
  const wrapper = (name: string, args: string[], e: NodeJS.ProcessEnv = env): Promise<CliResult> =>
    // from another directory, as the seed's README allows
    runProgram("bash", [path.join(WRAPPERS, name), ...args], { cwd: os.tmpdir(), env: e, timeoutMs: 15 * 60_000 });

  before(async () => {
    engineAtStart = await engineRunning();
    env = await dockerEnv(!engineAtStart);
    art = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-docker-flows-"));
  });

  after(async () => {
    await cli(["lab", "down", "--driver", "docker"]);
    rmSync(art, { recursive: true, force: true });
    assert.deepEqual(await dockerLeaks(engineAtStart), [], "the docker lab left something behind");
  });

  test("verify_versions.sh --driver docker: FreeSWITCH 1.10.3 vs 1.10.12 from SIP, the event socket and the binary in each container", async () => {
    const r = await wrapper("verify_versions.sh", ["--driver", "docker"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /verify passed: both stacks answer and are truly different/);
    const latest = readdirSync(path.join(WRAPPERS, "artifacts"))
      .filter((d) => d.startsWith("verify-"))
      .sort()
      .at(-1)!;
    const report = JSON.parse(readFileSync(path.join(WRAPPERS, "artifacts", latest, "verify.json"), "utf8")) as {
      driver: string;
      components: { component: string; reachable: boolean | string; version?: string }[];
    };
    assert.equal(report.driver, "docker");
    const version = (component: string): string | undefined =>
      report.components.find((row) => row.component === component && row.reachable === true)?.version;
    for (const [role, v] of [
      ["old", "1.10.3"],
      ["new", "1.10.12"],
    ] as const) {
      assert.equal(
        version(`${role} backend (SIP OPTIONS)`),
        v,
        `${role}: SIP User-Agent from the container, probed from the lab bridge`,
      );
      assert.equal(version(`${role} FreeSWITCH (event socket)`), v, `${role}: event socket api version`);
      assert.equal(version(`${role} FreeSWITCH (binary)`), v, `${role}: docker exec freeswitch -version`);
    }
    assert.equal(version("Kamailio (RPC)"), "5.6.3");
    // FusionPBX: the code's version from inside each container (tag 5.3.0 says 5.3.3), the installer page over HTTP
    assert.equal(version("old FusionPBX (source)"), "5.3.3");
    assert.equal(version("new FusionPBX (source)"), "5.5.7");
    for (const role of ["old", "new"]) {
      const http = report.components.find((row) => row.component === `${role} FusionPBX (HTTP)`);
      assert.equal(http?.reachable, true, `${role} FusionPBX answers on its published loopback port`);
    }
    // the event-socket password never reaches the report
    const secret = readFileSync(path.join(WRAPPERS, ".state", "freeswitch-old", "event-socket.secret"), "utf8").trim();
    assert.ok(!readFileSync(path.join(WRAPPERS, "artifacts", latest, "verify.json"), "utf8").includes(secret));
  });

  test("the new FreeSWITCH container stopped: verify exits 3 naming it", async () => {
    execFileSync("docker", ["stop", "-t", "2", "real-freeswitch-new"], { timeout: 60_000 });
    try {
      const r = await cli(["verify", "--driver", "docker", "--artifacts-dir", art]);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /new (backend|FreeSWITCH)[^\n]*unreachable/);
    } finally {
      execFileSync("docker", ["start", "real-freeswitch-new"], { timeout: 60_000 });
      // lab up on a running lab starts nothing and returns once every component is ready again
      const up = await cli(["lab", "up", "--driver", "docker"]);
      assert.equal(up.code, 0, up.stderr);
    }
  });

  test("run_real_migration_smoke.sh --driver docker: old -> both -> new on the real Kamailio container, new only at the end", async () => {
    const r = await wrapper("run_real_migration_smoke.sh", ["--driver", "docker"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /PASS: cutover complete, new only in file and runtime/);
    const st = await cli(["lab", "status", "--driver", "docker", "--json"]);
    const status = JSON.parse(st.stdout) as { dispatcher: { mode: string; destinations: string[] } };
    assert.equal(status.dispatcher.mode, "new");
    assert.deepEqual(status.dispatcher.destinations, ["sip:172.28.0.21:5060 (AX)"]);
    const down = await cli(["lab", "down", "--driver", "docker"]);
    assert.equal(down.code, 0, down.stderr);
  });

  test("run_call_cutover_sim.sh --driver docker: every phase and the in-flight cutover pass, HEP from the Kamailio container agrees with the UAS logs; the lab it started is stopped", async () => {
    const r = await wrapper("run_call_cutover_sim.sh", ["--driver", "docker", "--evidence", "both"], {
      ...env,
      ...FAST,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /PASS: all \d+ assertions passed/);
    assert.match(r.stdout, /ok\s+evidence-agrees: the stand-ins' logs and HEP agree on all/);
    assert.match(r.stdout, /HEP collector on 172\.28\.0\.1:9060/);
    assert.match(r.stdout, /ok\s+long-call-bye-reached-old/);
    const run = readdirSync(path.join(WRAPPERS, "artifacts"))
      .filter((d) => d.startsWith("call-cutover-"))
      .sort()
      .at(-1)!;
    assert.ok(existsSync(path.join(WRAPPERS, "artifacts", run, "capture.pcap")));
    assert.deepEqual(await dockerLeaks(engineAtStart), [], "sim stops the lab (and a dockerd) it started");
  });

  test("run_call_cutover_dashboard.sh --driver docker: the live view's run passes and writes live-metrics.csv", async () => {
    const r = await wrapper("run_call_cutover_dashboard.sh", ["--driver", "docker"], {
      ...env,
      ...FAST,
      DASH_NO_CLEAR: "1",
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /RESULT: PASS \(exit 0\)/);
    const run = readdirSync(path.join(WRAPPERS, "artifacts"))
      .filter((d) => d.startsWith("call-cutover-"))
      .sort()
      .at(-1)!;
    assert.ok(readFileSync(path.join(WRAPPERS, "artifacts", run, "live-metrics.csv"), "utf8").split("\n").length > 2);
    assert.deepEqual(await dockerLeaks(engineAtStart), []);
  });
});
