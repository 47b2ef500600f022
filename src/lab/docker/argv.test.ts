import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../../assets.js";
import { CutoverError } from "../../cli/errors.js";
import {
  composeDownArgv,
  composePsArgv,
  composeUpArgv,
  composeVersionArgv,
  dockerInfoArgv,
  freeswitchVersionArgv,
  fusionpbxSoftwarePhpArgv,
  kamcmdExecArgv,
} from "./argv.js";
import { requireDocker } from "./docker-cli.js";
import { parseComposePs } from "./docker-lab.js";

const DIR = "./local-lab/real-services";

/** Every command the docker driver builds, rendered as the README shows it. */
function driverCommands(): string[] {
  return [
    composeVersionArgv(),
    dockerInfoArgv(),
    composeUpArgv(DIR, false),
    composeUpArgv(DIR, true),
    composePsArgv(DIR, true),
    composeDownArgv(DIR, true),
    kamcmdExecArgv("core.version"),
    kamcmdExecArgv("dispatcher.list"),
    kamcmdExecArgv("dispatcher.reload"),
    freeswitchVersionArgv("old"),
    freeswitchVersionArgv("new"),
    fusionpbxSoftwarePhpArgv("old"),
    fusionpbxSoftwarePhpArgv("new"),
  ].map((argv) => {
    for (const a of argv) assert.ok(!/[\s"'$`\\]/.test(a), `argument needs quoting in the README: ${a}`);
    return argv.join(" ");
  });
}

test("the README's docker command list is exactly what the driver builds", () => {
  const readme = readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
  const m = /<!-- docker-commands:start -->\n```bash\n([\s\S]*?)```\n<!-- docker-commands:end -->/.exec(readme);
  assert.ok(m, "README has no docker-commands block");
  const documented = m[1]!.trim().split("\n");
  assert.deepEqual(documented, driverCommands());
});

test("argv builders: compose files, kamcmd over docker exec, no shell", () => {
  assert.deepEqual(composeDownArgv("/x/real/", false), ["docker", "compose", "-f", "/x/real/docker-compose.real.yml", "down", "-v"]);
  assert.deepEqual(kamcmdExecArgv("dlg.profile_get_size", ["backend", "sip:172.28.0.30:5060"]), [
    "docker", "exec", "real-kamailio", "kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "dlg.profile_get_size", "backend", "sip:172.28.0.30:5060",
  ]);
});

type Reply = { stdout: string; stderr: string; code: number };
const runner = (replies: Record<string, Reply | Error>) => (argv: readonly string[]) => {
  const r = replies[argv.slice(1, 3).join(" ")];
  if (r === undefined) return Promise.reject(new Error(`unexpected ${argv.join(" ")}`));
  return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
};

test("requireDocker: no CLI, no compose plugin, no engine -> exit 3 with what to do; all there -> versions", async () => {
  const noCli = runner({ "compose version": new Error("docker: ENOENT") });
  await assert.rejects(requireDocker(noCli), (e: unknown) => e instanceof CutoverError && e.exitCode === 3 && /needs the docker CLI/.test(e.message));
  const noCompose = runner({ "compose version": { stdout: "", stderr: "docker: unknown command: docker compose\n", code: 1 } });
  await assert.rejects(requireDocker(noCompose), (e: unknown) => e instanceof CutoverError && /Compose plugin/.test(e.message) && /unknown command/.test(e.details.join(" ")));
  const noEngine = runner({
    "compose version": { stdout: "Docker Compose version v2.29.7\n", stderr: "", code: 0 },
    "info --format": { stdout: "", stderr: "Cannot connect to the Docker daemon\n", code: 1 },
  });
  await assert.rejects(requireDocker(noEngine), (e: unknown) => e instanceof CutoverError && e.exitCode === 3 && /running Docker engine/.test(e.message));
  const ok = runner({
    "compose version": { stdout: "Docker Compose version v2.29.7\n", stderr: "", code: 0 },
    "info --format": { stdout: "27.3.1\n", stderr: "", code: 0 },
  });
  assert.deepEqual(await requireDocker(ok), { server: "27.3.1", compose: "Docker Compose version v2.29.7" });
});

test("docker compose ps --format json: NDJSON (v2.21+) and array (older v2)", () => {
  const line = { Name: "real-kamailio", Service: "kamailio", State: "running", Health: "healthy", Image: "kamailio/kamailio-ci:latest" };
  const want = [{ name: "real-kamailio", service: "kamailio", state: "running", health: "healthy", image: "kamailio/kamailio-ci:latest" }];
  assert.deepEqual(parseComposePs(JSON.stringify(line) + "\n"), want);
  assert.deepEqual(parseComposePs(JSON.stringify([line])), want);
  assert.deepEqual(parseComposePs(""), []);
});

test("verify on the docker driver probes the lab's FusionPBX URLs unless the config names others", async () => {
  const { withDriverVerifyDefaults } = await import("../driver.js");
  const { parseVerifySection } = await import("../../verify/verify-config.js");
  const d = withDriverVerifyDefaults(parseVerifySection(undefined), { driver: "docker" });
  assert.equal(d.old.fusionpbxUrl, "http://127.0.0.1:18080/");
  assert.equal(d.new.fusionpbxUrl, "http://127.0.0.1:18081/");
  const own = withDriverVerifyDefaults(parseVerifySection({ old: { fusionpbxUrl: "http://127.0.0.1:9/" } }), { driver: "docker" });
  assert.equal(own.old.fusionpbxUrl, "http://127.0.0.1:9/");
  assert.equal(withDriverVerifyDefaults(parseVerifySection(undefined), { driver: "native" }).old.fusionpbxUrl, undefined);
});
