import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RunControl } from "../control/run-control.js";
import { RunEvents } from "../events/run-events.js";
import { burstHold, timeHold, watchedHold, WATCH_MS, type HoldRequest } from "./hold.js";

function request(o: Partial<HoldRequest> = {}): HoldRequest {
  const events = new RunEvents();
  return {
    step: 1,
    ms: 0,
    calls: 0,
    extension: 0,
    control: new RunControl(events),
    signal: new AbortController().signal,
    ...o,
  };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("hold strategies", () => {
  it("timeHold: its time passes (held), promote ends it at once, the signal interrupts it", async () => {
    assert.deepEqual(await timeHold.hold(request({ ms: 20 })), { end: "held" });
    const h = request({ ms: 60_000 });
    const promoted = timeHold.hold(h);
    await tick(5);
    h.control.request("promote");
    assert.deepEqual(await promoted, { end: "promoted" });
    const ac = new AbortController();
    const interrupted = timeHold.hold(request({ ms: 60_000, signal: ac.signal }));
    ac.abort(new Error("SIGINT"));
    assert.deepEqual(await interrupted, { end: "interrupted" });
    assert.equal(timeHold.describe(100), "");
  });

  it("watchedHold: ends only once its time has passed AND the window routed its calls", async () => {
    let routed = 0;
    const t0 = performance.now();
    const end = await watchedHold(() => ({ routed: (routed += 40) })).hold(request({ ms: 10, calls: 100 }));
    assert.deepEqual(end, { end: "held" });
    assert.ok(routed >= 120, `polled until the calls were in (${routed})`);
    assert.ok(performance.now() - t0 >= 10);
    assert.equal(watchedHold(() => ({ routed: 0 })).describe(200), "200 calls routed");
  });

  it("watchedHold: a gate failing on a poll ends it at once with the gate and when it was noticed", async () => {
    const gate = { verdict: "fail" as const, detail: "ISA of new <= 5%", firstFailingCallMs: Date.now() };
    let polls = 0;
    const before = Date.now();
    const end = await watchedHold(() => (++polls < 2 ? { routed: 0 } : { routed: 0, failed: gate })).hold(
      request({ ms: 60_000, calls: 100 }),
    );
    assert.equal(end.end, "gates-failed");
    assert.ok(end.end === "gates-failed" && end.gate === gate && end.noticedMs >= before);
    assert.equal(polls, 2);
  });

  it("watchedHold: whenFailed wakes the hold without waiting for a tick", async () => {
    const gate = { verdict: "fail" as const, detail: "SER" };
    const t0 = performance.now();
    const end = await watchedHold(
      () => ({ routed: 0 }),
      () => tick(10).then(() => gate),
    ).hold(request({ ms: 60_000, calls: 100 }));
    assert.ok(end.end === "gates-failed" && end.gate === gate);
    assert.ok(performance.now() - t0 < WATCH_MS, "before the first tick");
  });

  it("burstHold: the burst is the hold; with a time too it ends once both are over", async () => {
    const order: string[] = [];
    const hold = burstHold(async (i) => {
      order.push(`burst ${i}`);
      await tick(5);
      order.push("burst done");
    });
    const t0 = performance.now();
    assert.deepEqual(await hold.hold(request({ step: 2, ms: 40 })), { end: "held" });
    assert.ok(performance.now() - t0 >= 35, "the time outlasted the burst");
    assert.deepEqual(order, ["burst 2", "burst done"]);
    assert.equal(hold.describe(1), "its burst of 1 call");
    assert.equal(hold.describe(4), "its burst of 4 calls");
  });

  it("burstHold: a burst that cannot run ends it as failed with the burst's error; a promote waits for the burst", async () => {
    const err = new Error("SIPp could not run");
    assert.deepEqual(await burstHold(() => Promise.reject(err)).hold(request()), { end: "failed", error: err });
    let done = false;
    const h = request({ ms: 60_000 });
    const held = burstHold(() => tick(30).then(() => void (done = true))).hold(h);
    await tick(5);
    h.control.request("promote");
    assert.deepEqual(await held, { end: "promoted" });
    assert.ok(done, "the burst ran to its end (its calls are the step's evidence)");
  });
});
