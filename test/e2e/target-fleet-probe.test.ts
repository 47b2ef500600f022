/**
 * `migrate --target FLEET --probe RATE --probe-uri sip:USER@NODE` on three "production" nodes: one
 * probe caller per node (RATE each, dialing USER at that node), each call attributed to the node it
 * went through. With no user calling, every step of the fleet and of each node is judged on the
 * probe calls, each node's caller has its own Call-IDs and files, and results.json counts each
 * node's probe calls.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../support/lab-fixture.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { targetFleet, type TargetFleet } from "../support/target-fleet.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-probe-3Zq" };
const RATE = 10;

interface GateRecord {
  verdict: string;
  judgedOn?: string;
  probe?: { routed: { old: number; new: number } };
}
interface Results {
  steps: { label: string; verdict: string; gates?: GateRecord; gatesByNode?: Record<string, GateRecord> }[];
  traffic?: {
    probe?: {
      callIdPrefix: string;
      files: string[];
      calls: { total: number; old: number; new: number };
      byNode?: Record<string, { total: number; old: number; new: number }>;
    };
  };
}

describe("migrate --target on a fleet with --probe", () => {
  let f: TargetFleet;
  before(async () => {
    f = await targetFleet({ prefix: "fleet-probe", auth: AUTH });
  });
  after(async () => {
    await f?.dispose();
  });

  test("no user calling: a probe caller through every node, every step judged on probes per node, counted per node", async () => {
    const kam2 = f.nodes[1]!;
    const r = await runCli(
      [
        "migrate",
        "--target",
        f.file,
        "--artifacts-dir",
        path.join(f.dir, "art"),
        "--steps",
        "0,50,100",
        "--probe",
        String(RATE),
        "--probe-uri",
        `sip:probe@${kam2.address}:${kam2.sipPort}`,
      ],
      { cwd: f.dir, timeoutMs: 240_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const [i, name] of f.names.entries()) {
      const n = f.nodes[i]!;
      assert.match(
        r.stdout,
        new RegExp(
          `probe: ${RATE} calls/s dialing sip:probe@${n.address.replaceAll(".", "\\.")}:${n.sipPort} through ${name} \\S+ \\(SIPp pid \\d+, Call-IDs pbxc-[0-9a-f]{6}-probe-${name}-\\*\\)`,
        ),
      );
    }
    const runDir = runDirOf(r);
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "pass"],
      ],
    );
    for (const s of res.steps) {
      assert.equal(s.gates?.judgedOn, "probes", `${s.label}: ${JSON.stringify(s.gates)}`);
      for (const name of f.names) {
        const g = s.gatesByNode?.[name];
        assert.equal(g?.judgedOn, "probes", `${s.label} ${name}: ${JSON.stringify(g)}`);
        assert.ok(
          (g.probe?.routed.old ?? 0) + (g.probe?.routed.new ?? 0) > 0,
          `${s.label} ${name}: ${JSON.stringify(g)}`,
        );
      }
    }
    const p = res.traffic!.probe!;
    assert.deepEqual(Object.keys(p.byNode ?? {}).sort(), [...f.names]);
    const sum = { old: 0, new: 0 };
    for (const name of f.names) {
      const b = p.byNode![name]!;
      assert.ok(b.old > 0 && b.new > 0 && b.total === b.old + b.new, `${name}: ${JSON.stringify(b)}`);
      sum.old += b.old;
      sum.new += b.new;
      const log = path.join(runDir, `probe.${name}.uac.log`);
      assert.ok(p.files.includes(`probe.${name}.uac.log`) && existsSync(log), name);
      assert.match(readFileSync(log, "utf8"), new RegExp(`Call-ID: ${p.callIdPrefix}-${name}-\\d+-`));
    }
    assert.deepEqual([sum.old, sum.new], [p.calls.old, p.calls.new], JSON.stringify(p));
    assert.match(
      readFileSync(path.join(runDir, "summary.md"), "utf8"),
      /\(by node: kam1 \d+ \(old \d+, new \d+\), kam2 /,
    );
  });

  test("a --probe-uri naming no node of the fleet is exit 2 naming every node, nothing changed", async () => {
    const before = f.nodes.map((n) => readFileSync(n.listFile, "utf8"));
    const r = await runCli(
      ["migrate", "--target", f.file, "--steps", "0,100", "--probe", "5", "--probe-uri", "sip:probe@127.0.0.1:5060"],
      { cwd: f.dir },
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /the probe calls go through node kam1 at \S+, node kam2 at \S+, node kam3 at \S+; name one of them/,
    );
    assert.deepEqual(
      f.nodes.map((n) => readFileSync(n.listFile, "utf8")),
      before,
    );
  });
});
