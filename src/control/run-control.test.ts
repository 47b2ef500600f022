import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RunEvents, type RunEvent } from "../events/run-events.js";
import { decideControl, RunControl, type ControlState } from "./run-control.js";

const st = (o: Partial<ControlState> = {}): ControlState => ({
  stage: "running",
  paused: false,
  holding: undefined,
  aborted: false,
  ...o,
});

describe("decideControl", () => {
  it("pause and resume are idempotent: accepted, nothing changes the second time", () => {
    assert.deepEqual(decideControl(st({ paused: true }), "pause"), {
      accept: true,
      change: false,
      detail: "already paused; nothing changed",
    });
    assert.deepEqual(decideControl(st(), "resume"), {
      accept: true,
      change: false,
      detail: "not paused; nothing changed",
    });
    assert.equal(decideControl(st({ holding: 2 }), "pause").accept, true);
    assert.match(decideControl(st({ holding: 2 }), "pause").detail, /step 2's hold clock stopped/);
  });
  it("promote only while a step holds and the run is not paused", () => {
    assert.deepEqual(decideControl(st({ holding: 3 }), "promote"), {
      accept: true,
      change: true,
      detail: "step 3's hold ends now; its gates are still judged",
    });
    const noHold = decideControl(st(), "promote");
    assert.equal(noHold.accept, false);
    assert.match(noHold.detail, /no step is holding/);
    const paused = decideControl(st({ holding: 3, paused: true }), "promote");
    assert.equal(paused.accept, false);
    assert.match(paused.detail, /resume it first/);
  });
  it("an ending run refuses everything; a draining run takes only abort", () => {
    for (const a of ["pause", "resume", "promote", "abort"] as const) {
      assert.equal(decideControl(st({ stage: "ending" }), a).accept, false, a);
      assert.equal(decideControl(st({ aborted: true }), a).accept, false, a);
      assert.equal(decideControl(st({ stage: "draining" }), a).accept, a === "abort", a);
    }
  });
});

function recorder(): { events: RunEvents; seen: RunEvent[] } {
  const events = new RunEvents();
  const seen: RunEvent[] = [];
  events.subscribe((e) => seen.push(e));
  return { events, seen };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("RunControl.hold", () => {
  it("ends as held after its time; emits one hold event", async () => {
    const { events, seen } = recorder();
    const c = new RunControl(events);
    const t0 = Date.now();
    assert.equal(await c.hold(1, 30, 0, new AbortController().signal), "held");
    assert.ok(Date.now() - t0 >= 29);
    assert.deepEqual(
      seen.map((e) => e.kind),
      ["hold"],
    );
  });
  it("promote ends it at once; the step is no longer holding afterwards", async () => {
    const { events, seen } = recorder();
    const c = new RunControl(events);
    const p = c.hold(2, 60_000, 0, new AbortController().signal);
    assert.equal(c.snapshot().holding, 2);
    assert.equal(c.request("promote").accept, true);
    assert.equal(await p, "promoted");
    assert.equal(c.snapshot().holding, undefined);
    assert.deepEqual(
      seen.map((e) => `${e.kind}${e.kind === "control" ? `:${e.command}` : ""}`),
      ["hold", "control:promote"],
    );
  });
  it("pause stops the clock: the hold outlasts its time by the pause, then resumes with what was left", async () => {
    const { events, seen } = recorder();
    const c = new RunControl(events);
    const t0 = Date.now();
    const p = c.hold(1, 1000, 0, new AbortController().signal);
    await tick(50);
    c.request("pause");
    const pausedAt = Date.now();
    await tick(1200); // longer than the whole hold: a running clock would have ended it
    assert.equal(c.snapshot().holding, 1, "still holding while paused");
    const pausedFor = Date.now() - pausedAt;
    c.request("resume");
    assert.equal(await p, "held");
    const took = Date.now() - t0;
    assert.ok(took >= 1000 + pausedFor - 5, `held ${took} ms: 1000 ms of hold + ${pausedFor} ms paused`);
    const resumed = seen.find((e) => e.kind === "hold" && e.resumed);
    assert.ok(resumed && resumed.kind === "hold");
    assert.ok(resumed.ms < 1000 && resumed.ms > 0, `left after the pause: ${resumed.ms} ms`);
  });
  it("abort (operator) or the signal (Ctrl-C) end it as aborted, even while paused", async () => {
    const c = new RunControl(new RunEvents());
    const p = c.hold(1, 60_000, 0, new AbortController().signal);
    c.request("pause");
    c.request("abort");
    assert.equal(await p, "aborted");
    assert.equal(c.abortSignal.aborted, true);
    const ac = new AbortController();
    const c2 = new RunControl(new RunEvents());
    const p2 = c2.hold(1, 60_000, 0, ac.signal);
    ac.abort(new Error("SIGINT"));
    assert.equal(await p2, "aborted");
  });
  it("waitWhilePaused returns at resume, or false on abort", async () => {
    const c = new RunControl(new RunEvents());
    assert.equal(await c.waitWhilePaused(new AbortController().signal), true);
    c.request("pause");
    const w = c.waitWhilePaused(new AbortController().signal);
    await tick(20);
    c.request("resume");
    assert.equal(await w, true);
    c.request("pause");
    const w2 = c.waitWhilePaused(new AbortController().signal);
    c.request("abort");
    assert.equal(await w2, false);
  });
  it("refused requests are events too; idempotent ones are not", () => {
    const { events, seen } = recorder();
    const c = new RunControl(events);
    c.request("promote");
    c.request("resume");
    assert.deepEqual(
      seen.map((e) => (e.kind === "control" ? [e.command, e.accepted] : e.kind)),
      [["promote", false]],
    );
  });
  it("the plan's own pause (inconclusive gates): an event by the plan with why; resume, promote or abort end it", async () => {
    const { events, seen } = recorder();
    const c = new RunControl(events);
    const p = c.pauseInconclusive(2, "new: 3 of the 20 calls needed", new AbortController().signal);
    assert.equal(c.paused, true);
    const ev = seen.at(-1)!;
    assert.ok(ev.kind === "control" && ev.by === "plan" && ev.command === "pause");
    assert.match(ev.detail, /step 2's gates are inconclusive: new: 3 of the 20 calls needed; routing unchanged/);
    assert.match(c.request("pause").detail, /already paused \(step 2's gates are inconclusive\)/);
    assert.equal(c.request("resume").accept, true);
    assert.equal(await p, "resumed");
    assert.equal(c.paused, false);

    const p2 = c.pauseInconclusive(2, "x", new AbortController().signal);
    const promote = c.request("promote");
    assert.deepEqual(
      [promote.accept, promote.accept && promote.detail],
      [true, "step 2 passes on the operator's word with its gates inconclusive; the plan goes on"],
    );
    assert.equal(await p2, "promoted");
    // after it: promote needs a hold again
    assert.equal(c.request("promote").accept, false);

    const p3 = c.pauseInconclusive(2, "x", new AbortController().signal);
    c.request("abort");
    assert.equal(await p3, "aborted");
    const ac = new AbortController();
    const p4 = new RunControl(new RunEvents()).pauseInconclusive(1, "x", ac.signal);
    ac.abort(new Error("SIGINT"));
    assert.equal(await p4, "aborted");
  });
  it("decideControl while the plan paused a step: promote and resume are accepted (an operator's pause refuses promote)", () => {
    assert.equal(decideControl(st({ paused: true, inconclusive: 3 }), "promote").accept, true);
    assert.match(
      decideControl(st({ paused: true, inconclusive: 3 }), "resume").detail,
      /step 3 holds again and its gates are judged again/,
    );
    assert.equal(decideControl(st({ paused: true }), "promote").accept, false);
  });
});
