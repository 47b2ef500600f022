import assert from "node:assert/strict";
import test from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { dispatcherView, observeDispatcher, observeRuntime } from "./runtime.js";

// recorded from Kamailio 5.6.3: set 1 holds both backends (AX), set 2 one of them
const DISPATCHER_LIST = (JSON.parse(fixture("kamailio-5.6.3-jsonrpc-dispatcher.list.json")) as { result: unknown })
  .result;
const BACKENDS = { setId: 1, uris: { old: "sip:127.0.0.1:22002", new: "sip:127.0.0.1:22003" } };

function kamailio(
  answer: (method: string, params: readonly (string | number)[]) => unknown,
): RpcClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    endpoint: "test",
    call: (method, params = []) => {
      calls.push(method);
      return Promise.resolve().then(() => answer(method, params));
    },
    close: () => undefined,
  };
}

test("observeDispatcher: the set's destinations and the mode they make, from a recorded 5.6.3 reply", async () => {
  const rpc = kamailio(() => DISPATCHER_LIST);
  const d = await observeDispatcher(rpc, BACKENDS);
  assert.equal(d.mode, "both");
  assert.deepEqual(
    d.destinations.map((x) => x.uri),
    ["sip:127.0.0.1:22003", "sip:127.0.0.1:22002"],
  );
  assert.deepEqual(dispatcherView(d), {
    mode: "both",
    destinations: ["sip:127.0.0.1:22003 (AX)", "sip:127.0.0.1:22002 (AX)"],
  });
  assert.equal((await observeDispatcher(rpc, { ...BACKENDS, setId: 2 })).mode, "new");
  assert.deepEqual(rpc.calls, ["dispatcher.list", "dispatcher.list"], "one RPC a look, no dialogs asked");
});

test("a Kamailio that does not answer: unavailable with why, never a throw; no dialogs asked", async () => {
  const rpc = kamailio(() => {
    throw new Error("connect ECONNREFUSED 127.0.0.1:15061");
  });
  const d = await observeDispatcher(rpc, BACKENDS);
  assert.deepEqual(dispatcherView(d), {
    mode: "unavailable",
    destinations: [],
    error: "connect ECONNREFUSED 127.0.0.1:15061",
  });
  const obs = await observeRuntime(rpc, BACKENDS);
  assert.equal(obs.mode, "unavailable");
  assert.deepEqual(obs.active, {});
  assert.deepEqual(rpc.calls, ["dispatcher.list", "dispatcher.list"]);
});

test("observeRuntime: the mode, then the active dialogs of each backend's profile", async () => {
  const rpc = kamailio((method, params) =>
    method === "dispatcher.list" ? DISPATCHER_LIST : params[1] === BACKENDS.uris.old ? 3 : 0,
  );
  const obs = await observeRuntime(rpc, BACKENDS);
  assert.equal(obs.mode, "both");
  assert.deepEqual(obs.active, { old: 3, new: 0 });
  assert.equal(obs.error, undefined);
});
