import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../core/assets.js";
import { modeOf, parseDispatcherListResult } from "./runtime.js";

const fixture = (name: string): unknown =>
  (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "test", "fixtures", name), "utf8")) as { result: unknown }).result;

test("parses a real Kamailio 5.6.3 dispatcher.list reply", () => {
  const dests = parseDispatcherListResult(fixture("kamailio-5.6.3-dispatcher.list.json"));
  assert.deepEqual(dests, [{ setId: 1, uri: "sip:127.0.0.1:25070", flags: "AX", priority: 0, attrs: undefined }]);
});

test("an empty dispatcher (no RECORDS) has no destinations", () => {
  assert.deepEqual(parseDispatcherListResult({ NRSETS: 0 }), []);
});

test("rejects shapes it does not understand", () => {
  assert.throws(() => parseDispatcherListResult("Ok"), /not an object/);
  assert.throws(() => parseDispatcherListResult({ RECORDS: {} }), /not an array/);
  assert.throws(() => parseDispatcherListResult({ RECORDS: [{ SET: { ID: 1, TARGETS: [{}] } }] }), /DEST\.URI/);
});

test("names the mode from the destinations of one set", () => {
  const d = (setId: number, uri: string) => ({ setId, uri, flags: "AX", priority: 0, attrs: undefined });
  const o = "sip:127.0.0.1:15070";
  const n = "sip:127.0.0.1:15080";
  assert.equal(modeOf([d(1, o)], 1, o, n), "old");
  assert.equal(modeOf([d(1, n)], 1, o, n), "new");
  assert.equal(modeOf([d(1, o), d(1, n)], 1, o, n), "both");
  assert.equal(modeOf([d(2, o)], 1, o, n), "empty");
  assert.equal(modeOf([d(1, o), d(1, "sip:127.0.0.1:9")], 1, o, n), "unknown");
});
