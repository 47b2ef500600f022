import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, runProgram } from "../support/lab-fixture.js";

/**
 * scripts/lib/debian-packages.sh, which every install script (make deps, real-services, docker-deps,
 * build-freeswitch) uses for apt-get: one line per package set, apt's own output in a log file whose
 * path the line names, the log's tail and exit 3 when apt fails, the apt-get line and exit 3 when not
 * root. apt-get is a stand-in on PATH that prints what Debian's prints (no package is installed).
 */
const LIB = path.join(ROOT, "scripts", "lib", "debian-packages.sh");

const CHATTER = Array.from({ length: 40 }, (_, i) => `Creating config file /etc/demo/file-${i} with new version`);

describe("install scripts: apt-get's output goes to a log, one line per package set", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-apt-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** a PATH directory whose apt-get prints the chatter and exits with `code` on install */
  function aptStandIn(name: string, installExit: number): string {
    const bin = path.join(dir, name);
    rmSync(bin, { recursive: true, force: true });
    const script = [
      "#!/usr/bin/env bash",
      'touch "$(dirname "$0")/called"',
      'if [ "$1" = update ]; then echo "Hit:1 http://deb.debian.org/debian bookworm InRelease"; exit 0; fi',
      ...CHATTER.map((l) => `echo '${l}'`),
      installExit === 0 ? "" : 'echo "E: Unable to locate package no-such-package" >&2',
      `exit ${installExit}`,
    ].join("\n");
    const file = path.join(bin, "apt-get");
    mkdirSync(bin);
    writeFileSync(file, script + "\n");
    chmodSync(file, 0o755);
    return bin;
  }

  const run = (bin: string, logs: string, asRoot: boolean, packages: string[]) =>
    runProgram(
      "bash",
      [
        "-c",
        `set -euo pipefail; source "$1"; ${asRoot ? "debian_packages_am_root() { true; }" : "debian_packages_am_root() { false; }"}; shift; install_debian_packages demo "a demo set" "$@"; echo after`,
        "install-test",
        LIB,
        ...packages,
      ],
      { cwd: ROOT, env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}`, PBX_CUTOVER_LOG_DIR: logs } },
    );

  test("success: one line naming the set and the log; the chatter is in the log only", async () => {
    const logs = path.join(dir, "logs-ok");
    const r = await run(aptStandIn("bin-ok", 0), logs, true, ["kamailio", "sip-tester"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 2, r.stdout);
    assert.match(
      lines[0]!,
      /^demo: installing a demo set: kamailio sip-tester \(apt log: (.+\.log)\) \.\.\. done in \d+ s$/,
    );
    assert.equal(lines[1], "after");
    assert.equal(r.stderr, "");
    assert.doesNotMatch(r.stdout, /Creating config file/);
    const log = /\(apt log: (.+\.log)\)/.exec(lines[0]!)![1]!;
    assert.equal(path.dirname(log), logs);
    const text = readFileSync(log, "utf8");
    for (const l of CHATTER) assert.ok(text.includes(l), l);
    assert.match(text, /Hit:1 http:\/\/deb\.debian\.org/);
  });

  test("apt-get fails: the log's tail and its path on stderr, exit 3, the script stops", async () => {
    const logs = path.join(dir, "logs-fail");
    const r = await run(aptStandIn("bin-fail", 100), logs, true, ["no-such-package"]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^demo: installing a demo set: no-such-package \(apt log: .+\) \.\.\. failed\n$/);
    assert.match(
      r.stderr,
      /^demo: apt-get failed \(exit 100\) installing a demo set: no-such-package; the last lines of its log:/,
    );
    assert.match(r.stderr, /\n {4}E: Unable to locate package no-such-package\n/);
    assert.match(r.stderr, /\n {4}Creating config file \/etc\/demo\/file-39 with new version\n/);
    assert.doesNotMatch(r.stderr, /file-0 with/, "only the tail");
    assert.match(r.stderr, /demo: full log: .+\.log\n$/);
    assert.doesNotMatch(r.stdout, /after/);
  });

  test("not root: the apt-get line to run, exit 3, apt-get not called", async () => {
    const logs = path.join(dir, "logs-user");
    const r = await run(aptStandIn("bin-user", 0), logs, false, ["tshark"]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /demo: run as root: {2}sudo apt-get update && sudo apt-get install -y tshark/);
    assert.equal(existsSync(path.join(dir, "bin-user", "called")), false);
  });

  test("nothing missing: nothing printed, nothing run", async () => {
    const logs = path.join(dir, "logs-none");
    const r = await run(aptStandIn("bin-none", 100), logs, true, []);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "after\n");
    assert.equal(existsSync(path.join(dir, "bin-none", "called")), false);
  });
});
