import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../../core/assets.js";
import { CutoverError } from "../../core/errors.js";
import {
  COMPOSE_V2,
  composeDownArgv,
  composeUpArgv,
  composeVersionArgv,
  dockerInfoArgv,
  freeswitchVersionArgv,
  fusionpbxSoftwarePhpArgv,
  kamcmdExecArgv,
  labContainersArgv,
  type ComposeCommand,
} from "./argv.js";
import { parseDockerPs } from "./docker-lab.js";
import { requireEngine } from "./engine.js";

const DIR = "./local-lab/real-services";

/** Every command the docker driver builds, rendered as docs/docker-lab.md shows it. */
function driverCommands(): string[] {
  return [
    dockerInfoArgv(),
    composeVersionArgv(COMPOSE_V2),
    composeVersionArgv(["docker-compose"]),
    composeUpArgv(COMPOSE_V2, DIR, { calls: false, images: "local" }),
    composeUpArgv(["docker-compose"], DIR, { calls: true, images: "local" }),
    composeUpArgv(COMPOSE_V2, DIR, { calls: false, images: "seed" }),
    labContainersArgv(),
    composeDownArgv(COMPOSE_V2, DIR, { calls: true, images: "local" }),
    kamcmdExecArgv("core.version"),
    kamcmdExecArgv("dispatcher.list"),
    kamcmdExecArgv("dispatcher.reload"),
    freeswitchVersionArgv("old"),
    freeswitchVersionArgv("new"),
    fusionpbxSoftwarePhpArgv("old"),
    fusionpbxSoftwarePhpArgv("new"),
  ].map((argv) => {
    for (const a of argv)
      assert.ok(!/[\s"'$`\\]/.test(a) || a === "{{json .}}", `argument needs quoting in docs/docker-lab.md: ${a}`);
    return argv.join(" ");
  });
}

test("docs/docker-lab.md's docker command list is exactly what the driver builds", () => {
  const readme = readFileSync(path.join(PROJECT_ROOT, "docs", "docker-lab.md"), "utf8");
  const m = /<!-- docker-commands:start -->\n```bash\n([\s\S]*?)```\n<!-- docker-commands:end -->/.exec(readme);
  assert.ok(m, "docs/docker-lab.md has no docker-commands block");
  const documented = m[1]!.trim().split("\n");
  assert.deepEqual(documented, driverCommands());
});

test("argv builders: compose files, kamcmd over docker exec, no shell", () => {
  assert.deepEqual(composeDownArgv(COMPOSE_V2, "/x/real/", { calls: false, images: "local" }), [
    "docker",
    "compose",
    "-p",
    "pbx-cutover-real",
    "-f",
    "/x/real/docker-compose.real.yml",
    "down",
    "-v",
    "--remove-orphans",
    "-t",
    "5",
  ]);
  assert.deepEqual(composeUpArgv(["docker-compose"], "/x/real", { calls: true, images: "seed" }), [
    "docker-compose",
    "-p",
    "pbx-cutover-real",
    "-f",
    "/x/real/docker-compose.real.yml",
    "-f",
    "/x/real/docker-compose.calls.yml",
    "-f",
    "/x/real/docker-compose.seed-images.yml",
    "up",
    "-d",
    "--no-build",
  ]);
  assert.deepEqual(kamcmdExecArgv("dlg.profile_get_size", ["backend", "sip:172.28.0.30:5060"]), [
    "docker",
    "exec",
    "real-kamailio",
    "kamcmd",
    "-s",
    "unix:/run/kamailio/kamailio_ctl",
    "dlg.profile_get_size",
    "backend",
    "sip:172.28.0.30:5060",
  ]);
});

type Reply = { stdout: string; stderr: string; code: number };
const runner = (replies: Record<string, Reply | Error>) => (argv: readonly string[]) => {
  const r = replies[argv.slice(1, 3).join(" ")];
  if (r === undefined) return Promise.reject(new Error(`unexpected ${argv.join(" ")}`));
  return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
};

test("requireEngine: no CLI, no engine (not asked to start one), no compose -> exit 3 with what to do; all there -> versions", async () => {
  const o = { start: false, stateDir: "/nonexistent/pbx-cutover-state" };
  const noCli = runner({ "--version": new Error("docker: ENOENT") });
  await assert.rejects(
    requireEngine(noCli, o),
    (e: unknown) => e instanceof CutoverError && e.exitCode === 3 && /docker CLI does not run/.test(e.message),
  );
  const noEngine = runner({
    "--version": { stdout: "Docker version 28.2.2\n", stderr: "", code: 0 },
    "info --format": {
      stdout: "",
      stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n",
      code: 1,
    },
  });
  await assert.rejects(
    requireEngine(noEngine, o),
    (e: unknown) =>
      e instanceof CutoverError &&
      e.exitCode === 3 &&
      /running Docker engine/.test(e.message) &&
      /Cannot connect/.test(e.message) &&
      /--docker-start-engine|apt-get/.test(e.details.join(" ")),
  );
  const v1 = runner({
    "--version": { stdout: "Docker version 28.2.2\n", stderr: "", code: 0 },
    "info --format": { stdout: "20.10.24+dfsg1\n", stderr: "", code: 0 },
    "compose version": { stdout: "", stderr: "docker: unknown command: docker compose\n", code: 1 },
    "version --short": { stdout: "1.29.2\n", stderr: "", code: 0 },
  });
  const e = await requireEngine(v1, o);
  assert.equal(e.server, "20.10.24+dfsg1");
  // detected once per process: the first answer sticks
  assert.deepEqual(e.compose, ["docker-compose"] satisfies ComposeCommand);
  assert.equal(e.composeVersion, "1.29.2");
});

test("docker ps --format {{json .}}: the lab's containers with their compose service", () => {
  const line = {
    Names: "real-kamailio",
    State: "running",
    Status: "Up 3 seconds (healthy)",
    Image: "pbx-cutover/kamailio:5.6.3",
    Labels:
      "com.docker.compose.project=pbx-cutover-real,com.docker.compose.service=kamailio,com.docker.compose.version=1.29.2",
  };
  assert.deepEqual(parseDockerPs(JSON.stringify(line) + "\n"), [
    {
      name: "real-kamailio",
      service: "kamailio",
      state: "running",
      status: "Up 3 seconds (healthy)",
      image: "pbx-cutover/kamailio:5.6.3",
    },
  ]);
  assert.deepEqual(parseDockerPs(""), []);
});
