import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { after, describe, it } from "node:test";
import { UsageError } from "../core/errors.js";
import { buildProfile, renderProfile } from "../dispatcher/profile.js";
import { buildDryRun, renderDryRun, type DryRunTarget } from "./dry-run.js";
import { LAB_LOOPBACK_POLICY } from "../sip/sip-policy.js";
import { DEFAULT_STEP_GATES, defaultPlan, planFromInput, planWithMediaGates } from "./plan.js";
import { MAX_PLAN_FILE_BYTES, parsePlanYaml, readPlanFile } from "./plan-file.js";
import { parseStepsFlag } from "./steps-flag.js";

/** the UsageError's message and detail lines as one text */
function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    return [err.message, ...err.details].join("\n");
  }
  assert.fail("expected a UsageError");
}

const target = (algorithm: 4 | 9): DryRunTarget => ({
  driver: "native",
  setId: 1,
  oldUri: "sip:127.0.0.1:15070",
  newUri: "sip:127.0.0.1:15080",
  listLocation: "/lab/dispatcher.list",
  rpc: "http://127.0.0.1:15061/RPC",
  backupDir: "/lab/dispatcher-backups",
  algorithm,
  sipPolicy: LAB_LOOPBACK_POLICY,
});

describe("plans", () => {
  it("the default plan is the seed's old -> both -> new without metric gates", () => {
    const p = defaultPlan();
    assert.deepEqual(
      p.steps.map((s) => s.weightNew),
      [0, 50, 100],
    );
    assert.ok(p.steps.every((s) => s.gates.length === 0));
  });

  it("--steps gives weights; everything else is the step default", () => {
    const p = parseStepsFlag(" 0, 1,10,50,100 ");
    assert.deepEqual(
      p.steps.map((s) => s.weightNew),
      [0, 1, 10, 50, 100],
    );
    assert.equal(p.source, "--steps 0, 1,10,50,100");
    assert.deepEqual(p.steps[1]!.gates, DEFAULT_STEP_GATES);
    assert.equal(p.steps[1]!.onInconclusive, "extend");
  });

  it("--steps: one clear line for each kind of mistake (exit 2)", () => {
    assert.match(
      usage(() => parseStepsFlag("")),
      /^--steps is empty; give the new backend's weight per step, e\.g\. --steps 0,10,50,100$/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,,100")),
      /step 2 is empty/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,101")),
      /step 2 "101" is not a whole number from 0 to 100/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,1.5,100")),
      /step 2 "1\.5" is not a whole number/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,-1")),
      /step 2 "-1"/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,ten")),
      /step 2 "ten"/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,50,10")),
      /step 3 \(10\) does not increase on step 2 \(50\)/,
    );
    assert.match(
      usage(() => parseStepsFlag("0,0")),
      /does not increase/,
    );
    assert.equal(usage(() => parseStepsFlag("x")).split("\n").length, 1, "one line");
  });

  it("a plan file: defaults fill the steps, a step's own settings win", () => {
    const p = parsePlanYaml(
      [
        "defaults:",
        "  hold: { durationS: 600, minCalls: 200 }",
        "  gates:",
        "    - { kind: relative, metric: ser, maxWorseBy: 2 }",
        "  onInconclusive: pause",
        "steps:",
        "  - 0",
        "  - weightNew: 10",
        "    hold: { minCalls: 1000 }",
        "    onInconclusive: extend",
        "    maxExtensions: 2",
        "  - 100",
      ].join("\n"),
      "plan.yaml",
    );
    assert.deepEqual(
      p.steps.map((s) => [s.weightNew, s.hold, s.onInconclusive, s.maxExtensions]),
      [
        [0, { durationS: 600, minCalls: 200 }, "pause", 3],
        [10, { minCalls: 1000 }, "extend", 2],
        [100, { durationS: 600, minCalls: 200 }, "pause", 3],
      ],
    );
    assert.deepEqual(p.steps[1]!.gates, [{ kind: "relative", metric: "ser", maxWorseBy: 2 }]);
    assert.deepEqual(
      parsePlanYaml('{"steps": [0, 100]}', "plan.json").steps.map((s) => s.weightNew),
      [0, 100],
      "JSON is YAML",
    );
  });

  it("unknown keys are errors naming the key's path", () => {
    assert.match(
      usage(() => parsePlanYaml("steps: [0]\nstep: [1]\n", "p.yaml")),
      /^p\.yaml: invalid plan; nothing was changed\nstep: unknown key$/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps:\n  - weightNew: 1\n    hold: { durationS: 5, minCall: 3 }\n", "p.yaml")),
      /steps\[0\]\.hold\.minCall: unknown key/,
    );
    assert.match(
      usage(() =>
        parsePlanYaml(
          "steps:\n  - 0\n  - weightNew: 1\n    gates: [{ kind: relative, metric: ser, maxWorse: 2 }]\n",
          "p.yaml",
        ),
      ),
      /steps\[1\]\.gates\[0\]\.maxWorse: unknown key/,
    );
    assert.match(
      usage(() => parsePlanYaml("defaults: { holds: {} }\nsteps: [0]\n", "p.yaml")),
      /defaults\.holds: unknown key/,
    );
  });

  it("bad values name their path; rules across steps too", () => {
    assert.match(
      usage(() => parsePlanYaml("steps: [0, 101]", "p.yaml")),
      /steps\[1\]\.weightNew: must be 0-100/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps: [0, 2.5]", "p.yaml")),
      /steps\[1\]\.weightNew: must be an integer/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps: []", "p.yaml")),
      /steps: a plan needs at least one step/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps: [10, 5]", "p.yaml")),
      /steps\[1\]\.weightNew: 5 after 10; weights must increase/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps: [{ weightNew: 5, onInconclusive: retry }]", "p.yaml")),
      /steps\[0\]\.onInconclusive/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps: [{ weightNew: 5, hold: { durationS: -1 } }]", "p.yaml")),
      /steps\[0\]\.hold\.durationS/,
    );
    assert.match(
      usage(() =>
        parsePlanYaml("steps: [{ weightNew: 5, gates: [{ kind: threshold, metric: ser, atMost: 3 }] }]", "p.yaml"),
      ),
      /steps\[0\]\.gates\[0\]: ser is higher-is-better/,
    );
    assert.match(
      usage(() => parsePlanYaml("- 0\n- 100\n", "p.yaml")),
      /\(top level\): /,
    );
  });

  it("YAML errors name the line; an empty file says so; duplicate keys are refused", () => {
    assert.match(
      usage(() => parsePlanYaml("steps: [0, 100\n", "p.yaml")),
      /^p\.yaml is not valid YAML: line \d+, column \d+: /,
    );
    assert.match(
      usage(() => parsePlanYaml("", "p.yaml")),
      /p\.yaml is empty/,
    );
    assert.match(
      usage(() => parsePlanYaml("steps: [0]\nsteps: [1]\n", "p.yaml")),
      /not valid YAML.*unique|Map keys must be unique/,
    );
  });

  describe("readPlanFile", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-plan-"));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("reads a regular file", () => {
      const f = path.join(dir, "ok.yaml");
      writeFileSync(f, "steps: [0, 10, 100]\n");
      assert.deepEqual(
        readPlanFile(f).steps.map((s) => s.weightNew),
        [0, 10, 100],
      );
    });

    it("refuses a missing file, a directory, a FIFO and anything over 1 MiB (exit 2)", () => {
      assert.match(
        usage(() => readPlanFile(path.join(dir, "nope.yaml"))),
        /cannot read plan file .*nope\.yaml: no such file/,
      );
      mkdirSync(path.join(dir, "d"));
      assert.match(
        usage(() => readPlanFile(path.join(dir, "d"))),
        /is not a regular file/,
      );
      const fifo = path.join(dir, "fifo");
      execFileSync("mkfifo", [fifo]);
      assert.match(
        usage(() => readPlanFile(fifo)),
        /is not a regular file/,
      );
      const big = path.join(dir, "big.yaml");
      writeFileSync(big, "steps: [0]\n" + "#".repeat(MAX_PLAN_FILE_BYTES));
      assert.match(
        usage(() => readPlanFile(big)),
        /at most 1048576 bytes \(1 MiB\)/,
      );
      const exact = path.join(dir, "exact.yaml");
      const head = "steps: [0]\n#";
      writeFileSync(exact, head + "x".repeat(MAX_PLAN_FILE_BYTES - head.length));
      assert.equal(readPlanFile(exact).steps.length, 1, "exactly 1 MiB is allowed");
    });
  });
});

describe("dry run", () => {
  it("the default plan on round-robin writes the old, both and new lists byte for byte", () => {
    const d = buildDryRun(defaultPlan(), target(4));
    const inputs = {
      setId: 1,
      oldUri: "sip:127.0.0.1:15070",
      newUri: "sip:127.0.0.1:15080",
      policy: LAB_LOOPBACK_POLICY,
    };
    assert.deepEqual(
      d.steps.map((s) => s.label),
      ["old", "both", "new"],
    );
    assert.deepEqual(
      d.steps.map((s) => s.list),
      (["old", "both", "new"] as const).map((m) => renderProfile(buildProfile(m, inputs))),
    );
    assert.deepEqual(
      d.steps[0]!.actions.map((a) => (a.kind === "rpc" ? a.method : `write ${a.path}`)),
      ["dispatcher.list", "write /lab/dispatcher.list", "dispatcher.reload", "dispatcher.list"],
    );
  });

  it("weighted steps need algorithm 9; every offending step is named (exit 2)", () => {
    const msg = usage(() => buildDryRun(parseStepsFlag("0,1,10,50,100"), target(4)));
    assert.match(
      msg,
      /step 2 \(weight 1\), step 3 \(weight 10\) needs Kamailio's weight-based dispatcher \(algorithm 9\)/,
    );
    assert.match(msg, /--dispatcher-alg 9/);
  });

  it("renders the plan, every list and every action; the split a hold's calls guarantee", () => {
    const plan = planFromInput({ defaults: { hold: { minCalls: 250 } }, steps: [0, 10, 100] }, "plan.yaml");
    const text = renderDryRun(buildDryRun(plan, target(9)));
    assert.match(text, /^pbx-cutover plan --dry-run: nothing is written, reloaded or started\n/);
    assert.match(text, /plan: plan\.yaml, 3 steps: old -> new=10% -> new\n/);
    assert.match(text, /algorithm 9 \(weight-based\)/);
    assert.match(text, /step 2\/3: new=10% \(new backend weight 10\)\n {2}hold: at least 250 calls\n/);
    assert.match(text, / {4}- SER of new not worse than old by more than 2 points\n/);
    assert.match(text, / {2}if the gates cannot decide: extend \(at most 3 times, then fail\)\n/);
    assert.match(text, / {2}split over the hold's 250 calls: 20 to 30 to new\n/);
    assert.match(text, / {2}split over the hold's 250 calls: exactly 0 to new\n/);
    assert.match(
      text,
      / {4}\| 1 sip:127\.0\.0\.1:15070 0 0 weight=90\n {4}\| 1 sip:127\.0\.0\.1:15080 0 0 weight=10\n/,
    );
    assert.match(text, /if a gate fails: apply step 1 \(old\) again, the last good step/);
    assert.equal((text.match(/RPC dispatcher\.reload/g) ?? []).length, 3);
    assert.equal((text.match(/write \/lab\/dispatcher\.list/g) ?? []).length, 3);
  });
});

it("a plan file may require FusionPBX parity before its first step; an unknown requirement is exit 2", () => {
  const p = planFromInput({ requires: ["fusionpbx-parity"], steps: [0, 10, 100] }, "plan.yaml");
  assert.deepEqual(p.requires, ["fusionpbx-parity"]);
  assert.equal(planFromInput({ steps: [0, 100] }, "plan.yaml").requires, undefined);
  assert.throws(
    () => planFromInput({ requires: ["coffee"], steps: [0, 100] }, "plan.yaml"),
    (e: Error) => e instanceof UsageError && /requires\[0\]/.test(e.details.join("\n")),
  );

  it("on a fleet: every node named with its list and RPC, each step's actions on each node, a failure puts every node back", () => {
    const fleet = ["kam1", "kam2", "kam3"].map((name) => ({
      name,
      listLocation: `/${name}/dispatcher.list`,
      rpc: `node ${name} (http://${name}/RPC)`,
      backupDir: `/${name}/backups`,
    }));
    const d = buildDryRun(parseStepsFlag("0,100"), target(4), fleet);
    assert.deepEqual(
      d.steps[1]!.nodes!.map((n) => [n.name, n.actions.find((a) => a.kind === "write")?.path]),
      fleet.map((n) => [n.name, n.listLocation]),
    );
    const text = renderDryRun(d);
    assert.match(text, /a fleet of 3 nodes \(kam1, kam2, kam3\), each step on every node or on none/);
    assert.match(
      text,
      /\n {2}node kam2: list \/kam2\/dispatcher\.list; Kamailio RPC node kam2 \(http:\/\/kam2\/RPC\)\n/,
    );
    assert.match(text, /what it would do on each node, all or nothing/);
    for (const n of fleet) assert.equal(text.split(`write ${n.listLocation}:`).length - 1, 2, n.name);
    assert.equal((text.match(/RPC dispatcher\.reload/g) ?? []).length, 6);
    assert.doesNotMatch(text, /\/lab\/dispatcher\.list/);
  });
});

describe("the media gates on a plan's steps (calls with audio)", () => {
  const plan = planFromInput(
    { steps: [0, { weightNew: 50, gates: [{ kind: "threshold", metric: "one_way_calls", atMost: 2 }] }] },
    "p.yaml",
  );
  it("with audio: every step gets one-way calls and RTP loss, except a metric it gates itself", () => {
    const p = planWithMediaGates(plan, true, "-");
    assert.deepEqual(
      p.steps.map((s) => s.gates.map((g) => `${g.metric}${g.kind === "threshold" ? `<=${g.atMost}` : ""}`)),
      [
        ["ser", "isa<=5", "srd_p95", "one_way_calls<=0", "rtp_loss"],
        ["one_way_calls<=2", "rtp_loss"],
      ],
    );
  });
  it("without audio: a plan gating on audio is refused naming its steps (exit 2); one that does not is unchanged", () => {
    assert.throws(
      () => planWithMediaGates(plan, false, "give the calls audio"),
      (e: unknown) =>
        e instanceof UsageError &&
        /^p\.yaml: step 2 gates on the calls' audio \(one_way_calls, rtp_loss\), but the calls carry none/.test(
          e.message,
        ) &&
        e.details.includes("give the calls audio"),
    );
    const plain = planFromInput({ steps: [0, 100] }, "--steps");
    assert.equal(planWithMediaGates(plain, false, "-"), plain);
  });
});
