import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluate, formatTable, type ProbeRow } from "./checks.js";
import type { BackendRole } from "../core/backend-role.js";

function row(p: Partial<ProbeRow> & Pick<ProbeRow, "role" | "kind" | "endpoint">): ProbeRow {
  return {
    component: `${p.role} ${p.kind}`,
    stack: "sip-backend",
    reachable: true,
    status: "200 OK",
    rttMs: 1,
    product: undefined,
    version: undefined,
    build: undefined,
    versionText: "-",
    source: "-",
    error: undefined,
    ...p,
  };
}

test("different endpoints, stand-ins without versions: pass", () => {
  const e = evaluate([
    row({ role: "old", kind: "backend SIP", endpoint: "127.0.0.1:1/udp" }),
    row({ role: "new", kind: "backend SIP", endpoint: "127.0.0.1:2/udp" }),
  ]);
  assert.equal(e.verdict, "pass");
  assert.equal(e.exitCode, 0);
});

test("same resolved endpoint: fail (exit 1)", () => {
  const e = evaluate([
    row({ role: "old", kind: "backend SIP", endpoint: "localhost:5/udp", resolvedEndpoint: "127.0.0.1:5" }),
    row({ role: "new", kind: "backend SIP", endpoint: "127.0.0.1:5/udp", resolvedEndpoint: "127.0.0.1:5" }),
  ]);
  assert.equal(e.exitCode, 1);
  assert.equal(e.findings[0]?.check, "same-endpoint");
});

test("same FreeSWITCH version on old and new: fail; different: pass", () => {
  const fs = (role: BackendRole, version: string): ProbeRow =>
    row({ role, kind: "event socket", endpoint: `${role}:8021`, stack: "freeswitch", version });
  assert.equal(evaluate([fs("old", "1.10.12"), fs("new", "1.10.12")]).exitCode, 1);
  assert.equal(evaluate([fs("old", "1.10.3"), fs("new", "1.10.12")]).exitCode, 0);
});

test("versions are compared within a stack only", () => {
  const e = evaluate([
    row({ role: "old", kind: "a", endpoint: "a", stack: "freeswitch", version: "5.5.7" }),
    row({ role: "new", kind: "b", endpoint: "b", stack: "fusionpbx", version: "5.5.7" }),
  ]);
  assert.equal(e.exitCode, 0);
});

test("unreachable: exit 3 naming the component; a definite mix-up still wins (exit 1)", () => {
  const down = row({
    role: "new",
    kind: "backend SIP",
    endpoint: "127.0.0.1:2/udp",
    component: "new backend (SIP OPTIONS)",
    reachable: false,
    error: "no SIP response",
  });
  const e = evaluate([row({ role: "old", kind: "backend SIP", endpoint: "127.0.0.1:1/udp" }), down]);
  assert.equal(e.exitCode, 3);
  assert.match(e.findings[0]!.message, /new backend \(SIP OPTIONS\) at 127\.0\.0\.1:2\/udp is unreachable/);
  const both = evaluate([row({ role: "old", kind: "backend SIP", endpoint: "127.0.0.1:2/udp" }), down]);
  assert.equal(both.exitCode, 1);
});

test("versions of unreachable rows and the proxy row are not compared; skipped rows are not failures", () => {
  const e = evaluate([
    row({ role: "proxy", kind: "p", endpoint: "p", stack: "freeswitch", version: "1.10.12" }),
    row({ role: "new", kind: "x", endpoint: "x", stack: "freeswitch", version: "1.10.12" }),
    row({ role: "old", kind: "y", endpoint: "y", reachable: "skipped" }),
  ]);
  assert.equal(e.exitCode, 0);
});

test("the table has the five columns", () => {
  const t = formatTable([
    row({ role: "old", kind: "k", endpoint: "127.0.0.1:1/udp", versionText: "no PBX version (SIPp stand-in)" }),
  ]);
  assert.match(t.split("\n")[0]!, /^COMPONENT\s+ENDPOINT\s+REACHABLE\s+VERSION\s+SOURCE$/);
  assert.match(t, /yes \(200 OK, 1\.0 ms\)/);
});
