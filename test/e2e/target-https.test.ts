/**
 * JSON-RPC over HTTPS on a "production" node: its Kamailio serves xhttp + jsonrpcs on a TLS listener
 * (the tls module, Debian's kamailio-tls-modules) with a certificate for its address signed by a test
 * CA, and checks Basic credentials in event_route[xhttp:request]. With that CA in the target file,
 * `target check` and `migrate --target` pass; with another CA, or none (the system's CAs), every
 * command is exit 3 at once, naming the node, the certificate and the CA it was checked against, and
 * nothing is written. A CA file that does not exist is a bad target file (exit 2).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type CliResult } from "../support/lab-fixture.js";
import { makeNodeCertificate, writeTargetFile, type NodeAuth } from "../support/production-node.js";
import { runDirOf, artifactsText } from "../support/run-folder.js";
import { listEntries, OLD_ATTRS, targetNode, type TargetNode } from "../support/target-node.js";

const AUTH: NodeAuth = { basic: { user: "cutover", password: "pw-https-6Tq1" } };
const RATE = 50;

describe("JSON-RPC over HTTPS (Kamailio's tls module) with the node's CA in the target file", () => {
  let t: TargetNode;
  before(async () => {
    t = await targetNode({ prefix: "thttps", auth: AUTH, node: { https: true } });
  });
  after(async () => {
    await t?.dispose();
  });

  test("target check: reachable over https with Basic auth, runtime = list, the guard learned (exit 0)", async () => {
    const r = await runCli(["target", "check", "--target", t.file], { cwd: t.dir, timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^node kam1 \(https:\/\/127\.0\.1\.\d+:\d+\/RPC\)$/m);
    assert.match(r.stdout, /reachable +yes, kamailio 5\.6\.3/);
    assert.match(r.stdout, /runtime = list +yes/);
    assert.match(r.stdout, /reload guard +active/);
    assert.ok(!(r.stdout + r.stderr).includes(AUTH.basic.password));
  });

  test("migrate --target 0,50,100 on the users' calls over https: passes, new only in the file and at runtime", async () => {
    const callers = t.callers(RATE);
    let r: CliResult;
    try {
      r = await runCli(
        ["migrate", "--target", t.file, "--artifacts-dir", path.join(t.dir, "art"), "--steps", "0,50,100"],
        { cwd: t.dir, timeoutMs: 240_000 },
      );
    } finally {
      await callers.stop();
    }
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const res = JSON.parse(readFileSync(path.join(runDirOf(r), "results.json"), "utf8")) as {
      steps: { label: string; verdict: string }[];
      target: { rpc: string };
    };
    assert.match(res.target.rpc, /^node kam1 \(https:/);
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "pass"],
      ],
    );
    assert.deepEqual(listEntries(readFileSync(t.node.listFile, "utf8")), [`1 ${t.node.backends.new.uri} 0 0`]);
    const runtime = JSON.stringify(await t.node.rpc("dispatcher.list"));
    assert.ok(runtime.includes(t.node.backends.new.uri) && !runtime.includes(t.node.backends.old.uri), runtime);
    assert.ok(!artifactsText(runDirOf(r)).includes(AUTH.basic.password));
  });
});

describe("HTTPS: a CA that did not sign the node's certificate, or none", () => {
  let t: TargetNode;
  let otherCa: string;
  before(async () => {
    t = await targetNode({ prefix: "thttps-ca", auth: AUTH, node: { https: true } });
    otherCa = makeNodeCertificate(mkdtempSync(path.join(t.dir, "other-")), t.node.address, "other-ca").caFile;
  });
  after(async () => {
    await t?.dispose();
  });

  for (const [what, caFile, against] of [
    ["another CA", () => otherCa, /checked against CA file \S+other-ca\.pem/],
    ["no caFile (the system's CAs)", () => null, /checked against the system's CAs \(no rpc\.http\.caFile\)/],
  ] as const) {
    test(`${what}: target check, apply and migrate are exit 3 at once naming the node and the certificate; nothing written`, async () => {
      const d = mkdtempSync(path.join(t.dir, "wrong-"));
      const { file } = writeTargetFile(t.node, d, AUTH, {
        algorithm: 9,
        lines: { old: { attrs: OLD_ATTRS } },
        caFile: caFile(),
      });
      const before = readFileSync(t.node.listFile, "utf8");
      const message =
        /Kamailio RPC at node kam1 \(https:\/\/127\.0\.1\.\d+:\d+\/RPC\): its TLS certificate is not trusted \(.+; [A-Z_]+\)/;
      const c = await runCli(["target", "check", "--target", file], { cwd: d, timeoutMs: 60_000 });
      assert.equal(c.code, 3, c.stdout + c.stderr);
      assert.match(c.stdout, message);
      assert.match(c.stdout, against);
      assert.doesNotMatch(c.stdout, /node kam1: Kamailio RPC at node kam1/, "the node is named once");
      const a = await runCli(["apply", "--target", file, "--mode", "both"], { cwd: d, timeoutMs: 60_000 });
      assert.equal(a.code, 3, a.stdout + a.stderr);
      assert.match(a.stderr, message);
      const m = await runCli(
        ["migrate", "--target", file, "--artifacts-dir", path.join(d, "art"), "--steps", "0,50,100"],
        { cwd: d, timeoutMs: 60_000 },
      );
      assert.equal(m.code, 3, m.stdout + m.stderr);
      assert.match(m.stderr, message);
      assert.doesNotMatch(
        m.stderr,
        /did not answer within/,
        "refused at once, not retried as a node that does not answer",
      );
      for (const r of [c, a, m]) {
        assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, "no stack trace");
        assert.ok(!(r.stdout + r.stderr).includes(AUTH.basic.password));
      }
      assert.equal(readFileSync(t.node.listFile, "utf8"), before, "nothing written");
    });
  }

  test("a CA file that does not exist: a bad target file, exit 2 naming the key", async () => {
    const d = mkdtempSync(path.join(t.dir, "missing-"));
    const { file } = writeTargetFile(t.node, d, AUTH, { algorithm: 9, caFile: path.join(d, "no-such-ca.pem") });
    const r = await runCli(["target", "check", "--target", file], { cwd: d });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /nodes\[0\]\.rpc\.http\.caFile: \S+no-such-ca\.pem does not exist/);
  });
});
