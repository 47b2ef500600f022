import assert from "node:assert/strict";
import { test } from "node:test";
import { namingNode } from "./check-report.js";

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
