import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../core/assets.js";
import { RpcReplyError, RpcUnavailableError } from "./rpc.js";
import { parseDispatcherListResult } from "../dispatcher/runtime.js";
import { kamcmdExecArgv } from "../lab/docker/argv.js";
import { KamcmdRpcClient, kamcmdParam, parseKamcmdOutput } from "./kamcmd-rpc.js";

const fixture = (name: string): string => readFileSync(path.join(PROJECT_ROOT, "test", "fixtures", name), "utf8");
const jsonResult = (name: string): unknown => (JSON.parse(fixture(name)) as { result: unknown }).result;

// pairs recorded from the same Kamailio 5.6.3 at the same moment: kamcmd text and the JSON-RPC reply
const pairs: [string, string][] = [
  ["kamailio-5.6.3-kamcmd-dispatcher.list-two-sets.txt", "kamailio-5.6.3-jsonrpc-dispatcher.list.json"],
  ["kamailio-5.6.3-kamcmd-dispatcher.list.txt", "kamailio-5.6.3-dispatcher.list.rpc.json"],
];

for (const [text, json] of pairs) {
  test(`kamcmd dispatcher.list text parses to the JSON-RPC structure (${text})`, () => {
    const parsed = parseKamcmdOutput("dispatcher.list", fixture(text));
    assert.deepEqual(parsed, jsonResult(json));
    assert.deepEqual(parseDispatcherListResult(parsed), parseDispatcherListResult(jsonResult(json)));
  });
}

test("a single-destination list still gives arrays (RECORDS, TARGETS), as JSON-RPC does", () => {
  const r = parseKamcmdOutput("dispatcher.list", fixture("kamailio-5.6.3-kamcmd-dispatcher.list-old.txt"));
  assert.deepEqual(parseDispatcherListResult(r), [
    { setId: 1, uri: "sip:127.0.0.1:22002", flags: "AX", priority: 0, attrs: undefined },
  ]);
});

test("scalars: core.version string, dlg.profile_get_size number, reload text, core.uptime struct", () => {
  assert.equal(
    parseKamcmdOutput("core.version", fixture("kamailio-5.6.3-kamcmd-core.version.txt")),
    "kamailio 5.6.3 (x86_64/linux)",
  );
  assert.equal(parseKamcmdOutput("dlg.profile_get_size", fixture("kamailio-5.6.3-kamcmd-dlg.profile_get_size.txt")), 0);
  assert.equal(
    parseKamcmdOutput("dispatcher.reload", fixture("kamailio-5.6.3-kamcmd-dispatcher.reload.txt")),
    "Ok. Dispatcher successfully reloaded.",
  );
  const up = parseKamcmdOutput("core.uptime", fixture("kamailio-5.6.3-kamcmd-core.uptime.txt")) as Record<
    string,
    unknown
  >;
  assert.equal(typeof up["uptime"], "number");
  assert.match(String(up["now"]), /^\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}$/);
});

test("`error: 500 - Ongoing reload` (kamcmd exits 0) is an RpcReplyError like the JSON-RPC error", () => {
  assert.throws(
    () => parseKamcmdOutput("dispatcher.reload", fixture("kamailio-5.6.3-kamcmd-dispatcher.reload-ongoing.txt")),
    (e: unknown) => e instanceof RpcReplyError && e.code === 500 && e.reply === "Ongoing reload",
  );
  assert.throws(
    () => parseKamcmdOutput("dispatcher.list", fixture("kamailio-5.6.3-kamcmd-dispatcher.list-empty.txt")),
    (e: unknown) => e instanceof RpcReplyError && e.reply === "No Destination Sets",
  );
});

test("KamcmdRpcClient runs docker exec argv and maps failures", async () => {
  const seen: string[][] = [];
  const client = new KamcmdRpcClient("docker exec real-kamailio kamcmd", kamcmdExecArgv, (argv) => {
    seen.push([...argv]);
    return Promise.resolve({ stdout: fixture("kamailio-5.6.3-kamcmd-core.version.txt"), stderr: "", code: 0 });
  });
  assert.equal(await client.call("core.version"), "kamailio 5.6.3 (x86_64/linux)");
  await client.call("dlg.profile_get_size", ["backend", "sip:172.28.0.30:5060"]);
  assert.deepEqual(seen[0], [
    "docker",
    "exec",
    "real-kamailio",
    "kamcmd",
    "-s",
    "unix:/run/kamailio/kamailio_ctl",
    "core.version",
  ]);
  assert.deepEqual(seen[1]!.slice(-3), ["dlg.profile_get_size", "backend", "sip:172.28.0.30:5060"]);

  const down = new KamcmdRpcClient("x", kamcmdExecArgv, () =>
    Promise.resolve({ stdout: "", stderr: "Error response from daemon: No such container: real-kamailio\n", code: 1 }),
  );
  await assert.rejects(
    down.call("core.version"),
    (e: unknown) => e instanceof RpcUnavailableError && /No such container/.test(e.message),
  );
  const noDocker = new KamcmdRpcClient("x", kamcmdExecArgv, () => Promise.reject(new Error("docker: ENOENT")));
  await assert.rejects(noDocker.call("core.version"), RpcUnavailableError);
});

test("string parameters stay strings through kamcmd's type guessing; numbers stay numbers", () => {
  assert.equal(kamcmdParam("backend"), "backend");
  assert.equal(kamcmdParam("sip:127.0.0.1:5060"), "sip:127.0.0.1:5060");
  assert.equal(kamcmdParam("5"), "s:5");
  assert.equal(kamcmdParam("1.5"), "s:1.5");
  assert.equal(kamcmdParam("s:x"), "s:s:x");
  assert.equal(kamcmdParam(7), "7");
});
