/**
 * apply, rollback and plan --dry-run with --target on a "production" Kamailio the tool did not start
 * (test/support/production-node.ts): the operator's list file rewritten atomically with its own lines
 * kept, the reload judged by its reply through the node's guard (reload_delta 5), the runtime read
 * back over the node's authenticated JSON-RPC; drift and a wrong password refused before anything is
 * written.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../support/lab-fixture.js";
import {
  freeUdpPort,
  startProductionNode,
  writeTargetFile,
  type NodeAuth,
  type ProductionNode,
} from "../support/production-node.js";

const AUTH: NodeAuth = { bearer: "tok-Yq81-never-printed" };
const LINES = { old: { flags: 0, priority: 5, attrs: "duid=pbx-old" }, new: { priority: 3, attrs: "duid=pbx-new" } };

interface RuntimeReply {
  RECORDS?: { SET: { ID: number; TARGETS: { DEST: { URI: string; PRIORITY: number; ATTRS?: { BODY: string } } }[] } }[];
}
const runtimeOf = async (node: ProductionNode): Promise<string[]> =>
  ((await node.rpc("dispatcher.list")) as RuntimeReply)
    .RECORDS!.flatMap((r) => r.SET.TARGETS.map((t) => `${t.DEST.URI} ${t.DEST.PRIORITY} ${t.DEST.ATTRS?.BODY ?? "-"}`))
    .sort();

describe("apply / rollback / plan --dry-run --target on a node the tool did not start", () => {
  let node: ProductionNode;
  let dir: string;
  let file: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-e2e-tapply-"));
    node = await startProductionNode({
      auth: AUTH,
      hep: { address: "127.0.0.1", port: await freeUdpPort() },
      initialList: (u) => `# the operator's PBXs\n1 ${u.old} 0 5 duid=pbx-old\n`,
    });
    chmodSync(node.listFile, 0o640);
    file = writeTargetFile(node, dir, AUTH, { lines: LINES }).file;
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runCli(args, { cwd: dir });

  it("plan --dry-run --target: the operator's lines in every step's list, nothing written or sent", async () => {
    const before = readFileSync(node.listFile, "utf8");
    const r = await cli("plan", "--dry-run", "--target", file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`1 ${node.backends.old.uri} 0 5 duid=pbx-old`));
    assert.match(r.stdout, new RegExp(`1 ${node.backends.new.uri} 0 3 duid=pbx-new`));
    assert.equal(readFileSync(node.listFile, "utf8"), before);
  });

  it("apply --mode both: the list rewritten with the operator's lines (mode kept), reloaded, runtime verified; rollback puts old back", async () => {
    const r = await cli("apply", "--target", file, "--mode", "both", "--json");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const text = readFileSync(node.listFile, "utf8");
    assert.match(text, new RegExp(`^1 ${node.backends.old.uri} 0 5 duid=pbx-old$`, "m"));
    assert.match(text, new RegExp(`^1 ${node.backends.new.uri} 0 3 duid=pbx-new$`, "m"));
    assert.equal(statSync(node.listFile).mode & 0o777, 0o640, "the operator's file keeps its mode");
    assert.deepEqual(await runtimeOf(node), [
      `${node.backends.old.uri} 5 duid=pbx-old`,
      `${node.backends.new.uri} 3 duid=pbx-new`,
    ]);
    assert.ok(!(r.stdout + r.stderr).includes(AUTH.bearer));
    // within the node's reload guard (5 s): the rollback's reload is refused first, retried, then verified
    const back = await cli("rollback", "--target", file, "--json");
    assert.equal(back.code, 0, back.stdout + back.stderr);
    const out = JSON.parse(back.stdout) as { reload: { ongoingRefusals: number } };
    assert.ok(out.reload.ongoingRefusals > 0, "the guard refused the rollback's first reload");
    assert.deepEqual(await runtimeOf(node), [`${node.backends.old.uri} 5 duid=pbx-old`]);
  });

  it("drift: the list changed behind Kamailio's back before a step is exit 4, nothing written", async () => {
    const changed = `${readFileSync(node.listFile, "utf8")}1 ${node.backends.new.uri} 0 0\n`;
    writeFileSync(node.listFile, changed);
    try {
      const r = await cli("apply", "--target", file, "--mode", "new");
      assert.equal(r.code, 4, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /drift on node kam1 .*Kamailio's runtime is not its list \(missing sip:.* \(set 1\)\).*Nothing was written/,
      );
      assert.match(r.stderr, /^ {2}runtime: sip:\S+ \(set 1, AX\)$/m);
      assert.equal(readFileSync(node.listFile, "utf8"), changed, "nothing written");
    } finally {
      writeFileSync(node.listFile, `# the operator's PBXs\n1 ${node.backends.old.uri} 0 5 duid=pbx-old\n`);
    }
  });

  it("a wrong bearer token: exit 3 naming the node, nothing written, the token not printed", async () => {
    const d = mkdtempSync(path.join(dir, "wrong-"));
    const wrong = writeTargetFile(node, d, AUTH, { secret: "tok-wrong-81", lines: LINES });
    const before = readFileSync(node.listFile, "utf8");
    const r = await cli("apply", "--target", wrong.file, "--mode", "new");
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /node kam1 \(http:\/\/127\.0\.1\.\d+:\d+\/RPC\) refused the request: HTTP 401/);
    assert.equal(readFileSync(node.listFile, "utf8"), before);
    assert.ok(!(r.stdout + r.stderr).includes("tok-wrong-81"));
  });

  it("--target with --old-uri is exit 2", async () => {
    const r = await cli("apply", "--target", file, "--mode", "new", "--old-uri", "sip:127.0.0.1:5060");
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /target\.yaml names the old and new destinations; --old-uri \/ --new-uri cannot be given with --target/,
    );
  });
});
