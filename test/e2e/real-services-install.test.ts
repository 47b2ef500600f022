import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, runProgram } from "../support/lab-fixture.js";

/**
 * scripts/install-real-services.sh (`make real-services`) against a vendor directory: checksums
 * checked before unpacking, only what is missing installed, bad input refused. Uses the offline
 * copies in ../shared/vendor (or PBX_CUTOVER_VENDOR) that `make test` uses.
 */
const SCRIPT = path.join(ROOT, "scripts", "install-real-services.sh");
const VENDOR = process.env["PBX_CUTOVER_VENDOR"] || path.resolve(ROOT, "..", "shared", "vendor");
const TARBALLS = [
  "freeswitch-1.10.3-debian12-amd64.tar.zst",
  "freeswitch-1.10.12-debian12-amd64.tar.zst",
  "fusionpbx-5.3.0.tar.zst",
  "fusionpbx-5.5.7.tar.zst",
];

// Without the offline copies (a clone that is not beside shared/, no PBX_CUTOVER_VENDOR) the install
// from a vendor directory cannot be exercised: said as a skip with the reason, never a silent pass.
const NO_VENDOR = existsSync(path.join(VENDOR, "SHA256SUMS"))
  ? false
  : `no vendor tarballs in ${VENDOR} (set PBX_CUTOVER_VENDOR)`;

describe("make real-services from a vendor directory", { skip: NO_VENDOR }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-install-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (vendor: string, dest: string) =>
    runProgram("bash", [SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, PBX_CUTOVER_VENDOR: vendor, PBX_CUTOVER_REAL_SERVICES: dest },
      timeoutMs: 120_000,
    });

  /** a vendor dir with links to the real tarballs and a SHA256SUMS we may tamper with */
  function vendorCopy(name: string, sums: (text: string) => string): string {
    const v = path.join(dir, name);
    mkdirSync(v);
    for (const t of TARBALLS) symlinkSync(path.join(VENDOR, t), path.join(v, t));
    writeFileSync(path.join(v, "SHA256SUMS"), sums(readFileSync(path.join(VENDOR, "SHA256SUMS"), "utf8")));
    return v;
  }

  test("installs all four, each FreeSWITCH answers -version; a second run installs nothing", async () => {
    const dest = path.join(dir, "good");
    const r = await run(
      vendorCopy("vendor-good", (s) => s),
      dest,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /freeswitch-1\.10\.3 installed: FreeSWITCH version: 1\.10\.3-release/);
    assert.match(r.stdout, /freeswitch-1\.10\.12 installed: FreeSWITCH version: 1\.10\.12-release/);
    for (const d of [
      "freeswitch-1.10.3/bin/freeswitch",
      "freeswitch-1.10.12/mod/mod_sofia.so",
      "fusionpbx-5.3.0/core/software/resources/classes/software.php",
      "fusionpbx-5.5.7/index.php",
    ]) {
      assert.ok(existsSync(path.join(dest, d)), d);
    }
    assert.match(
      readFileSync(path.join(dest, "freeswitch-1.10.3", ".pbx-cutover-installed"), "utf8"),
      /^sha256=2776381d/m,
    );
    const again = await run(
      vendorCopy("vendor-good2", (s) => s),
      dest,
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal((again.stdout.match(/ present \(/g) ?? []).length, 4, again.stdout);
    assert.doesNotMatch(again.stdout, /installed/);
  });

  test("a tarball that does not match SHA256SUMS: exit 3, nothing installed from it", async () => {
    const dest = path.join(dir, "tampered");
    const v = vendorCopy("vendor-bad", (s) =>
      s.replace(/^[0-9a-f]{64}(\s+freeswitch-1\.10\.3-)/m, `${"0".repeat(64)}$1`),
    );
    const r = await run(v, dest);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /freeswitch-1\.10\.3-debian12-amd64\.tar\.zst does not match SHA256SUMS .*nothing installed from it/,
    );
    assert.equal(existsSync(path.join(dest, "freeswitch-1.10.3")), false);
  });

  test("PBX_CUTOVER_VENDOR that is not a directory: exit 2, nothing created", async () => {
    const dest = path.join(dir, "never");
    const r = await run(path.join(dir, "no-such-vendor"), dest);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /PBX_CUTOVER_VENDOR=.*no-such-vendor is not a directory/);
    assert.equal(existsSync(dest), false);
  });
});
