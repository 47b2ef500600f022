import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import { isLoopback, webAddressFrom } from "./web-address.js";

test("--web forms: alone, a bare port, addr:port, [v6]:port, localhost", () => {
  assert.equal(webAddressFrom({}), undefined);
  assert.deepEqual(webAddressFrom({ web: true }), { host: "127.0.0.1", port: 0, loopback: true });
  assert.deepEqual(webAddressFrom({ web: "8090" }), { host: "127.0.0.1", port: 8090, loopback: true });
  assert.deepEqual(webAddressFrom({ web: "127.0.0.5:81" }), { host: "127.0.0.5", port: 81, loopback: true });
  assert.deepEqual(webAddressFrom({ web: "[::1]:8090" }), { host: "::1", port: 8090, loopback: true });
  assert.deepEqual(webAddressFrom({ web: "localhost:8090" }), { host: "127.0.0.1", port: 8090, loopback: true });
  assert.deepEqual(webAddressFrom({ web: "0.0.0.0:8090", webAllowRemote: true }), {
    host: "0.0.0.0",
    port: 8090,
    loopback: false,
  });
});

test("--web bad values are usage errors (exit 2) naming what to do", () => {
  const bad = (web: string, allow = false): string => {
    try {
      webAddressFrom({ web, webAllowRemote: allow });
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.message + " " + e.details.join(" ");
    }
    assert.fail(`accepted ${web}`);
  };
  assert.match(bad("0.0.0.0:8090"), /not a loopback address.*--web-allow-remote/);
  assert.match(bad("192.168.1.2"), /not a loopback address/);
  assert.match(bad("[::]:80"), /not a loopback address/);
  assert.match(bad("127.0.0.1:65536"), /0 to 65535/);
  assert.match(bad("127.0.0.1:x"), /0 to 65535/);
  assert.match(bad("pbx.example.org:80", true), /not an IP address/);
  assert.throws(() => webAddressFrom({ webAllowRemote: true }), /goes with --web/);
});

test("loopback: 127.0.0.0/8, ::1 and v4-mapped 127/8 only", () => {
  for (const ip of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) assert.ok(isLoopback(ip), ip);
  for (const ip of ["0.0.0.0", "10.0.0.1", "::", "::ffff:10.0.0.1", "128.0.0.1"]) assert.ok(!isLoopback(ip), ip);
});
