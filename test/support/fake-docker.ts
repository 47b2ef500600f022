import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "./lab-fixture.js";

/**
 * A stand-in `docker` executable for tests on machines without a Docker engine. It answers exactly
 * the commands the docker driver runs, and logs every argv (one JSON array per line):
 *   docker compose version                         -> a version line
 *   docker info --format {{.ServerVersion}}        -> a server version (or fails: FAKE_DOCKER_NO_ENGINE=1)
 *   docker compose -f ... ps --format json         -> every container running (only with FAKE_DOCKER_LAB_RUNNING=1)
 *   docker exec real-kamailio kamcmd -s unix:/run/kamailio/kamailio_ctl ... -> the REAL kamcmd against
 *                                                     the native lab's ctl socket (FAKE_DOCKER_KAMCTL),
 *                                                     except tm.t_uac_wait_block: the native Kamailio would
 *                                                     send that OPTIONS to 172.28.0.x, off loopback; it
 *                                                     answers "408 Request Timeout" (error 500) instead
 *   docker exec real-freeswitch-<role> freeswitch -version -> `FreeSWITCH version: <FAKE_FS_<ROLE>> ...`
 *   docker exec real-fusionpbx-<role> cat .../software.php -> the recorded software.php fixture
 * Anything else exits 1, so an unexpected command fails the test.
 */
export function writeFakeDocker(dir: string): { binDir: string; log: string } {
  const binDir = path.join(dir, "fakebin");
  mkdirSync(binDir, { recursive: true });
  const log = path.join(dir, "docker-argv.log");
  const fixtures = path.join(ROOT, "test", "fixtures");
  const script = `#!${process.execPath}
const { appendFileSync, readFileSync } = require("node:fs");
const { spawnSync } = require("node:child_process");
const a = process.argv.slice(2);
appendFileSync(${JSON.stringify(log)}, JSON.stringify(a) + "\\n");
const out = (s) => process.stdout.write(s);
const eq = (x) => JSON.stringify(a.slice(0, x.length)) === JSON.stringify(x);
if (eq(["compose", "version"])) { out("Docker Compose version v2.29.7 (fake)\\n"); process.exit(0); }
if (eq(["info", "--format", "{{.ServerVersion}}"])) {
  if (process.env.FAKE_DOCKER_NO_ENGINE === "1") {
    process.stderr.write("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\\n");
    process.exit(1);
  }
  out("27.3.1-fake\\n"); process.exit(0);
}
if (a[0] === "compose" && a.includes("ps") && process.env.FAKE_DOCKER_LAB_RUNNING === "1") {
  for (const [name, service] of [["real-kamailio", "kamailio"], ["real-sipp-uas-old", "sipp-uas-old"], ["real-sipp-uas-new", "sipp-uas-new"]]) {
    out(JSON.stringify({ Name: name, Service: service, State: "running", Health: "", Image: "fake" }) + "\\n");
  }
  process.exit(0);
}
if (eq(["exec", "real-kamailio", "kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "tm.t_uac_wait_block"])) {
  out("error: 500 - 408 Request Timeout\\n"); process.exit(1);
}
if (eq(["exec", "real-kamailio", "kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl"])) {
  const r = spawnSync(process.env.FAKE_DOCKER_KAMCMD || "/usr/sbin/kamcmd", ["-s", "unix:" + process.env.FAKE_DOCKER_KAMCTL, ...a.slice(5)], { encoding: "utf8" });
  out(r.stdout || ""); process.stderr.write(r.stderr || ""); process.exit(r.status === null ? 1 : r.status);
}
const fs = /^real-freeswitch-(old|new)$/.exec(a[1] || "");
if (a[0] === "exec" && fs && a[2] === "freeswitch" && a[3] === "-version") {
  const v = process.env["FAKE_FS_" + fs[1].toUpperCase()];
  out("FreeSWITCH version: " + v + "-release~64bit (-release 64bit)\\n"); process.exit(0);
}
const fp = /^real-fusionpbx-(old|new)$/.exec(a[1] || "");
if (a[0] === "exec" && fp && a[2] === "cat" && a[3] === "/var/www/fusionpbx/core/software/resources/classes/software.php") {
  out(readFileSync(${JSON.stringify(fixtures)} + "/fusionpbx-" + (fp[1] === "old" ? "5.3.0" : "5.5.7") + "-software.php", "utf8")); process.exit(0);
}
process.stderr.write("fake docker: unsupported command: " + a.join(" ") + "\\n");
process.exit(1);
`;
  const file = path.join(binDir, "docker");
  writeFileSync(file, script);
  chmodSync(file, 0o755);
  return { binDir, log };
}
