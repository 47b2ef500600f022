import assert from "node:assert/strict";
import { test } from "node:test";
import { checkVerdict, namingNode, renderCheck, type TargetCheck } from "./check-report.js";

test("a node's problem names the node once, whichever way its error already names it", () => {
  assert.equal(
    namingNode("node kam1", "Kamailio RPC at node kam1 (http://127.0.1.2:5071/RPC) refused the request: HTTP 401"),
    "Kamailio RPC at node kam1 (http://127.0.1.2:5071/RPC) refused the request: HTTP 401",
  );
  assert.equal(
    namingNode("node kam1", "node kam1: the node's SSH host key is not the one in kh"),
    "node kam1: the node's SSH host key is not the one in kh",
  );
  assert.equal(namingNode("node kam1", "ECONNREFUSED"), "node kam1: ECONNREFUSED");
  // another node's name is not this node's
  assert.equal(
    namingNode("node kam1", "Kamailio RPC at node kam10 (x) refused"),
    "node kam1: Kamailio RPC at node kam10 (x) refused",
  );
});

test("a PBX event socket that refuses the password is exit 3 naming the key and the socket; one that answers is a row", () => {
  const base: TargetCheck = {
    source: "t.yaml",
    id: "east",
    setId: 1,
    algorithm: 4,
    old: "sip:10.0.0.10:5060",
    new: "sip:10.0.0.20:5060",
    nodes: [],
    pbx: [
      {
        role: "old",
        at: "event socket 10.0.0.10:8021",
        state: "answers",
        version: "FreeSWITCH Version 1.10.3-release",
        channels: 1,
      },
    ],
  };
  assert.deepEqual(checkVerdict(base), { exitCode: 0, problems: [] });
  assert.match(
    renderCheck(base, checkVerdict(base)),
    /^pbx old: event socket 10\.0\.0\.10:8021\n {2}event socket +answers, FreeSWITCH Version 1\.10\.3-release, 1 channel up$/m,
  );
  const refused: TargetCheck = {
    ...base,
    pbx: [
      ...base.pbx,
      {
        role: "new",
        at: "event socket 10.0.0.20:8021",
        state: "error",
        kind: "auth-failed",
        error: "event socket 10.0.0.20:8021: authentication refused (-ERR invalid)",
      },
    ],
  };
  const v = checkVerdict(refused);
  assert.equal(v.exitCode, 3);
  assert.deepEqual(v.problems, [
    "pbx.new.eventSocket: event socket 10.0.0.20:8021: authentication refused (-ERR invalid); the drain would not see FreeSWITCH new's channels",
  ]);
  assert.match(renderCheck(refused, v), /event socket +NO \(auth-failed\): .*authentication refused/);
});
