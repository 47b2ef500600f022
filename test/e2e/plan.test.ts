/**
 * `pbx-cutover plan --dry-run` on a real lab: it prints every list and RPC, and changes nothing:
 * the dispatcher.list file (bytes and mtime), the lab directory's files and Kamailio's runtime
 * (the full `dispatcher.list` reply) are the same before and after. Bad input exits 2.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labRpc } from "../support/lab-runtime.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";

async function runtimeReply(f: LabFixture): Promise<unknown> {
  const rpc = labRpc(f);
  try {
    return await rpc.call("dispatcher.list");
  } finally {
    rpc.close();
  }
}

interface Snapshot {
  list: string;
  listMtimeMs: number;
  files: string[];
  runtime: unknown;
}

async function snapshot(f: LabFixture): Promise<Snapshot> {
  const list = path.join(f.labDir, "dispatcher.list");
  return {
    list: readFileSync(list, "utf8"),
    listMtimeMs: statSync(list).mtimeMs,
    files: readdirSync(f.labDir).sort(),
    runtime: await runtimeReply(f),
  };
}

describe("plan --dry-run on a real lab (algorithm 9)", () => {
  let f: LabFixture;
  let alg: string[];
  before(async () => {
    f = await labFixture();
    alg = ["--dispatcher-alg", "9"];
    const up = await f.cli(["lab", "up", ...f.flags, ...alg]);
    assert.equal(up.code, 0, up.stderr);
    // a state of its own, so that applying any step of the plan would show
    const both = await f.cli(["apply", "--mode", "both", ...f.flags, ...alg]);
    assert.equal(both.code, 0, both.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("--steps 0,1,10,50,100: prints every list and RPC; file, lab dir and runtime unchanged", async () => {
    const before = await snapshot(f);
    const r = await f.cli(["plan", "--dry-run", "--steps", "0,1,10,50,100", ...f.flags, ...alg]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /plan: --steps 0,1,10,50,100, 5 steps: old -> new=1% -> new=10% -> new=50% -> new\n/);
    assert.match(r.stdout, /algorithm 9 \(weight-based\)/);
    assert.match(
      r.stdout,
      new RegExp(
        `\\| 1 sip:127\\.0\\.0\\.1:${f.ports.old} 0 0 weight=99\\n    \\| 1 sip:127\\.0\\.0\\.1:${f.ports.new} 0 0 weight=1\\n`,
      ),
    );
    assert.equal((r.stdout.match(/RPC dispatcher\.reload/g) ?? []).length, 5);
    assert.equal(
      (r.stdout.match(new RegExp(`write ${path.join(f.labDir, "dispatcher.list").replace(/[.]/g, "\\.")}`, "g")) ?? [])
        .length,
      5,
    );
    assert.deepEqual(await snapshot(f), before, "nothing changed");
  });

  test("--plan file.yaml and --json: the same, as data", async () => {
    const file = path.join(f.dir, "plan.yaml");
    writeFileSync(file, "defaults:\n  hold: { minCalls: 200 }\nsteps: [0, 10, 100]\n");
    const before = await snapshot(f);
    const r = await f.cli(["plan", "--dry-run", "--plan", file, "--json", ...f.flags, ...alg]);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout) as {
      steps: { label: string; split: { min: number; max: number }; actions: { kind: string }[] }[];
    };
    assert.deepEqual(
      d.steps.map((s) => s.label),
      ["old", "new=10%", "new"],
    );
    assert.deepEqual([d.steps[1]!.split.min, d.steps[1]!.split.max], [20, 20]);
    assert.deepEqual(await snapshot(f), before, "nothing changed");
  });

  test("bad input exits 2 with one clear line, nothing changed", async () => {
    const before = await snapshot(f);
    const cases: [string[], RegExp][] = [
      [
        ["--dry-run", "--steps", "0,50,10", ...alg],
        /^pbx-cutover: --steps "0,50,10": step 3 \(10\) does not increase on step 2 \(50\)/,
      ],
      [["--dry-run", "--steps", "0,abc", ...alg], /step 2 "abc" is not a whole number from 0 to 100/],
      [["--steps", "0,10,100", ...alg], /plan only shows a plan: pass --dry-run/],
      [["--dry-run", "--steps", "0,10", "--plan", "x.yaml", ...alg], /--steps and --plan both given/],
      [
        ["--dry-run", "--plan", path.join(f.dir, "missing.yaml"), ...alg],
        /cannot read plan file .*missing\.yaml: no such file/,
      ],
      // without the flag the running lab's algorithm (9) is used; a flag that contradicts it is refused
      [
        ["--dry-run", "--steps", "0,10,100", "--dispatcher-alg", "4"],
        /running with other settings: --dispatcher-alg 4, the lab has 9; nothing was started or changed/,
      ],
    ];
    const unknown = path.join(f.dir, "unknown.yaml");
    writeFileSync(unknown, "steps:\n  - weightNew: 10\n    gate: []\n");
    cases.push([["--dry-run", "--plan", unknown, ...alg], /steps\[0\]\.gate: unknown key/]);
    for (const [args, re] of cases) {
      const r = await f.cli(["plan", ...args, ...f.flags]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.equal(r.stdout, "");
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    assert.deepEqual(await snapshot(f), before, "nothing changed");
  });
});

describe("plan --dry-run on a round-robin lab", () => {
  test("weighted steps need algorithm 9 (exit 2); the default plan is old, both, new", async () => {
    const f = await labFixture();
    try {
      const up = await f.cli(["lab", "up", ...f.flags]);
      assert.equal(up.code, 0, up.stderr);
      const r = await f.cli(["plan", "--dry-run", "--steps", "0,10,100", ...f.flags]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /step 2 \(weight 10\) needs Kamailio's weight-based dispatcher \(algorithm 9\)/);
      const d = await f.cli(["plan", "--dry-run", ...f.flags]);
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stdout, /3 steps: old -> both -> new\n/);
    } finally {
      await f.dispose();
    }
  });
});
