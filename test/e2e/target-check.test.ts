import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../support/lab-fixture.js";
import { targetNode, type TargetNode } from "../support/target-node.js";
import {
  freeUdpPort,
  startProductionNode,
  writeTargetFile,
  type NodeAuth,
  type ProductionNode,
} from "../support/production-node.js";

const AUTH: NodeAuth = { basic: { user: "ops", password: "pw-7Hq2-not-in-output" } };

describe("target check on a Kamailio the tool did not start", () => {
  let t: TargetNode;
  let node: ProductionNode;
  let dir: string;
  before(async () => {
    // round-robin, the harness's own first list (old alone, no attrs)
    t = await targetNode({ prefix: "target", auth: AUTH, node: { algorithm: 4, initialList: undefined } });
    ({ node, dir } = t);
  });
  after(async () => {
    await t?.dispose();
  });
  const check = (file: string, ...more: string[]) =>
    runCli(["target", "check", "--target", file, ...more], { cwd: dir });

  it("a healthy node: reachable, runtime = list, old/new, the reload guard, HEP arriving, the dialog profile (exit 0)", async () => {
    const { file, secret } = writeTargetFile(node, dir, AUTH);
    const r = await check(file);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /reachable +yes, kamailio 5\.6\.3/);
    assert.match(r.stdout, /runtime = list +yes/);
    assert.match(r.stdout, new RegExp(`old +${node.backends.old.uri} +in list, runtime AX`));
    assert.match(r.stdout, /reload guard +active: a reload within 5 s of the last is refused \(500 Ongoing reload\)/);
    assert.match(r.stdout, new RegExp(`HEP +arrives at ${node.hep.address}:${node.hep.port}`));
    assert.match(r.stdout, /dialog profile +pbx: .* 0 calls/);
    assert.match(r.stdout, /result: OK/);
    assert.ok(!(r.stdout + r.stderr).includes(secret), "the RPC password is never printed");
    const j = await check(file, "--json");
    assert.equal(j.code, 0);
    const parsed = JSON.parse(j.stdout) as {
      nodes: { reloadGuard: { state: string } }[];
      verdict: { exitCode: number };
    };
    assert.equal(parsed.verdict.exitCode, 0);
    assert.ok(!j.stdout.includes(secret));
  });

  it("reload_delta 0 on a node: the guard is reported off", async () => {
    const quick = await startProductionNode({
      auth: AUTH,
      reloadDelta: 0,
      hep: { address: "127.0.0.1", port: await freeUdpPort() },
    });
    try {
      const d = mkdtempSync(path.join(dir, "quick-"));
      const r = await check(writeTargetFile(quick, d, AUTH).file);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /reload guard +off: two reloads in a row were both accepted/);
    } finally {
      await quick.stop();
    }
  });

  it("the list changed behind Kamailio's back: drift, exit 4, both sides named, nothing reloaded", async () => {
    const { file } = writeTargetFile(node, dir, AUTH);
    const before = readFileSync(node.listFile, "utf8");
    writeFileSync(node.listFile, `${before}${node.setId} ${node.backends.new.uri} 0 0\n`);
    try {
      const r = await check(file);
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`drift: .*missing ${node.backends.new.uri} \\(set 1\\)`));
      assert.match(r.stdout, /\(list: .*; runtime: .*\)/);
      assert.match(r.stdout, /reload guard +not probed: the runtime is not the list/);
      const runtime = JSON.stringify(await node.rpc("dispatcher.list"));
      assert.ok(!runtime.includes(node.backends.new.uri), "the check reloaded nothing");
    } finally {
      writeFileSync(node.listFile, before);
    }
  });

  it("a destination in neither old nor new: exit 2 naming it", async () => {
    const { file } = writeTargetFile(node, dir, AUTH);
    const before = readFileSync(node.listFile, "utf8");
    writeFileSync(node.listFile, `${before}${node.setId} sip:127.0.1.1:5999 0 0\n`);
    await waitForReload(node);
    try {
      const r = await check(file);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(
        r.stdout,
        /sip:127\.0\.1\.1:5999 \(set 1, in the list\) is in neither dispatcher\.old nor dispatcher\.new/,
      );
    } finally {
      writeFileSync(node.listFile, before);
      await waitForReload(node);
    }
  });

  it("a wrong RPC password: exit 3 naming the node, the password not printed", async () => {
    const { file, secret } = writeTargetFile(node, dir, AUTH, { secret: "wrong-pw-5Zk" });
    const r = await check(file);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /Kamailio RPC at node kam1 \(http:\/\/127\.0\.1\.\d+:\d+\/RPC\) refused the request: HTTP 401/,
    );
    assert.doesNotMatch(r.stdout, /node kam1: Kamailio RPC at node kam1/, "the node is named once");
    assert.ok(!(r.stdout + r.stderr).includes(secret));
  });

  it("HEP mirrored elsewhere than the target's collector: exit 1", async () => {
    const { file } = writeTargetFile(node, dir, AUTH, { hep: { address: "127.0.0.1", port: await freeUdpPort() } });
    const r = await check(file);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /HEP +NOT arriving at 127\.0\.0\.1:\d+ \(waited 2000 ms after an OPTIONS to/);
  });

  it("bad input is exit 2 before the node is contacted: unknown keys, a secret file readable by others", async () => {
    const unknown = await check(writeTargetFile(node, dir, AUTH, { extra: { nodez: [] } }).file);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^ {2}nodez: unknown key$/m);
    const open = await check(writeTargetFile(node, dir, AUTH, { secretMode: 0o644 }).file);
    assert.equal(open.code, 2);
    assert.match(open.stderr, /rpc\.secret has mode 0644; a secret file must be readable by its owner only/);
  });
});

/** Reload until Kamailio accepts (its guard refuses within reload_delta of the last reload). */
async function waitForReload(node: ProductionNode): Promise<void> {
  for (const until = Date.now() + 10_000; Date.now() < until;) {
    try {
      await node.rpc("dispatcher.reload");
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error("dispatcher.reload still refused after 10 s");
}
