import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunEvent } from "../events/run-events.js";
import { fixture } from "../../test/support/fixtures.js";
import { contentSecurityPolicy, readPageAssets, renderPage, scriptJson } from "./page.js";
import { MAX_BINS, parseEventLine, runViewOf, runViewOfLog, withResults } from "./view-model.js";

// a real sim run (Kamailio 5.6.3, SIPp 3.6.1 stand-ins): its events.ndjson and results.json
const EVENTS = fixture("pbx-cutover-sim-kamailio-5.6.3-sipp-3.6.1.events.ndjson");
const RESULTS = JSON.parse(fixture("pbx-cutover-sim-kamailio-5.6.3-sipp-3.6.1.results.json")) as {
  calls: { inviteBackend: string | null }[];
  verdicts: { phase: string; name: string; numbers: Record<string, number> }[];
};

test("a real run's events: counters equal results.json, four steps in order, none live at the end", () => {
  const v = runViewOfLog(EVENTS, "/x/run");
  const count = (b: string): number =>
    RESULTS.calls.filter((c) => (c.inviteBackend ?? "").split("+").includes(b)).length;
  assert.deepEqual([v.backends.old.routed, v.backends.new.routed], [count("old"), count("new")]);
  assert.deepEqual(
    [v.backends.old.completed + v.backends.new.completed, v.backends.old.failed + v.backends.new.failed],
    [RESULTS.calls.length, 0],
  );
  assert.deepEqual([v.backends.old.up, v.backends.new.up], [0, 0], "every call finished");
  assert.deepEqual(
    v.steps.map((s) => s.key),
    ["old", "both", "new", "inflight"],
  );
  assert.equal(v.liveStep, undefined);
  assert.ok(v.steps.every((s) => s.endedAt !== undefined && s.endedAt >= s.startedAt));
  assert.deepEqual(
    v.steps.map((s) => s.applies.map((a) => a.label).join("+")),
    ["old", "both", "new", "old+new"],
  );
  assert.deepEqual(v.steps[0]!.routed, { old: 4, new: 0 });
  assert.equal(v.applied, "new");
  assert.equal(v.verdicts.length, 25);
  assert.deepEqual(v.verdictCounts, { pass: 25, fail: 0, inconclusive: 0 });
  assert.equal(v.finished?.exitCode, 0);
  assert.equal(v.unreadable, 0);
  // the series adds up to the counters
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) * v.series.binSeconds;
  assert.equal(Math.round(sum(v.series.callsPerSecond.old)), v.backends.old.routed);
  assert.equal(Math.round(sum(v.series.callsPerSecond.new)), v.backends.new.routed);
});

test("results.json gives every verdict its numbers and the run's summary", () => {
  const v = withResults(runViewOfLog(EVENTS, "/x/run"), RESULTS);
  const split = v.verdicts.find((x) => x.phase === "both" && x.name === "split");
  assert.deepEqual(split?.numbers, RESULTS.verdicts.find((x) => x.phase === "both" && x.name === "split")?.numbers);
  assert.ok(v.verdicts.every((x) => x.numbers !== undefined));
  assert.deepEqual(v.results?.callsByBackend, { old: v.backends.old.routed, new: v.backends.new.routed });
  assert.equal(v.results?.exitCode, 0);
});

test("a step is live from its phase event until the next one", () => {
  const e: RunEvent[] = [
    { kind: "run-started", at: 1000, runDir: "/a/call-cutover-1", knobs: {} },
    { kind: "phase", at: 1000, phase: "preflight" },
    { kind: "phase", at: 1100, phase: "old" },
    { kind: "apply", at: 1110, label: "old", ok: true, durationMs: 9, runtime: ["sip:127.0.0.1:1"] },
    { kind: "call-routed", at: 1200, callId: "a", phase: "old", backend: "old" },
  ];
  const v = runViewOf(e);
  assert.equal(v.liveStep, 0);
  assert.equal(v.steps[0]!.endedAt, undefined);
  assert.deepEqual([v.backends.old.up, v.backends.old.routed], [1, 1]);
  assert.equal(v.runName, "call-cutover-1");
  const w = runViewOf([...e, { kind: "phase", at: 1300, phase: "both" }]);
  assert.equal(w.liveStep, 1);
  assert.equal(w.steps[0]!.endedAt, 1300);
});

test("a long run keeps at most MAX_BINS bins, and no call is lost when bins merge", () => {
  const e: RunEvent[] = [{ kind: "run-started", at: 0, runDir: "/r", knobs: {} }];
  const n = 5000;
  for (let i = 0; i < n; i++)
    e.push({ kind: "call-routed", at: i * 1000, callId: `c${i}`, phase: "old", backend: i % 3 ? "old" : "new" });
  const v = runViewOf(e);
  assert.ok(v.series.t.length <= MAX_BINS, `${v.series.t.length} bins`);
  assert.ok(v.series.binSeconds >= n / MAX_BINS);
  const total =
    [...v.series.callsPerSecond.old, ...v.series.callsPerSecond.new].reduce((a, b) => a + b, 0) * v.series.binSeconds;
  assert.equal(Math.round(total), n);
  assert.equal(v.series.up.old.at(-1), v.backends.old.up);
});

test("events.ndjson lines that are not events are counted, never fatal", () => {
  assert.equal(
    parseEventLine('{"kind":"later","at":1}')?.kind,
    "later",
    "a kind this version does not know is kept (and noted by the folder)",
  );
  assert.equal(parseEventLine("{trunc"), undefined);
  assert.equal(parseEventLine('{"kind":"log"}'), undefined, "no time");
  assert.equal(parseEventLine("[1,2]"), undefined);
  const v = runViewOfLog('{"kind":"log","at":1,"line":"x"}\n{trunc\n\n{"kind":"later","at":2}\n', "/r");
  assert.equal(v.unreadable, 1);
  assert.deepEqual(v.unknownKinds, { later: 1 });
  assert.deepEqual(v.logTail, ["x"]);
});

test("the page is one file: everything inline, the view's text cannot close its script, no network source", () => {
  assert.equal(scriptJson({ a: "</script><script>alert(1)</script>" }).includes("</script"), false);
  const v = runViewOf([{ kind: "log", at: 1, line: "</script><b>x</b>" }], "/r/<run>");
  const page = renderPage(v, "report", readPageAssets());
  assert.equal((page.match(/<\/script>/g) ?? []).length, 3, "three script elements, none closed early");
  assert.doesNotMatch(page, /<script[^>]+src=|<link[^>]+href=/i);
  assert.match(page, /<title>pbx-cutover report: &lt;run&gt;<\/title>/);
  assert.match(contentSecurityPolicy("report"), /default-src 'none'.*connect-src 'none'/);
  assert.match(contentSecurityPolicy("live"), /connect-src 'self'/);
});

test("backend-rates events: the view shows the last whole window per second and the totals; no capture, no rates", () => {
  const c = (routed: number, ok: number) => ({
    routed,
    answers: { "1xx": 2 * routed, "2xx": ok, "3xx-6xx": routed - ok },
  });
  const events: RunEvent[] = [
    { kind: "run-started", at: 1000, runDir: "/x/run", knobs: {} },
    { kind: "backend-rates", at: 2000, windowMs: 1000, final: false, backends: { old: c(12, 12), new: c(3, 2) } },
    { kind: "backend-rates", at: 2100, windowMs: 100, final: true, backends: { old: c(1, 1), new: c(0, 0) } },
  ];
  const v = runViewOf(events);
  assert.deepEqual(v.hep?.last, { at: 2000, windowMs: 1000, perSecond: { old: c(12, 12), new: c(3, 2) } });
  assert.deepEqual(v.hep?.totals, { old: c(13, 13), new: c(3, 2) });
  assert.equal(runViewOf(events.slice(0, 1)).hep, undefined);
  // the same from events.ndjson
  assert.deepEqual(runViewOfLog(events.map((e) => JSON.stringify(e)).join("\n"), "/x/run").hep, v.hep);
});

test("a plan's events (migrate --steps 0,50,100 with a rollback): steps n/N with weight and state, each apply on its step, the rollback on the timeline", () => {
  const apply = (at: number, label: string): RunEvent => ({
    kind: "apply",
    at,
    label,
    ok: true,
    durationMs: 9,
    runtime: ["sip:127.0.0.1:15070"],
  });
  const step = (
    at: number,
    index: number,
    weightNew: number,
    state: "applied" | "passed" | "failed",
    detail = "",
  ): RunEvent => ({
    kind: "step",
    at,
    index,
    of: 3,
    label: weightNew === 0 ? "old" : weightNew === 100 ? "new" : "both",
    weightNew,
    state,
    detail,
  });
  const events: RunEvent[] = [
    { kind: "run-started", at: 1000, runDir: "/x/run", knobs: { steps: 3 } },
    apply(1010, "step-1"),
    step(1020, 1, 0, "applied", "runtime sip:127.0.0.1:15070"),
    step(1030, 1, 0, "passed"),
    apply(1040, "step-2"),
    step(1050, 2, 50, "applied"),
  ];
  let v = runViewOf(events);
  assert.deepEqual(
    v.steps.map((s) => [s.key, s.kind, s.index, s.of, s.weight, s.state]),
    [
      ["step-1", "plan-step", 1, 3, 0, "passed"],
      ["step-2", "plan-step", 2, 3, 50, "applied"],
    ],
  );
  assert.equal(v.liveStep, 1, "step 2 is live");
  assert.deepEqual(
    v.steps.map((s) => s.applies.map((a) => a.label)),
    [["step-1"], ["step-2"]],
    "an apply belongs to the step it applied",
  );
  assert.equal(v.steps[0]!.endedAt, 1050);
  assert.deepEqual(
    v.steps[0]!.notes.map((n) => n.text),
    ["runtime sip:127.0.0.1:15070"],
  );
  // step 3 fails its apply, the runner puts step 2 back
  v = runViewOf([
    ...events,
    step(1060, 2, 50, "passed"),
    step(1100, 3, 100, "failed", "apply failed: reload refused; the previous list was restored"),
    apply(1110, "step-2"),
    {
      kind: "rollback",
      at: 1120,
      from: 3,
      to: 2,
      toLabel: "step 2 (both)",
      reason: "step 3 failed",
      ok: true,
      durationMs: 12,
      runtime: ["sip:127.0.0.1:15070", "sip:127.0.0.1:15080"],
    },
    { kind: "run-finished", at: 1200, status: "failed", exitCode: 4, failures: ["apply failed"] },
  ]);
  assert.deepEqual(
    v.steps.map((s) => [s.key, s.state]),
    [
      ["step-1", "passed"],
      ["step-2", "passed"],
      ["step-3", "failed"],
      ["rollback-1", "passed"],
    ],
  );
  assert.deepEqual(
    v.steps[3]!.applies.map((a) => a.label),
    ["step-2"],
    "the rollback's apply is on the rollback",
  );
  assert.match(v.steps[3]!.label, /rollback from step 3 to step 2 \(both\)/);
  assert.match(
    v.steps[3]!.notes[0]!.text,
    /^step 3 failed; runtime sip:127\.0\.0\.1:15070, sip:127\.0\.0\.1:15080 in 12 ms$/,
  );
  assert.match(v.steps[2]!.notes[0]!.text, /reload refused/);
  assert.equal(v.liveStep, undefined, "nothing is live after the end");
  assert.equal(v.steps[1]!.endedAt, 1200, "step 2 ran again until the end");
});

test("plan runner notes (hold, gates, control, drain) and kinds this version does not know (events.ndjson of a newer tool): noted on the live step or the run, only unknown kinds counted, never fatal", () => {
  const lines = [
    { kind: "run-started", at: 1000, runDir: "/x/run", knobs: {} },
    { kind: "drain", at: 1005, backend: "old", state: "started", active: 3, calls: [], detail: "" },
    { kind: "step", at: 1010, index: 1, of: 1, label: "new", weightNew: 100, state: "applied", detail: "" },
    { kind: "gates", at: 1020, index: 1, verdict: "pass", detail: "ser new 100% >= 98 (24 calls)" },
    { kind: "control", at: 1030, command: "pause", accepted: true, detail: "paused by pid 42" },
    { kind: "future-thing", at: 1040, n: 7 },
    "not json",
    { kind: "", at: 1 },
  ].map((x) => (typeof x === "string" ? x : JSON.stringify(x)));
  const v = runViewOfLog(lines.join("\n"), "/x/run");
  assert.equal(v.unreadable, 2);
  assert.deepEqual(v.unknownKinds, { "future-thing": 1 });
  assert.deepEqual(
    v.otherEvents.map((n) => `${n.kind}: ${n.text}`),
    ["drain: old started: 3 active"],
    "before any step: on the run",
  );
  assert.deepEqual(
    v.steps[0]!.notes.map((n) => `${n.kind}: ${n.text}`),
    ["gates: pass: ser new 100% >= 98 (24 calls)", "control: pause accepted: paused by pid 42", "future-thing: n=7"],
  );
  assert.equal(parseEventLine(JSON.stringify({ kind: "gates", at: 5 }))?.kind, "gates");
  // the page renders such a view
  assert.match(renderPage(v, "report", readPageAssets()), /<\/html>/);
});

test("a step's gates with their numbers (migrate --traffic): the rows of its latest gates event, shown on the page with their verdict", () => {
  const row = (verdict: "pass" | "fail", ser: number, n: number) => ({
    name: "SER of new >= 98%",
    verdict,
    detail: `new ${ser}% (${n} calls) ${verdict === "pass" ? ">=" : "<"} 98%`,
    values: { old: 100, new: ser },
    samples: { old: n, new: n },
  });
  const events: RunEvent[] = [
    { kind: "run-started", at: 1000, runDir: "/x/run", knobs: { steps: 2 } },
    { kind: "step", at: 1010, index: 1, of: 2, label: "old", weightNew: 0, state: "applied", detail: "" },
    { kind: "gates", at: 1020, index: 1, verdict: "pass", detail: "1 gate passed", gates: [row("pass", 100, 30)] },
    { kind: "step", at: 1030, index: 1, of: 2, label: "old", weightNew: 0, state: "passed", detail: "" },
    { kind: "step", at: 1040, index: 2, of: 2, label: "new=10%", weightNew: 10, state: "applied", detail: "" },
    {
      kind: "gates",
      at: 1050,
      index: 2,
      verdict: "fail",
      detail: "SER of new >= 98% failed",
      early: true,
      gates: [row("fail", 80, 20)],
    },
    { kind: "gates", at: 1060, index: 2, verdict: "none", detail: "no evidence" },
  ];
  const v = runViewOf(events, "/x/run");
  assert.deepEqual(
    v.steps.map((s) => s.gates.map((g) => [g.name, g.verdict, g.value, g.details])),
    [
      [["SER of new >= 98%", "pass", 100, "new 100% (30 calls) >= 98%"]],
      [["SER of new >= 98%", "fail", 80, "new 80% (20 calls) < 98%"]],
    ],
    "each step keeps its own rows; an event without rows leaves them",
  );
  const html = renderPage(v, "report", readPageAssets());
  assert.match(html, /new 80% \(20 calls\) &lt; 98%|new 80% \(20 calls\) < 98%|\\u003c 98%/);
  assert.deepEqual(
    v.verdicts.map((x) => [x.phase, x.name, x.verdict]),
    [
      ["step 1/2: old", "SER of new >= 98%", "pass"],
      ["step 2/2: new=10%", "SER of new >= 98%", "fail"],
    ],
    "every gate verdict is a row of the run's verdicts",
  );
  assert.deepEqual(
    v.steps.map((s) => s.verdicts),
    [
      { pass: 1, fail: 0, inconclusive: 0 },
      { pass: 0, fail: 1, inconclusive: 0 },
    ],
  );
});

test("results.json of migrate --traffic (calls counted per backend from HEP, not listed): the view's call counts", () => {
  const v = withResults(runViewOf([{ kind: "run-started", at: 1, runDir: "/r", knobs: {} }], "/r"), {
    status: "fail",
    exitCode: 1,
    durationMs: 5,
    traffic: { calls: { total: 380, old: 300, new: 80 } },
  });
  assert.equal(v.results?.calls, 380);
  assert.deepEqual(v.results?.callsByBackend, { old: 300, new: 80 });
});

test("results.json of a sim too large to list every call (callsListed): the view's call counts come from it, not from the calls listed", () => {
  const v = withResults(runViewOf([{ kind: "run-started", at: 1, runDir: "/r", knobs: {} }], "/r"), {
    status: "fail",
    exitCode: 1,
    durationMs: 5,
    calls: [{ callId: "a", inviteBackend: null, outcome: "failed" }],
    callsListed: { total: 61_002, byBackend: { old: 30_501, new: 30_501 }, listed: "the calls that did not complete" },
  });
  assert.equal(v.results?.calls, 61_002);
  assert.deepEqual(v.results?.callsByBackend, { old: 30_501, new: 30_501 });
});

test("sim's phases are plan steps: each step event fills its phase (index, weight, state, gates as notes); the timeline stays old, both, new, inflight", () => {
  const step = (
    at: number,
    index: number,
    label: string,
    weightNew: number,
    state: "applied" | "passed" | "failed",
  ): RunEvent => ({ kind: "step", at, index, of: 3, label, weightNew, state, detail: "" });
  const phaseStep = (at: number, index: number, p: "old" | "both" | "new", w: number): RunEvent[] => [
    { kind: "phase", at, phase: p },
    { kind: "apply", at: at + 1, label: p, ok: true, durationMs: 9, runtime: ["sip:127.0.0.1:1"] },
    step(at + 2, index, p, w, "applied"),
    { kind: "call-routed", at: at + 3, callId: `c${index}`, phase: p, backend: p === "new" ? "new" : "old" },
    {
      kind: "gates",
      at: at + 4,
      index,
      verdict: "none",
      detail: `no metric gates in sim's plan; 6 of 6 assertions of phase ${p} passed`,
    },
    step(at + 5, index, p, w, "passed"),
  ];
  const sim: RunEvent[] = [
    { kind: "run-started", at: 1000, runDir: "/a/call-cutover-1", knobs: {} },
    ...phaseStep(1100, 1, "old", 0),
    ...phaseStep(1200, 2, "both", 50),
    ...phaseStep(1300, 3, "new", 100),
    { kind: "phase", at: 1400, phase: "inflight" },
    { kind: "apply", at: 1401, label: "old", ok: true, durationMs: 9, runtime: ["sip:127.0.0.1:1"] },
    { kind: "apply", at: 1402, label: "new", ok: true, durationMs: 9, runtime: ["sip:127.0.0.1:2"] },
  ];
  const v = runViewOf(sim);
  assert.deepEqual(
    v.steps.map((s) => [s.key, s.kind, s.index, s.weight, s.state]),
    [
      ["old", "phase", 1, 0, "passed"],
      ["both", "phase", 2, 50, "passed"],
      ["new", "phase", 3, 100, "passed"],
      ["inflight", "phase", undefined, undefined, undefined],
    ],
  );
  assert.deepEqual(
    v.steps.map((s) => s.applies.map((a) => a.label).join("+")),
    ["old", "both", "new", "old+new"],
    "each apply on its own phase",
  );
  assert.deepEqual(
    v.steps.map((s) => s.routed.old + s.routed.new),
    [1, 1, 1, 0],
  );
  assert.deepEqual(
    v.steps[1]!.notes.map((n) => n.kind),
    ["gates"],
  );
  assert.equal(v.liveStep, 3);
  // a rollback during sim's step 2 (Ctrl-C) is on the timeline after it; step 1 (old) is live again
  const rb = runViewOf([
    ...sim.slice(0, 1 + 6 + 3),
    step(1250, 2, "both", 50, "failed"),
    { kind: "apply", at: 1251, label: "old", ok: true, durationMs: 9, runtime: ["sip:127.0.0.1:1"] },
    {
      kind: "rollback",
      at: 1252,
      from: 2,
      to: 1,
      toLabel: "step 1 (old)",
      reason: "interrupted by SIGINT",
      ok: true,
      durationMs: 9,
      runtime: ["sip:127.0.0.1:1"],
    },
  ]);
  assert.deepEqual(
    rb.steps.map((s) => [s.key, s.state]),
    [
      ["old", "passed"],
      ["both", "failed"],
      ["rollback-1", "passed"],
    ],
  );
  assert.equal(rb.liveStep, 0);
});
