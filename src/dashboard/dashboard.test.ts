import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunEvent } from "../events/run-events.js";
import { CSV_HEADER, csvRow } from "./csv.js";
import { fit, renderFrame } from "./frame.js";
import { resolveIntervalMs, plainMode } from "./live.js";
import { endTick, initialState, reduce, tick, type DashboardState } from "./state.js";
import type { BackendRole } from "../core/backend-role.js";

const T0 = Date.UTC(2026, 10, 24, 0, 0, 0);

function run(events: RunEvent[], s: DashboardState = initialState("/a/artifacts/call-cutover-x", T0)): DashboardState {
  return events.reduce(reduce, s);
}
const routed = (backend: BackendRole, n: number, at = T0 + 100): RunEvent[] =>
  Array.from({ length: n }, (_, i) => ({ kind: "call-routed", at, callId: `c${backend}${i}`, phase: "both", backend }));

test("events fold into totals, outcomes, phase and verdict counts", () => {
  let s = run([
    { kind: "phase", at: T0 + 10, phase: "old" },
    ...routed("old", 3),
    { kind: "call-finished", at: T0 + 200, callId: "cold0", phase: "old", backend: "old", completed: true },
    {
      kind: "call-finished",
      at: T0 + 200,
      callId: "cold1",
      phase: "old",
      backend: "old",
      completed: false,
      reason: "503",
    },
    { kind: "call-finished", at: T0 + 200, callId: "lost", phase: "old", backend: undefined, completed: false },
    { kind: "verdict", at: T0 + 300, phase: "old", name: "routing", verdict: "pass", details: "" },
    { kind: "verdict", at: T0 + 300, phase: "old", name: "completed", verdict: "fail", details: "" },
  ]);
  assert.equal(s.phase, "old");
  assert.deepEqual([s.backends.old.total, s.backends.old.completed, s.backends.old.failed], [3, 1, 1]);
  assert.equal(s.backends.new.total, 0);
  assert.deepEqual(s.verdicts, { pass: 1, fail: 1, inconclusive: 0 });
  s = run(
    [{ kind: "run-finished", at: T0 + 400, status: "failed", exitCode: 1, failures: ["FAIL old completed: 1/3"] }],
    s,
  );
  assert.equal(s.phase, "done");
  assert.equal(s.status, "failed");
  assert.equal(s.finished?.exitCode, 1);
});

test("ticks compute deltas and calls/s over the interval, and keep the last known mode", () => {
  let s = run(routed("old", 4));
  s = tick(s, { at: T0 + 1000, mode: "old", active: { old: 2, new: 0 } });
  assert.equal(s.backends.old.delta, 4);
  assert.equal(s.callsPerSecond, 4);
  assert.equal(s.backends.old.active, 2);
  s = run(routed("new", 2, T0 + 1200), s);
  s = tick(s, { at: T0 + 1500, mode: undefined, active: {} });
  assert.deepEqual([s.backends.old.delta, s.backends.new.delta], [0, 2]);
  assert.equal(s.callsPerSecond, 4);
  assert.equal(s.mode, "old", "a missed observation keeps the last mode");
  s = tick(s, { at: T0 + 2500, mode: "both", active: {} });
  assert.deepEqual([s.backends.old.delta, s.backends.new.delta, s.callsPerSecond], [0, 0, 0]);
  assert.equal(s.mode, "both");
});

test("the log tail is bounded", () => {
  const s = run(Array.from({ length: 50 }, (_, i) => ({ kind: "log", at: T0, line: `line ${i}` })));
  assert.equal(s.logTail.length, 12);
  assert.equal(s.logTail.at(-1), "line 49");
});

function frameState(): DashboardState {
  const s = run([{ kind: "phase", at: T0, phase: "both" }, ...routed("old", 5), ...routed("new", 3)]);
  return tick(s, { at: T0 + 1000, mode: "both", active: { old: 1, new: 2 } });
}

test("every phase shows in the frame, with mode, totals and deltas", () => {
  for (const phase of ["stack-start", "old", "both", "new", "inflight", "done"] as const) {
    const f = renderFrame({ ...frameState(), phase }, { width: 80, plain: true });
    assert.match(f, new RegExp(`phase: ${phase}\\b`));
  }
  const f = renderFrame(frameState(), { width: 80, plain: true, cwd: "/a" });
  assert.match(f, /dispatcher mode \(Kamailio runtime\): both/);
  assert.match(f, /^OLD\s+5\s+#+\.*\s+\+5\s+0\s+0\s+1$/m);
  assert.match(f, /^NEW\s+3\s+#+\.*\s+\+3\s+0\s+0\s+2$/m);
  assert.match(f, /artifacts: artifacts\/call-cutover-x/);
});

test("zero and very large counts; no line longer than the width, down to 20 columns", () => {
  const zero = renderFrame(initialState("/r", T0), { width: 80, plain: true });
  assert.match(zero, /^OLD\s+0\s+\.+\s+\+0/m);
  let big = frameState();
  big = {
    ...big,
    backends: { ...big.backends, old: { ...big.backends.old, total: 123_456_789, completed: 123_456_000 } },
  };
  for (const width of [200, 120, 80, 60, 40, 30, 20]) {
    const f = renderFrame(big, { width, plain: true });
    for (const line of f.split("\n")) assert.ok(line.length <= width, `${width}: ${JSON.stringify(line)}`);
  }
  assert.match(renderFrame(big, { width: 80, plain: true }), /123456789/);
  assert.doesNotMatch(renderFrame(big, { width: 40, plain: true }), /#/, "bars go first on narrow terminals");
});

test("plain frames carry no control codes and only ASCII; TTY frames may use block bars", () => {
  const failed = run([
    ...routed("old", 2),
    { kind: "log", at: T0, line: "  FAIL routing: 1/2 calls reached old" },
    {
      kind: "run-finished",
      at: T0 + 10,
      status: "failed",
      exitCode: 1,
      failures: ["FAIL new routing: 0/4 calls reached new"],
    },
  ]);
  const plain = renderFrame(failed, { width: 80, plain: true });
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(plain, /[\x00-\x09\x0b-\x1f\x7f-\uffff]/);
  assert.match(plain, /RESULT: FAIL \(exit 1\)/);
  assert.match(plain, /FAIL new routing: 0\/4 calls reached new/);
  assert.match(plain, /last lines of simulation\.stdout\.log:\n {2} {2}FAIL routing/);
  assert.match(renderFrame(failed, { width: 80, plain: false }), /\u2588/);
  assert.equal(fit("abcdef", 4), "abc~");
});

test("CSV: the seed's columns first, one row per tick, ISO-8601 UTC", () => {
  assert.ok(CSV_HEADER.startsWith("timestamp,phase,status,dispatcher_mode,old_total,new_total,old_delta,new_delta,"));
  const row = csvRow(frameState(), T0 + 1000)
    .trimEnd()
    .split(",");
  assert.equal(row.length, CSV_HEADER.trimEnd().split(",").length);
  assert.deepEqual(row.slice(0, 8), ["2026-11-24T00:00:01.000Z", "both", "running", "both", "5", "3", "5", "3"]);
  assert.equal(
    csvRow({ ...frameState(), mode: 'we,"ird' }, T0)
      .split(",")
      .slice(3, 5)
      .join(","),
    '"we,""ird"',
  );
});

test("interval and plain-mode knobs", () => {
  assert.equal(resolveIntervalMs({}, undefined), 1000);
  assert.equal(resolveIntervalMs({ DASH_INTERVAL_SECONDS: "0.25" }, undefined), 250);
  assert.equal(resolveIntervalMs({ DASH_INTERVAL_SECONDS: "5" }, "2"), 2000, "the flag wins");
  for (const bad of ["0", "-1", "abc", "0.01", "1e9"]) {
    assert.throws(() => resolveIntervalMs({ DASH_INTERVAL_SECONDS: bad }, undefined), /DASH_INTERVAL_SECONDS/);
  }
  assert.throws(() => resolveIntervalMs({}, "x"), /--interval="x"/);
  assert.equal(plainMode({}, undefined, { write: () => 0, isTTY: true }), false);
  assert.equal(plainMode({ DASH_NO_CLEAR: "1" }, undefined, { write: () => 0, isTTY: true }), true);
  assert.equal(plainMode({}, false, { write: () => 0, isTTY: true }), true);
  assert.equal(plainMode({}, undefined, { write: () => 0 }), true, "not a TTY");
});

test("the final tick shows only an observation started after run-finished", () => {
  let s = run(routed("old", 1));
  s = tick(s, { at: T0 + 500, mode: "old", active: { old: 1, new: 0 } });
  s = run([{ kind: "run-finished", at: T0 + 1000, status: "success", exitCode: 0, failures: [] }], s);
  // an observation from before the end (the long call still up) is not the end
  const stale = endTick(s, T0 + 1100, { at: T0 + 900, mode: "old", active: { old: 1, new: 0 } });
  assert.deepEqual(
    [stale.backends.old.active, stale.backends.new.active, stale.mode],
    [undefined, undefined, "unavailable"],
  );
  assert.deepEqual(stale.end, {
    observed: false,
    afterMs: undefined,
    settled: false,
    reason: "Kamailio did not answer",
  });
  assert.match(renderFrame(stale, { width: 80, plain: true }), /^OLD .* -$/m);
  // half an answer is no answer
  const half = endTick(s, T0 + 1100, { at: T0 + 1010, mode: "old", active: { old: 0 } });
  assert.equal(half.end?.observed, false);
  const ok = endTick(s, T0 + 1100, { at: T0 + 1040, mode: "new", active: { old: 0, new: 0 } });
  assert.deepEqual(ok.end, { observed: true, afterMs: 40, settled: true, reason: undefined });
  assert.deepEqual([ok.backends.old.active, ok.mode], [0, "new"]);
  assert.match(
    renderFrame(ok, { width: 80, plain: true }),
    /^active dialogs at the end: old 0, new 0 \(Kamailio, asked 40 ms after the run\)$/m,
  );
  const held = endTick(s, T0 + 6100, { at: T0 + 6000, mode: "new", active: { old: 2, new: 0 } }, undefined);
  assert.equal(held.end?.settled, false);
  assert.match(
    renderFrame(held, { width: 80, plain: true }),
    /asked 5\.0 s after the run\)\n {2}Kamailio still holds 2 dialogs though every call of the run has ended\n/,
  );
  assert.equal(
    csvRow(held, T0 + 6100)
      .split(",")
      .slice(12, 14)
      .join(","),
    "2,0",
  );
});

test("HEP rates: the last whole window per second, totals over every window; the final partial window only adds to the totals", () => {
  const counts = (routed: number, c1: number, c2: number, c3: number) => ({
    routed,
    answers: { "1xx": c1, "2xx": c2, "3xx-6xx": c3 },
  });
  let s = run([
    {
      kind: "backend-rates",
      at: T0 + 1000,
      windowMs: 1000,
      final: false,
      backends: { old: counts(10, 20, 9, 1), new: counts(0, 0, 0, 0) },
    },
  ]);
  s = run(
    [
      {
        kind: "backend-rates",
        at: T0 + 1500,
        windowMs: 500,
        final: false,
        backends: { old: counts(4, 8, 4, 0), new: counts(6, 12, 5, 1) },
      },
    ],
    s,
  );
  s = run(
    [
      {
        kind: "backend-rates",
        at: T0 + 1510,
        windowMs: 10,
        final: true,
        backends: { old: counts(0, 0, 0, 0), new: counts(1, 2, 1, 0) },
      },
    ],
    s,
  );
  assert.equal(s.hep?.last?.windowMs, 500, "the 10 ms final window is not shown as a rate");
  assert.deepEqual(s.hep?.totals, { old: counts(14, 28, 13, 1), new: counts(7, 14, 6, 1) });
  const frame = renderFrame(s, { width: 100, plain: true });
  assert.match(frame, /HEP mirror, per second over the last 0\.5 s:/);
  assert.match(frame, /^OLD +8\.0 +16\.0 +8\.0 +0\.0 +14 +13 +1$/m);
  assert.match(frame, /^NEW +12\.0 +24\.0 +10\.0 +2\.0 +7 +6 +1$/m);
  // no HEP window: no HEP lines (a run without a capture)
  assert.doesNotMatch(renderFrame(run([]), { width: 100, plain: true }), /HEP/);
  // narrow terminals: every line still fits
  for (const l of renderFrame(s, { width: 30, plain: true }).split("\n")) assert.ok(l.length <= 30, l);
});

test("real PBXs: each one's own channel count beside Kamailio's dialogs, in the frame, the CSV and the end", () => {
  let s = run([{ kind: "phase", at: T0, phase: "inflight" }, ...routed("old", 1)]);
  assert.doesNotMatch(renderFrame(s, { width: 100, plain: true }), /channels/, "stand-ins: no channels column");
  s = tick(s, { at: T0 + 1000, mode: "new", active: { old: 1, new: 0 }, channels: { old: 1, new: 0 } });
  const frame = renderFrame(s, { width: 100, plain: true });
  assert.match(frame, /^backend\s+total\s+.*\sactive\s+channels$/m);
  assert.match(frame, /^OLD\s+1\s.*\s1\s+1$/m);
  assert.match(frame, /^active = Kamailio's dialogs; channels = FreeSWITCH's own \(show channels count\)$/m);
  const row = csvRow(s, T0 + 1000)
    .trimEnd()
    .split(",");
  const head = CSV_HEADER.trimEnd().split(",");
  assert.deepEqual([row[head.indexOf("old_pbx_channels")], row[head.indexOf("new_pbx_channels")]], ["1", "0"]);
  // a tick whose channel count did not answer keeps the last one
  s = tick(s, { at: T0 + 1200, mode: "new", active: { old: 1, new: 0 }, channels: {} });
  assert.equal(s.backends.old.channels, 1);
  s = run([{ kind: "run-finished", at: T0 + 2000, status: "success", exitCode: 0, failures: [] }], s);
  // Kamailio released the dialog but FreeSWITCH still holds its channel: not settled, and said so
  const held = endTick(s, T0 + 2100, {
    at: T0 + 2050,
    mode: "new",
    active: { old: 0, new: 0 },
    channels: { old: 1, new: 0 },
  });
  assert.equal(held.end?.settled, false);
  const heldFrame = renderFrame(held, { width: 120, plain: true });
  assert.match(heldFrame, /^active channels at the end: old 1, new 0 \(each FreeSWITCH, show channels count\)$/m);
  assert.match(heldFrame, /^ {2}FreeSWITCH still holds 1 channel though every call of the run has ended$/m);
  assert.doesNotMatch(heldFrame, /Kamailio still holds/);
  const done = endTick(s, T0 + 2100, {
    at: T0 + 2050,
    mode: "new",
    active: { old: 0, new: 0 },
    channels: { old: 0, new: 0 },
  });
  assert.equal(done.end?.settled, true);
  // no observation after the end: the channels are unknown, never the stale 1
  const none = endTick(s, T0 + 2100, undefined, "interrupted");
  assert.equal(none.backends.old.channels, undefined);
});

test("the plan runner's steps show after the phase: n/N, label, weight; the plan's end; a rollback", () => {
  const step = (index: number, label: string, weightNew: number, state: "applied" | "passed" | "failed"): RunEvent => ({
    kind: "step",
    at: T0 + index,
    index,
    of: 3,
    label,
    weightNew,
    state,
    detail: "",
  });
  const head = (s: DashboardState): string => renderFrame(s, { width: 200, plain: true }).split("\n")[0]!;
  assert.equal(
    head(run([{ kind: "phase", at: T0, phase: "old" }])),
    "pbx-cutover dashboard   phase: old   status: running",
    "no step yet: as before",
  );
  assert.equal(
    head(run([{ kind: "phase", at: T0, phase: "both" }, step(1, "old", 0, "passed"), step(2, "both", 50, "applied")])),
    "pbx-cutover dashboard   phase: both   status: running   step 2/3 both (new 50%)",
  );
  assert.match(
    head(run([step(3, "new", 100, "passed"), { kind: "phase", at: T0 + 9, phase: "inflight" }])),
    /phase: inflight {3}status: running {3}plan: 3\/3 steps passed$/,
  );
  const rb: RunEvent = {
    kind: "rollback",
    at: T0 + 9,
    from: 2,
    to: 1,
    toLabel: "step 1 (old)",
    reason: "interrupted",
    ok: true,
    durationMs: 8,
    runtime: [],
  };
  assert.match(
    head(run([step(2, "both", 50, "applied"), step(2, "both", 50, "failed"), rb])),
    /status: running {3}step 2\/3 both failed; rolled back to step 1 \(old\)$/,
  );
});

test("the calls' audio: each phase's media-both-ways with its RFC 3550 loss and jitter, a phase judged again replacing its row", () => {
  let s = initialState("/tmp/run", 0);
  const media = (phase: "old" | "new", verdict: "pass" | "fail", numbers: Record<string, number>): RunEvent => ({
    kind: "verdict",
    at: 1,
    phase,
    name: "media-both-ways",
    verdict,
    details: "...",
    numbers,
  });
  s = reduce(s, { kind: "verdict", at: 1, phase: "old", name: "completed", verdict: "pass", details: "x" });
  s = reduce(
    s,
    media("old", "pass", {
      judged: 6,
      oneWay: 0,
      lossPbxToCallerPercent: 0,
      jitterPbxToCallerP50Ms: 0.42,
      jitterPbxToCallerMaxMs: 2.1,
    }),
  );
  s = reduce(s, media("new", "fail", { judged: 6, oneWay: 6, lossPbxToCallerPercent: 0 }));
  s = reduce(s, media("new", "fail", { judged: 6, oneWay: 5, lossPbxToCallerPercent: 1.5 }));
  assert.deepEqual(s.verdicts, { pass: 2, fail: 2, inconclusive: 0 });
  const frame = renderFrame(s, { width: 120, plain: true });
  assert.match(
    frame,
    /^audio old: pass, 6\/6 calls both ways; PBX->caller loss 0\.00%, jitter p50 0\.4 ms \(max 2\.1 ms\)$/m,
  );
  assert.match(
    frame,
    /^audio new: fail, 1\/6 calls both ways; PBX->caller loss 1\.50%, jitter p50 n\/a \(max n\/a\)$/m,
  );
  assert.equal(frame.match(/^audio new/gm)?.length, 1);
});
