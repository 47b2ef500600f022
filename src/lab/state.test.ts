import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { resolveLabSettings } from "../config/lab-config.js";
import { formatError } from "../core/errors.js";
import { labPaths } from "../config/lab-paths.js";
import { ensureDir } from "../files/ensure-dir.js";
import { fixture } from "../../test/support/fixtures.js";
import { LabStateCorruptError, readLabState, writeLabState, type LabState } from "./state.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-state-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const state = (labDir: string): LabState => ({
  version: 1,
  driver: "native",
  startedAt: new Date().toISOString(),
  settings: resolveLabSettings(undefined, { labDir }),
  components: [
    {
      role: "kamailio",
      pid: 1234,
      startTime: "99",
      comm: "kamailio",
      address: "127.0.0.1",
      port: 15060,
      log: "k.log",
      argv: ["kamailio"],
    },
  ],
});

test("a corrupt lab.json is exit 3 naming the file and what to do, never a SyntaxError (70)", () => {
  const p = labPaths(path.join(dir, "corrupt"));
  rmSync(p.labDir, { recursive: true, force: true });
  fresh(p.labDir);
  for (const [text, why] of [
    ['{"version": 1, "compo', /not JSON/],
    ["", /empty/],
    ["[1,2,3]", /not a lab state/],
    ['{"version": 7}', /not a lab state/],
  ] as const) {
    writeFileSync(p.state, text);
    assert.throws(
      () => readLabState(p),
      (err: unknown) => err instanceof LabStateCorruptError && why.test(err.message),
    );
    const out = formatError(catchIt(() => readLabState(p)));
    assert.equal(out.exitCode, 3);
    assert.match(out.text, new RegExp(`lab state file ${p.state.replace(/[/.]/g, "\\$&")} is corrupt`));
    assert.match(out.text, /lab down --lab-dir/);
    assert.doesNotMatch(out.text, /internal error|SyntaxError|\n\s+at /);
  }
});

test("no lab.json: no state (not an error)", () => {
  assert.equal(readLabState(labPaths(path.join(dir, "none"))), undefined);
});

test("lab.json round-trips with mode 0644 under umask 077; a symlink planted at the old predictable temp name is not followed", () => {
  const p = labPaths(path.join(dir, "ok"));
  fresh(p.labDir);
  const victim = path.join(dir, "victim");
  writeFileSync(victim, "precious\n");
  symlinkSync(victim, `${p.state}.tmp-${process.pid}`);
  const old = process.umask(0o077);
  try {
    writeLabState(p, state(p.labDir));
  } finally {
    process.umask(old);
  }
  assert.equal(readFileSync(victim, "utf8"), "precious\n");
  assert.equal(statSync(p.state).mode & 0o777, 0o644);
  assert.equal(readLabState(p)?.components[0]?.startTime, "99");
});

function catchIt(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function fresh(d: string): void {
  rmSync(d, { recursive: true, force: true });
  ensureDir(d);
}

test("a lab.json written before dispatcherAlg and hep existed (settings as of cbe0770~1) still reads, with the defaults that lab ran", () => {
  const labDir = path.join(dir, "old-lab");
  ensureDir(labDir);
  writeFileSync(path.join(labDir, "lab.json"), fixture("pbx-cutover-cbe0770-lab.json"));
  const s = readLabState(labPaths(labDir));
  assert.ok(s);
  assert.equal(s.settings.kamailio.dispatcherAlg, 4);
  assert.deepEqual(s.settings.hep, { address: "127.0.0.1", port: 15062, mirror: "on" });
  assert.equal(s.settings.backends, "sipp");
  assert.equal(s.components[0]?.pid, 4242);
});
