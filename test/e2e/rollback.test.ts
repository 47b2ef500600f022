/**
 * Gates on live traffic and the automatic rollback, on the real lab (Kamailio 5.6.3, algorithm 9,
 * SIPp 3.6.1 stand-ins): `migrate --steps 0,10,50,100 --traffic R` places background calls through
 * Kamailio, judges every step window from HEP, and
 *   - with a new stand-in that refuses every fifth call (503) trips the SER/ISA gates at weight 10
 *     and goes back to weight 0 by itself, exit 1, the gate's numbers in the output and results;
 *   - with a slow new stand-in (180/200 800 ms late) trips the SRD gate;
 *   - with healthy stand-ins passes, each step's split within its bound.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";
import { processesNaming } from "../support/processes.js";
import { pathToFileURL } from "node:url";
import { launchBrowser } from "../support/browser.js";
import { PROBE_SCRIPT, type Shown } from "../support/page-probe.js";
import { runDirOf } from "../support/run-folder.js";

const RATE = "50";
const ALG = ["--dispatcher-alg", "9"];

interface GateRow {
  name: string;
  verdict: string;
  values: { old?: number; new?: number };
  samples: { old?: number; new?: number };
}
interface Phase {
  label: string;
  verdict: string;
  gates?: {
    verdict: string;
    early: boolean;
    gates: GateRow[];
    window: { routed: { old: number; new: number } };
    split?: { verdict: string; calls: number; toNew: number; bound: { min: number; max: number } };
  };
}
interface Results {
  status: string;
  exitCode: number;
  error?: string;
  steps: Phase[];
  rollback?: {
    from: number;
    to: number;
    ok: boolean;
    reason: string;
    appliedFile: string;
    reaction?: {
      reactionMs: number;
      firstFailingCallMs: number;
      restoredAtMs: number;
      backend: string;
      stopMs?: number;
      afterStopped?: { routed: number; failed: number };
      routed: number;
      failed: number;
      segments: Record<string, number>;
    };
  };
  traffic?: {
    rate: number;
    callIdPrefix: string;
    exit: string;
    hep: { calls: number; kernelDrops?: number };
    calls?: { total: number; old: number; new: number };
  };
}

const results = (runDir: string): Results =>
  JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
const events = (runDir: string): { kind: string; reactionMs?: number; from?: number; to?: number; ok?: boolean }[] =>
  readFileSync(path.join(runDir, "events.ndjson"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { kind: string });

const gate = (p: Phase, name: RegExp): GateRow => {
  const g = p.gates?.gates.find((x) => name.test(x.name));
  assert.ok(g, JSON.stringify(p.gates));
  return g;
};

/** A lab on algorithm 9 with the new stand-in answering `how`; the migrate run's result. */
async function runWith(
  how: "answer" | "503-one-in-five" | "slow",
): Promise<{ f: LabFixture; r: CliResult; runDir: string; res: Results }> {
  const f = await labFixture();
  const up = await f.cli(["lab", "up", ...f.flags, ...ALG, "--new-stand-in", how]);
  assert.equal(up.code, 0, up.stderr);
  const r = await f.cli(
    [
      "migrate",
      ...f.flags,
      ...ALG,
      "--artifacts-dir",
      path.join(f.dir, "art"),
      "--steps",
      "0,10,50,100",
      "--traffic",
      RATE,
    ],
    {
      timeoutMs: 180_000,
    },
  );
  const runDir = runDirOf(r);
  return { f, r, runDir, res: results(runDir) };
}

describe("migrate --traffic: a new backend refusing one call in five", () => {
  let run: Awaited<ReturnType<typeof runWith>>;
  before(async () => {
    run = await runWith("503-one-in-five");
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("trips the SER/ISA gates at weight 10 and rolls back to weight 0 by itself: exit 1, the gate's numbers in output and results.json", async () => {
    const { f, r, runDir, res } = run;
    assert.equal(r.code, 1, r.stderr + r.stdout);
    // the output names the gate and its numbers
    // decided as soon as it was certain: 2 refused calls cannot make 5 % of the 20 calls the gate needs
    assert.match(
      r.stdout,
      /step 2\/4 new=10%: gates fail.*ISA of new <= 5%: new 2 ineffective of \d+: at least 10% at the 20 calls needed \(2 of 20\) whatever the next \d+ do > 5%/,
    );
    assert.match(r.stderr, /step 2: gates failed: .*ISA of new <= 5%.*; step 1 \(old\) is back in place/);
    assert.match(r.stdout, /rolled back to step 1 \(old\) in [\d.]+ ms .*reaction time \d+ ms/);
    assert.deepEqual([res.status, res.exitCode], ["fail", 1]);
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict]),
      [
        ["old", "pass"],
        ["new=10%", "fail"],
      ],
    );
    const step2 = res.steps[1]!;
    assert.equal(step2.gates?.verdict, "fail");
    const isa = gate(step2, /^ISA of new/);
    assert.equal(isa.verdict, "fail");
    // one in five refused: ISA of new well above 5 %, old's calls all fine
    assert.ok(isa.values.new! >= 10 && isa.values.new! <= 34, `ISA of new ${isa.values.new}`);
    assert.ok(
      isa.samples.new! < 20,
      `decided before the 20 calls the gate needs (${isa.samples.new}): the rest could not change it`,
    );
    // SER relative to old needs its 20 calls on new: not decided yet when ISA was certain
    const ser = gate(step2, /^SER of new/);
    assert.equal(ser.verdict, "inconclusive");
    assert.equal(ser.values.old, 100);
    // the rollback: to step 1 (weight 0), verified, with the reaction time and what new received meanwhile
    const rb = res.rollback!;
    assert.deepEqual([rb.from, rb.to, rb.ok], [2, 1, true]);
    assert.match(rb.reason, /ISA of new <= 5%/);
    assert.ok(rb.reaction, "reaction recorded");
    assert.ok(rb.reaction.reactionMs > 0 && rb.reaction.reactionMs < 60_000, String(rb.reaction.reactionMs));
    assert.ok(rb.reaction.firstFailingCallMs < rb.reaction.restoredAtMs);
    assert.equal(rb.reaction.backend, "new");
    assert.ok(rb.reaction.failed >= 1 && rb.reaction.failed <= rb.reaction.routed, JSON.stringify(rb.reaction));
    // the lab's rollback takes new out of selection first too: no call reached new after that
    assert.ok(
      rb.reaction.stopMs !== undefined && rb.reaction.stopMs <= rb.reaction.reactionMs,
      JSON.stringify(rb.reaction),
    );
    assert.deepEqual(rb.reaction.afterStopped, { routed: 0, failed: 0 });
    // link by link: every segment present, none negative beyond clock rounding, adding up to the reaction
    const seg = rb.reaction.segments;
    assert.deepEqual(Object.keys(seg), [
      "answer",
      "evidence",
      "mirror",
      "verdict",
      "notice",
      "stop-start",
      "stop",
      "start",
      "write",
      "guard",
      "reload",
      "verify",
    ]);
    for (const [k, v] of Object.entries(seg)) assert.ok(v > -2, `${k} ${v} ms`);
    const sum = Object.values(seg).reduce((a, b) => a + b, 0);
    assert.ok(
      Math.abs(sum - rb.reaction.reactionMs) < 2,
      `segments ${sum} ms vs reaction ${rb.reaction.reactionMs} ms`,
    );
    assert.match(r.stdout, /reaction, link by link: answer \d+ ms, evidence \d+ ms, mirror -?\d+ ms, .* verify \d+ ms/);
    const rbEvents = events(runDir).filter((e) => e.kind === "rollback");
    assert.deepEqual(
      rbEvents.map((e) => [e.from, e.to, e.ok]),
      [[2, 1, true]],
    );
    assert.equal(Math.round(rbEvents[0]!.reactionMs!), Math.round(rb.reaction.reactionMs));
    // the event stream carries the failing step's gate rows with the numbers results.json has (the web view shows them)
    const gateEvents = readFileSync(path.join(runDir, "events.ndjson"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; index?: number; verdict?: string; gates?: GateRow[] })
      .filter((e) => e.kind === "gates" && e.index === 2);
    assert.equal(gateEvents.at(-1)?.verdict, "fail", JSON.stringify(gateEvents));
    const isaRow = gateEvents.at(-1)!.gates?.find((g) => /^ISA of new/.test(g.name));
    assert.deepEqual(isaRow && [isaRow.verdict, isaRow.values.new, isaRow.samples.new], [
      isa.verdict,
      isa.values.new,
      isa.samples.new,
    ]);
    // weight 0: old only, in the file and at runtime; never a half state
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")]);
    assert.equal(
      readFileSync(path.join(f.labDir, "dispatcher.list"), "utf8"),
      readFileSync(path.join(runDir, "dispatcher.step-1-w0.list"), "utf8"),
    );
    const summary = readFileSync(path.join(runDir, "summary.md"), "utf8");
    assert.match(summary, /reaction \d+ ms/);
    assert.match(summary, /reaction, link by link: answer/);
    assert.match(summary, /ISA of new <= 5%/);
    // the background calls are gone
    assert.deepEqual(processesNaming(res.traffic!.callIdPrefix), []);
  });
});

describe("report.html of a migrate --traffic run (Chromium, offline)", () => {
  let run: Awaited<ReturnType<typeof runWith>>;
  before(async () => {
    run = await runWith("503-one-in-five");
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("shows the run's calls per backend, the HEP rates, the charts, the failed gate and the log", async () => {
    const { r, runDir, res } = run;
    assert.equal(r.code, 1, r.stderr + r.stdout);
    const calls = res.traffic?.calls;
    assert.ok(
      calls && calls.old > 0 && calls.new > 0,
      `results.json counts calls per backend: ${JSON.stringify(calls)}; steps ${JSON.stringify(res.steps.map((x) => [x.label, x.verdict, x.gates?.verdict]))}\n${r.stderr}`,
    );
    const browser = await launchBrowser({ offline: true });
    try {
      const page = await browser.context.newPage();
      await page.addInitScript(PROBE_SCRIPT);
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(pathToFileURL(path.join(runDir, "report.html")).href);
      await page.waitForSelector("#timeline li[data-step]");
      const shown = await page.evaluate(() => (globalThis as unknown as { __pbx: { shown(): Shown } }).__pbx.shown());
      assert.equal(shown.old + shown.new, calls.total, "every call routed, per backend");
      assert.ok(shown.old > 0 && shown.new > 0, `calls per backend ${shown.old}/${shown.new}`);
      assert.ok(shown.completed > 0 && shown.failed > 0, `completed ${shown.completed}, failed ${shown.failed}`);
      assert.ok(shown.hepOld > 0 && shown.hepNew > 0, `HEP rates' totals ${shown.hepOld}/${shown.hepNew}`);
      assert.ok(shown.charts > 0, "charts drawn");
      assert.ok(shown.verdicts > 0 && shown.passed < shown.verdicts, "the gates' verdicts, a failed one among them");
      const text = await page.innerText("body");
      assert.match(text, new RegExp(`calls in results\\.json: ${calls.total}\\b`));
      assert.doesNotMatch(text, /no HEP capture in this run|no verdict yet/);
      assert.match(text, /gates fail/, "the run's log lines");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});

describe("migrate --traffic: a slow new backend", () => {
  let run: Awaited<ReturnType<typeof runWith>>;
  before(async () => {
    run = await runWith("slow");
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("trips the SRD gate at weight 10 and rolls back to weight 0: exit 1", async () => {
    const { f, r, res } = run;
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(
      r.stdout,
      /SRD p95 of new not worse than old by more than 200 ms: new \d+(\.\d+)? ms \(\d+ samples\) vs old [\d.]+ ms/,
    );
    const srd = gate(res.steps[1]!, /^SRD p95/);
    assert.equal(srd.verdict, "fail");
    assert.ok(srd.values.new! >= 700, `new's SRD p95 ${srd.values.new} ms: the stand-in waits 800 ms`);
    assert.ok(srd.values.old! < 200, `old's SRD p95 ${srd.values.old} ms`);
    // the calls themselves were answered: SER and ISA do not fail
    assert.equal(gate(res.steps[1]!, /^ISA of new/).verdict, "pass");
    assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")]);
    assert.deepEqual(processesNaming(res.traffic!.callIdPrefix), []);
  });
});

describe("migrate --traffic: healthy backends", () => {
  let run: Awaited<ReturnType<typeof runWith>>;
  before(async () => {
    run = await runWith("answer");
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("passes every step with its gates and each step's split within its bound", async () => {
    const { f, r, res } = run;
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(
      res.steps.map((p) => [p.label, p.verdict, p.gates?.verdict]),
      [
        ["old", "pass", "pass"],
        ["new=10%", "pass", "pass"],
        ["new=50%", "pass", "pass"],
        ["new", "pass", "pass"],
      ],
    );
    for (const p of res.steps) {
      const s = p.gates!.split!;
      assert.equal(s.verdict, "pass", `${p.label}: ${JSON.stringify(s)}`);
      assert.ok(s.toNew >= s.bound.min && s.toNew <= s.bound.max, `${p.label}: ${JSON.stringify(s)}`);
      assert.ok(s.calls >= 100, `${p.label}: held for at least 100 calls, got ${s.calls}`);
    }
    // the weighted steps really split: new got about its share
    const ten = res.steps[1]!.gates!.split!;
    assert.ok(ten.toNew > 0 && ten.toNew < ten.calls / 4, JSON.stringify(ten));
    assert.equal(res.steps[0]!.gates!.split!.toNew, 0);
    assert.equal(res.steps[3]!.gates!.split!.toNew, res.steps[3]!.gates!.split!.calls);
    for (const p of res.steps.slice(1)) assert.equal(gate(p, /^ISA of new/).verdict, "pass", p.label);
    assert.equal(res.rollback, undefined);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
    assert.deepEqual(processesNaming(res.traffic!.callIdPrefix), []);
  });

  test("bad --traffic values and a non-lab driver: exit 2, nothing started", async () => {
    const { f } = run;
    for (const bad of ["0", "-5", "fast", "5000"]) {
      const r = await f.cli([
        "migrate",
        ...f.flags,
        ...ALG,
        "--artifacts-dir",
        path.join(f.dir, "bad"),
        "--traffic",
        bad,
      ]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--traffic must be calls per second, more than 0 and at most 1000/);
    }
    const d = await f.cli([
      "migrate",
      "--driver",
      "docker",
      "--artifacts-dir",
      path.join(f.dir, "bad"),
      "--traffic",
      "5",
    ]);
    assert.equal(d.code, 2, d.stderr);
    assert.match(d.stderr, /--traffic places calls through the native lab's Kamailio only/);
    const s = await f.cli(["lab", "up", ...f.flags, "--new-stand-in", "sometimes"]);
    assert.equal(s.code, 2, s.stderr);
    assert.match(s.stderr, /--new-stand-in "sometimes": must be one of answer, 503-one-in-five, slow/);
  });
});
