import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RunEvent } from "../events/run-events.js";
import { fmtDuration, formatStatusText, initialStatus, reduceStatus, statusView, type RunInfo } from "./run-status.js";

const info: RunInfo = {
  runDir: "/art/run-1",
  pid: 42,
  command: "pbx-cutover migrate",
  startedAt: 1_000,
  source: "plan.yaml",
  steps: [
    { label: "old", weightNew: 0, holdS: 0, gates: [] },
    { label: "new=10%", weightNew: 10, holdS: 600, gates: ["SER of new not worse than old by more than 2 points"] },
    { label: "new", weightNew: 100, holdS: 0, gates: [] },
  ],
};

const fold = (events: RunEvent[]) => events.reduce(reduceStatus, initialStatus(info));
const step = (at: number, index: number, state: "applied" | "passed" | "failed", detail = ""): RunEvent => ({
  kind: "step",
  at,
  index,
  of: 3,
  label: info.steps[index - 1]!.label,
  weightNew: info.steps[index - 1]!.weightNew,
  state,
  detail,
});

describe("run status", () => {
  const holding: RunEvent[] = [
    step(2_000, 1, "applied", "runtime sip:127.0.0.1:15070"),
    step(2_010, 1, "passed"),
    step(2_100, 2, "applied", "runtime sip:127.0.0.1:15080 (weight=10), sip:127.0.0.1:15070 (weight=90)"),
    { kind: "hold", at: 2_100, index: 2, ms: 600_000, endsAt: 602_100, extension: 0, resumed: false },
  ];

  it("a holding step: n/N, weights, time left, its gates not judged yet, the last good step", () => {
    const v = statusView(fold(holding), 62_100);
    assert.deepEqual(v.step, {
      index: 2,
      of: 3,
      label: "new=10%",
      weightNew: 10,
      weightOld: 90,
      runtime: "sip:127.0.0.1:15080 (weight=10), sip:127.0.0.1:15070 (weight=90)",
    });
    assert.equal(v.phase, "holding");
    assert.deepEqual(v.hold, { totalS: 600, remainingS: 540, extension: 0 });
    assert.equal(v.paused, false);
    assert.deepEqual(v.lastGood, { index: 1, label: "step 1 (old)" });
    assert.deepEqual(v.gates, {
      step: 2,
      names: ["SER of new not worse than old by more than 2 points"],
      verdict: "not evaluated yet",
      detail: "",
    });
    assert.match(v.next, /^step 3 \(new\) in 9m 00s, if its gates pass/);
    // a gated step moves on after its gates, not when the clock runs out
    assert.equal(v.nextStepInS, undefined);
    const text = formatStatusText(v);
    assert.match(text, /^step 2\/3 new=10%: holding$/m);
    assert.match(text, /weights: old 90, new 10/);
    assert.match(text, /hold: 9m 00s left of 10m 00s/);
  });

  it("paused: the hold's time left stands still until resume, which restarts the clock", () => {
    const paused = [
      ...holding,
      { kind: "control", at: 62_100, command: "pause", accepted: true, detail: "" } as RunEvent,
    ];
    const a = statusView(fold(paused), 62_100);
    const b = statusView(fold(paused), 362_100);
    assert.equal(a.paused, true);
    assert.equal(a.hold?.remainingS, 540);
    assert.equal(b.hold?.remainingS, 540, "5 minutes later, still 540 s left");
    assert.equal(b.pausedForS, 300);
    assert.match(b.next, /until `pbx-cutover resume`/);
    assert.match(formatStatusText(b), /PAUSED for 5m 00s/);
    const resumed = fold([
      ...paused,
      { kind: "control", at: 362_100, command: "resume", accepted: true, detail: "" },
      { kind: "hold", at: 362_100, index: 2, ms: 540_000, endsAt: 902_100, extension: 0, resumed: true },
    ]);
    assert.equal(statusView(resumed, 372_100).hold?.remainingS, 530);
    assert.equal(statusView(resumed, 372_100).paused, false);
  });

  it("a refused request is shown, but changes nothing", () => {
    const s = fold([
      ...holding,
      { kind: "control", at: 3_000, command: "promote", accepted: false, detail: "the run is paused" },
    ]);
    const v = statusView(s, 3_000);
    assert.equal(v.phase, "holding");
    assert.deepEqual(v.lastControl, {
      command: "promote",
      accepted: false,
      detail: "the run is paused",
      at: new Date(3_000).toISOString(),
    });
  });

  it("abort, rollback, the end: what is back in place", () => {
    const s = fold([
      ...holding,
      { kind: "control", at: 3_000, command: "abort", accepted: true, detail: "" },
      step(3_001, 2, "failed", "aborted"),
      {
        kind: "rollback",
        at: 3_020,
        from: 2,
        to: 1,
        toLabel: "step 1 (old)",
        reason: "aborted by the operator",
        ok: true,
        durationMs: 15,
        runtime: [],
      },
    ]);
    const v = statusView(s, 3_030);
    assert.equal(v.phase, "rolled back");
    assert.equal(v.hold, undefined);
    assert.equal(v.next, "the run is ending: step 1 (old) is back in place");
    assert.equal(
      statusView(
        reduceStatus(s, { kind: "run-finished", at: 3_040, status: "failed", exitCode: 1, failures: [] }),
        3_050,
      ).next,
      "nothing: the run has finished",
    );
  });

  it("drain: the old backend's remaining calls with their age", () => {
    const s = fold([
      step(2_000, 3, "applied"),
      step(2_010, 3, "passed"),
      {
        kind: "drain",
        at: 2_100,
        backend: "old",
        state: "progress",
        active: 1,
        calls: [{ callId: "long-1", ageS: 12 }],
        detail: "1 call left",
      },
    ]);
    const v = statusView(s, 2_200);
    assert.equal(v.phase, "draining");
    assert.match(formatStatusText(v), /drain: progress, 1 call\(s\) on old: 1 call left\n {4}- long-1 up 12s/);
  });

  it("durations", () => {
    assert.equal(fmtDuration(9.54), "9.5s");
    assert.equal(fmtDuration(59), "59s");
    assert.equal(fmtDuration(252), "4m 12s");
    assert.equal(fmtDuration(3720), "1h 02m");
  });
  it("paused by the plan (inconclusive gates): status says why and what the operator can do", () => {
    const events: RunEvent[] = [
      ...holding,
      {
        kind: "gates",
        at: 602_100,
        index: 2,
        verdict: "inconclusive",
        detail: "inconclusive: SER of new >= 90%: new: 30 of the 100000 calls needed",
      },
      {
        kind: "control",
        at: 602_200,
        command: "pause",
        accepted: true,
        by: "plan",
        detail:
          "paused by the plan (onInconclusive: pause): step 2's gates are inconclusive: new: 30 of the 100000 calls needed",
      },
    ];
    const v = statusView(fold(events), 605_200);
    assert.equal(v.paused, true);
    assert.equal(v.pausedForS, 3);
    assert.match(v.pausedBecause ?? "", /step 2's gates are inconclusive/);
    assert.match(
      v.next,
      /resume` holds step 2 again and judges it again, `promote` passes it as it is, `abort` goes back/,
    );
    const text = formatStatusText(v);
    assert.match(text, /^step 2\/3 new=10%: evaluating, PAUSED for 3\.0s by the plan$/m);
    assert.match(text, /^ {2}why: paused by the plan \(onInconclusive: pause\)/m);
    assert.match(text, /gates: inconclusive: .*SER of new >= 90%/);
    // the operator's own pause has no why
    const op = statusView(
      fold([
        ...holding,
        { kind: "control", at: 3_000, command: "pause", accepted: true, detail: "step 2's hold clock stopped" },
      ]),
      4_000,
    );
    assert.equal(op.pausedBecause, undefined);
  });
});
