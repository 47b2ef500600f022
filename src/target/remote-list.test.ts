import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import type { ArgvRunner } from "../kamailio/kamcmd-rpc.js";
import { runArgv } from "../os/run-argv.js";
import { SshSession } from "../os/ssh.js";
import { sshFileStore } from "./remote-list.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-remote-list-"));
  dirs.push(d);
  return d;
};

/**
 * ssh's far side, here: the last word of ssh's argv is the command string a remote login shell
 * parses, so `sh -c` it on this host (the helper and the quoting run for real; only the hop is missing)
 */
const farSide =
  (seen: string[][]): ArgvRunner =>
  (argv, timeoutMs, input) => {
    seen.push([...argv]);
    return runArgv(["sh", "-c", argv[argv.length - 1]!], timeoutMs, input);
  };

const store = (file: string, seen: string[][] = []) =>
  sshFileStore(
    new SshSession({
      host: "10.0.0.2",
      port: 22,
      user: "ops",
      knownHosts: "/k",
      identityFile: undefined,
      connectTimeoutS: 5,
    }),
    file,
    farSide(seen),
    "node kam1",
  );

describe("the list file over ssh", () => {
  it("replaces the list keeping its mode, keeps the one it replaced beside it, leaves no temporary file", async () => {
    const d = tmp();
    const file = path.join(d, "it's a list; $(x).list");
    writeFileSync(file, "1 sip:10.0.0.10:5060 0 0\n");
    chmodSync(file, 0o640);
    const seen: string[][] = [];
    const s = store(file, seen);
    assert.equal(await s.read(), "1 sip:10.0.0.10:5060 0 0\n");
    await s.writeAtomic("1 sip:10.0.0.20:5060 0 0\n");
    assert.equal(readFileSync(file, "utf8"), "1 sip:10.0.0.20:5060 0 0\n");
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.equal(readFileSync(`${file}.pbx-cutover.previous`, "utf8"), "1 sip:10.0.0.10:5060 0 0\n");
    assert.equal(statSync(`${file}.pbx-cutover.previous`).mode & 0o777, 0o640);
    assert.deepEqual(
      readdirSync(d).sort(),
      [path.basename(file), `${path.basename(file)}.pbx-cutover.previous`].sort(),
    );
    assert.equal(await s.read(), "1 sip:10.0.0.20:5060 0 0\n");
    assert.ok(seen.every((a) => a[0] === "ssh" && a.includes("BatchMode=yes")));
  });

  it("a list that is not there: read is ENOENT, a write creates it 0644", async () => {
    const d = tmp();
    const file = path.join(d, "dispatcher.list");
    const s = store(file);
    await assert.rejects(s.read(), (e: NodeJS.ErrnoException) => e.code === "ENOENT");
    await s.writeAtomic("1 sip:10.0.0.10:5060 0 0\n");
    assert.equal(statSync(file).mode & 0o777, 0o644);
  });

  it("a directory it cannot write into: exit 3 naming the list, the list as it was, no temporary file", async () => {
    const d = tmp();
    const file = path.join(d, "missing-dir", "dispatcher.list");
    await assert.rejects(store(file).writeAtomic("x\n"), (e: Error & { exitCode?: number }) => {
      assert.equal(e.exitCode, 3);
      assert.match(
        e.message,
        /node kam1: cannot write ops@10\.0\.0\.2:.*dispatcher\.list \(ssh\): .*the list was left as it was/,
      );
      return true;
    });
    assert.deepEqual(readdirSync(d), []);
  });
});
