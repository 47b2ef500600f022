import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import { parseHepForward } from "./forward-target.js";

test("--hep-forward: host:port, IPv4, bracketed IPv6", () => {
  assert.deepEqual(parseHepForward("127.0.0.1:9060"), { host: "127.0.0.1", port: 9060 });
  assert.deepEqual(parseHepForward("homer.example.net:9060"), { host: "homer.example.net", port: 9060 });
  assert.deepEqual(parseHepForward(" [::1]:9061 "), { host: "::1", port: 9061 });
});

test("--hep-forward: anything else is a usage error that says the form", () => {
  for (const bad of [
    "",
    "127.0.0.1",
    ":9060",
    "127.0.0.1:",
    "::1:9060",
    "[127.0.0.1]:9060",
    "a b:1",
    "host:port",
    "-x:9060",
  ]) {
    assert.throws(
      () => parseHepForward(bad),
      (e: unknown) => e instanceof UsageError && /host:port/.test(e.message),
      bad,
    );
  }
  assert.throws(() => parseHepForward("127.0.0.1:0"), /port must be 1-65535/);
  assert.throws(() => parseHepForward("127.0.0.1:70000"), /port must be 1-65535/);
});
