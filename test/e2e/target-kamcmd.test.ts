/**
 * kamcmd transports on "production" nodes (Kamailio's default reload_delta of 5 s, algorithm 9):
 * kamcmd on the node's ctl socket from this host, and kamcmd plus the list file on the node's host
 * over the system's ssh (the node's own sshd, a test-only key, a known_hosts the test writes). For
 * each: `target check` passes and `migrate --target` moves the SIPp users' calls to new, judged on the
 * calls the node mirrors. Over ssh the list is replaced on the node by the fixed helper (mode kept,
 * the list it replaced kept beside it); an unknown or changed host key is exit 3 without a prompt and
 * nothing is written; no ssh connection of the tool outlives it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type CliResult } from "../support/lab-fixture.js";
import {
  freeUdpPort,
  startCallers,
  startProductionNode,
  writeTargetFile,
  type NodeAuth,
  type ProductionNode,
} from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";

const AUTH: NodeAuth = { bearer: "tok-kamcmd-8Qz" };
const RATE = 50;

interface Results {
  steps: { label: string; verdict: string }[];
  target: { driver: string };
}

const entries = (file: string): string[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => /^\d/.test(l));

/** the tool's ssh processes still running (a shared connection's master names its control dir) */
const leftoverSsh = (): string[] =>
  spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.includes("pbx-cutover-ssh-"));

async function nodeWithUsers(): Promise<{ node: ProductionNode; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-e2e-tkamcmd-"));
  const node = await startProductionNode({
    auth: AUTH,
    algorithm: 9,
    ssh: true,
    hep: { address: "127.0.0.1", port: await freeUdpPort() },
    initialList: (u) => `1 ${u.old} 0 0 duid=old-pbx\n`,
  });
  chmodSync(node.listFile, 0o640);
  return { node, dir };
}

for (const transport of ["kamcmd", "kamcmd-ssh"] as const) {
  describe(`${transport === "kamcmd" ? "kamcmd on the node's ctl socket" : "kamcmd and the list over ssh"}`, () => {
    let node: ProductionNode;
    let dir: string;
    let file: string;
    before(async () => {
      ({ node, dir } = await nodeWithUsers());
      ({ file } = writeTargetFile(node, dir, AUTH, {
        algorithm: 9,
        transport,
        lines: { old: { attrs: "duid=old-pbx" } },
      }));
    });
    after(async () => {
      await node?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("target check: reachable through kamcmd, runtime = list, the guard learned from a refused reload", async () => {
      const r = await runCli(["target", "check", "--target", file, "--json"], { cwd: dir, timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const c = JSON.parse(r.stdout) as {
        nodes: {
          rpc: string;
          reachable: { ok: boolean; version?: string };
          drift: { ok: boolean };
          reloadGuard: { state: string };
        }[];
      };
      const n = c.nodes[0]!;
      assert.match(n.rpc, transport === "kamcmd" ? /kamcmd on .*kamailio_ctl\)$/ : /over ssh 127\.0\.1\.\d+:\d+\)$/);
      assert.ok(n.reachable.ok && /^kamailio 5\./.test(n.reachable.version ?? ""), JSON.stringify(n.reachable));
      assert.equal(n.drift.ok, true);
      assert.equal(n.reloadGuard.state, "active");
      assert.deepEqual(leftoverSsh(), []);
    });

    test("migrate --target 0,50,100 on the users' calls: passes, new only in the node's file and at runtime", async () => {
      const callers = startCallers(node, dir, RATE);
      let r: CliResult;
      try {
        r = await runCli(
          ["migrate", "--target", file, "--artifacts-dir", path.join(dir, "art"), "--steps", "0,50,100"],
          { cwd: dir, timeoutMs: 240_000 },
        );
      } finally {
        await callers.stop();
      }
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const res = JSON.parse(readFileSync(path.join(runDirOf(r), "results.json"), "utf8")) as Results;
      assert.deepEqual(
        res.steps.map((p) => [p.label, p.verdict]),
        [
          ["old", "pass"],
          ["new=50%", "pass"],
          ["new", "pass"],
        ],
      );
      assert.deepEqual(entries(node.listFile), [`1 ${node.backends.new.uri} 0 0`]);
      assert.equal(statSync(node.listFile).mode & 0o777, 0o640, "the list's mode is kept");
      const runtime = JSON.stringify(await node.rpc("dispatcher.list"));
      assert.ok(runtime.includes(node.backends.new.uri) && !runtime.includes(node.backends.old.uri), runtime);
      if (transport === "kamcmd-ssh") {
        // the fixed helper kept the list it replaced (step 2's) beside the list, with its mode
        const previous = `${node.listFile}.pbx-cutover.previous`;
        assert.deepEqual(entries(previous), [
          `1 ${node.backends.old.uri} 0 0 duid=old-pbx;weight=50`,
          `1 ${node.backends.new.uri} 0 0 weight=50`,
        ]);
        assert.equal(statSync(previous).mode & 0o777, 0o640);
      }
      assert.deepEqual(leftoverSsh(), []);
    });
  });
}

describe("ssh: a host key the target's known_hosts does not hold", () => {
  let node: ProductionNode;
  let dir: string;
  before(async () => {
    ({ node, dir } = await nodeWithUsers());
  });
  after(async () => {
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [what, knownHosts] of [
    ["unknown (known_hosts empty)", () => ""],
    [
      "changed (another key for the node's address and port)",
      () => {
        const other = path.join(dir, "other_host_key");
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
        const [type, key] = readFileSync(`${other}.pub`, "utf8").split(/\s+/);
        return `[${node.address}]:${node.ssh!.port} ${type} ${key}\n`;
      },
    ],
  ] as const) {
    test(`${what}: target check and migrate exit 3 naming the host key, no prompt, nothing written`, async () => {
      const { file } = writeTargetFile(node, dir, AUTH, {
        algorithm: 9,
        transport: "kamcmd-ssh",
        lines: { old: { attrs: "duid=old-pbx" } },
        knownHosts: knownHosts(),
      });
      const before = readFileSync(node.listFile, "utf8");
      const c = await runCli(["target", "check", "--target", file], { cwd: dir, timeoutMs: 60_000 });
      assert.equal(c.code, 3, c.stdout + c.stderr);
      assert.match(c.stdout, /SSH host key is not the one in .*known_hosts \(unknown or changed\)/);
      const m = await runCli(
        ["migrate", "--target", file, "--artifacts-dir", path.join(dir, "art"), "--steps", "0,50,100"],
        { cwd: dir, timeoutMs: 60_000 },
      );
      assert.equal(m.code, 3, m.stdout + m.stderr);
      assert.match(m.stderr, /SSH host key is not the one in/);
      assert.doesNotMatch(m.stderr + m.stdout, /\n\s+at /, "no stack trace");
      assert.equal(readFileSync(node.listFile, "utf8"), before, "nothing written");
      assert.doesNotMatch(readFileSync(node.ssh!.log, "utf8"), /Accepted publickey/);
      assert.deepEqual(leftoverSsh(), []);
    });
  }
});
