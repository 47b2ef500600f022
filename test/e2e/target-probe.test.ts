/**
 * `migrate --target --probe RATE --probe-uri sip:USER@NODE`: the tool's own SIPp calls through a
 * "production" node, labelled by their Call-ID (pbxc-<run>-probe-*) and counted apart from the users'
 * calls. With users calling, the gates judge the users' calls and each step's record carries the
 * probe calls' own numbers; with no user calling at all (a quiet hour), every step is judged on the
 * probe calls. Bad flags are exit 2 before anything starts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, type CliResult } from "../support/lab-fixture.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { targetNode, type TargetNode } from "../support/target-node.js";

const AUTH: NodeAuth = { bearer: "tok-probe-2Kc" };

interface Counts {
  invites: number;
}
interface Results {
  steps: {
    label: string;
    verdict: string;
    gates?: {
      verdict: string;
      detail: string;
      judgedOn?: string;
      window: { routed: { old: number; new: number } };
      metrics: { old: Counts; new: Counts };
      probe?: { routed: { old: number; new: number }; metrics: { old: Counts; new: Counts }; verdict: string };
    };
  }[];
  traffic?: {
    probe?: {
      rate: number;
      uri: string;
      callIdPrefix: string;
      files: string[];
      calls: { total: number; old: number; new: number };
    };
  };
}

async function migrateWithProbes(
  t: TargetNode,
  users: number,
): Promise<{ r: CliResult; res: Results; runDir: string }> {
  const callers = users > 0 ? t.callers(users) : undefined;
  try {
    const r = await runCli(
      [
        "migrate",
        "--target",
        t.file,
        "--artifacts-dir",
        path.join(t.dir, "art"),
        "--steps",
        "0,50,100",
        "--probe",
        "20",
        "--probe-uri",
        `sip:probe@${t.node.address}:${t.node.sipPort}`,
      ],
      { cwd: t.dir, timeoutMs: 240_000 },
    );
    const runDir = runDirOf(r);
    return { r, runDir, res: JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results };
  } finally {
    await callers?.stop();
  }
}

describe("migrate --target --probe", () => {
  let t: TargetNode;
  before(async () => {
    t = await targetNode({ prefix: "tprobe", auth: AUTH });
  });
  after(async () => {
    await t?.dispose();
  });

  test("with users calling: the gates judge the users' calls, the probe calls are counted apart per step and in all", async () => {
    const { r, res, runDir } = await migrateWithProbes(t, 50);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /probe: 20 calls\/s dialing sip:probe@127\.0\.1\.\d+:\d+ through .* \(SIPp pid \d+, Call-IDs pbxc-[0-9a-f]{6}-probe-\*\), counted apart from the users' calls/,
    );
    assert.deepEqual(
      res.steps.map((s) => [s.label, s.verdict]),
      [
        ["old", "pass"],
        ["new=50%", "pass"],
        ["new", "pass"],
      ],
    );
    const p = res.traffic!.probe!;
    assert.match(p.callIdPrefix, /^pbxc-[0-9a-f]{6}-probe$/);
    assert.ok(p.calls.old > 0 && p.calls.new > 0 && p.calls.total === p.calls.old + p.calls.new, JSON.stringify(p));
    for (const s of res.steps) {
      const g = s.gates!;
      assert.equal(g.judgedOn, "users", s.label);
      const probe = g.probe!;
      for (const role of ["old", "new"] as const) {
        // the window's routed calls are the users' and the probes'; the users' metrics hold no probe call
        const users = g.window.routed[role] - probe.routed[role];
        assert.ok(g.metrics[role].invites <= users, `${s.label} ${role}: ${JSON.stringify(g)}`);
        assert.ok(probe.metrics[role].invites <= probe.routed[role], `${s.label} ${role}: ${JSON.stringify(probe)}`);
      }
      assert.ok(g.window.routed.old + g.window.routed.new > probe.routed.old + probe.routed.new, JSON.stringify(g));
    }
    assert.ok(res.steps[1]!.gates!.probe!.routed.new > 0 && res.steps[1]!.gates!.probe!.routed.old > 0);
    // the probe caller's own log, with its labelled Call-IDs; every call's record in calls.ndjson
    const log = readFileSync(path.join(runDir, "probe.uac.log"), "utf8");
    assert.match(log, new RegExp(`Call-ID: ${p.callIdPrefix}-\\d+-`));
    const records = readFileSync(path.join(runDir, "calls.ndjson"), "utf8");
    assert.ok(records.includes(`${p.callIdPrefix}-`) && records.includes("users-"), "both kinds of call recorded");
  });

  test("with no user calling: every step is judged on the probe calls, and passes", async () => {
    const { r, res } = await migrateWithProbes(t, 0);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const s of res.steps) {
      assert.equal(s.verdict, "pass", s.label);
      assert.equal(s.gates?.judgedOn, "probes", JSON.stringify(s.gates));
      assert.match(s.gates?.detail ?? "", /no user calls in the window: judged on its \d+ probe calls/);
    }
  });

  test("bad flags are exit 2 before anything starts", async () => {
    const before = readFileSync(t.node.listFile, "utf8");
    for (const [args, message] of [
      [["--probe", "5"], /--probe needs --probe-uri sip:USER@NODE too/],
      [
        ["--probe", "5", "--probe-uri", "sip:probe@127.0.0.1:5060"],
        /the probe calls go through node kam1 at 127\.0\.1\.\d+:\d+/,
      ],
      [
        ["--probe", "0", "--probe-uri", `sip:probe@${t.node.address}:${t.node.sipPort}`],
        /--probe must be calls per second/,
      ],
    ] as const) {
      const r = await runCli(["migrate", "--target", t.file, "--artifacts-dir", path.join(t.dir, "art"), ...args], {
        cwd: t.dir,
      });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, message);
    }
    const lab = await runCli(["migrate", "--probe", "5", "--probe-uri", "sip:probe@127.0.0.1:15060"], { cwd: t.dir });
    assert.equal(lab.code, 2, lab.stdout + lab.stderr);
    assert.match(lab.stderr, /--probe places calls through a target's node \(--target FILE\)/);
    assert.equal(readFileSync(t.node.listFile, "utf8"), before, "nothing written");
  });
});
