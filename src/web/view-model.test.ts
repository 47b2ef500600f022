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
  const count = (b: string): number => RESULTS.calls.filter((c) => (c.inviteBackend ?? "").split("+").includes(b)).length;
  assert.deepEqual([v.backends.old.routed, v.backends.new.routed], [count("old"), count("new")]);
  assert.deepEqual([v.backends.old.completed + v.backends.new.completed, v.backends.old.failed + v.backends.new.failed], [RESULTS.calls.length, 0]);
  assert.deepEqual([v.backends.old.up, v.backends.new.up], [0, 0], "every call finished");
  assert.deepEqual(v.steps.map((s) => s.key), ["old", "both", "new", "inflight"]);
  assert.equal(v.liveStep, undefined);
  assert.ok(v.steps.every((s) => s.endedAt !== undefined && s.endedAt >= s.startedAt));
  assert.deepEqual(v.steps.map((s) => s.applies.map((a) => a.mode).join("+")), ["old", "both", "new", "old+new"]);
  assert.deepEqual(v.steps[0]!.routed, { old: 4, new: 0 });
  assert.equal(v.mode, "new");
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
    { kind: "apply", at: 1110, mode: "old", ok: true, durationMs: 9, runtime: ["sip:127.0.0.1:1"] },
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
  for (let i = 0; i < n; i++) e.push({ kind: "call-routed", at: i * 1000, callId: `c${i}`, phase: "old", backend: i % 3 ? "old" : "new" });
  const v = runViewOf(e);
  assert.ok(v.series.t.length <= MAX_BINS, `${v.series.t.length} bins`);
  assert.ok(v.series.binSeconds >= n / MAX_BINS);
  const total = [...v.series.callsPerSecond.old, ...v.series.callsPerSecond.new].reduce((a, b) => a + b, 0) * v.series.binSeconds;
  assert.equal(Math.round(total), n);
  assert.equal(v.series.up.old.at(-1), v.backends.old.up);
});

test("events.ndjson lines that are not events are counted, never fatal", () => {
  assert.equal(parseEventLine('{"kind":"step","at":1}'), undefined, "a kind this version does not know");
  assert.equal(parseEventLine("{trunc"), undefined);
  assert.equal(parseEventLine('{"kind":"log"}'), undefined, "no time");
  const v = runViewOfLog('{"kind":"log","at":1,"line":"x"}\n{trunc\n\n{"kind":"step","at":2}\n', "/r");
  assert.equal(v.unreadable, 2);
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
  const c = (routed: number, ok: number) => ({ routed, answers: { "1xx": 2 * routed, "2xx": ok, "3xx-6xx": routed - ok } });
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
