import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import { probeRequest } from "./probe-calls.js";

const node = [{ name: "node kam1", address: "10.0.0.2", port: 5060 }];

test("--probe and --probe-uri: both or neither, a rate, a user to dial at the node's own address", () => {
  assert.equal(probeRequest(undefined, undefined, node), undefined);
  assert.deepEqual(probeRequest("2", "sip:probe@10.0.0.2", node), {
    rate: 2,
    service: "probe",
    uri: "sip:probe@10.0.0.2",
  });
  assert.deepEqual(probeRequest("0.5", "sip:9999@10.0.0.2:5060", node)?.rate, 0.5);
  for (const [rate, uri, message] of [
    ["2", undefined, /--probe needs --probe-uri sip:USER@NODE too/],
    [undefined, "sip:probe@10.0.0.2", /--probe-uri needs --probe RATE too/],
    ["0", "sip:probe@10.0.0.2", /--probe must be calls per second/],
    ["5000", "sip:probe@10.0.0.2", /at most 1000/],
    ["2", "sip:10.0.0.2", /names no user to dial/],
    ["2", "sip:probe@10.0.0.3", /go through node kam1 at 10\.0\.0\.2:5060/],
    ["2", "sip:probe@10.0.0.2:5070", /go through node kam1 at 10\.0\.0\.2:5060/],
    ["2", "http://x", /--probe-uri "http:\/\/x"/],
  ] as const) {
    assert.throws(
      () => probeRequest(rate, uri, node),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
      `${rate} ${uri}`,
    );
  }
});

test("on a fleet, --probe-uri may name any of its nodes; one outside the fleet names them all", () => {
  const fleet = [...node, { name: "node kam2", address: "10.0.0.3", port: 5060 }];
  assert.equal(probeRequest("2", "sip:probe@10.0.0.3", fleet)?.service, "probe");
  assert.throws(
    () => probeRequest("2", "sip:probe@10.0.0.4", fleet),
    /go through node kam1 at 10\.0\.0\.2:5060, node kam2 at 10\.0\.0\.3:5060; name one of them/,
  );
});
