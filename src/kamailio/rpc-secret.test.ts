import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { authorizationOf, readRpcAuthorization, rpcSecretCfg, writeRpcSecret } from "./rpc-secret.js";

test("the include file defines one Authorization value, read back the same; no file = none", () => {
  const token = "ab".repeat(32);
  const cfg = rpcSecretCfg(token);
  assert.match(cfg, new RegExp(`^#!substdef "!PBX_CUTOVER_RPC_AUTHORIZATION!Bearer ${token}!"$`, "m"));
  assert.equal(authorizationOf(cfg), `Bearer ${token}`);
  assert.equal(authorizationOf("# nothing\n"), undefined);
  assert.throws(() => rpcSecretCfg('x"!'), /hex/);
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-secret-"));
  try {
    const file = path.join(dir, "s.cfg");
    assert.equal(readRpcAuthorization(file), undefined);
    const a = writeRpcSecret(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readRpcAuthorization(file), a);
    assert.notEqual(writeRpcSecret(file), a, "a new secret every time");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
