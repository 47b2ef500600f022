import assert from "node:assert/strict";
import { test } from "node:test";
import { recordedBothCalls } from "../../test/support/hep-fixtures.js";
import { decodeHep } from "../hep/decode.js";
import { HepEvidence } from "../hep/evidence.js";
import { phaseOfWeight, TrafficCallEvents } from "./traffic-calls.js";

const PROXY = "127.0.0.1:25060";
const backends = { old: "127.0.0.1:25062", new: "127.0.0.1:25063" };

test("4 recorded calls through Kamailio 5.6.3 (profile both), fed packet by packet: each call routed once, finished once, completed", () => {
  const e = new HepEvidence([PROXY]);
  const calls = new TrafficCallEvents({ backends, callIdPrefix: "hep-fixture-", timeoutMs: 5000 });
  calls.phase = phaseOfWeight(50);
  const seen: string[] = [];
  for (const d of recordedBothCalls()) {
    const r = decodeHep(d);
    if (!r.ok) throw new Error(r.malformation.detail);
    const c = e.add(r.packet);
    for (const ev of calls.observe(c, 1000))
      seen.push(
        ev.kind === "call-routed"
          ? `routed ${ev.callId.split("-")[2]} ${ev.backend} ${ev.phase}`
          : `finished ${ev.callId.split("-")[2]} ${ev.backend} ${ev.completed}`,
      );
  }
  assert.deepEqual(seen.filter((s) => s.startsWith("routed")).sort(), [
    "routed 1 new both",
    "routed 2 old both",
    "routed 3 new both",
    "routed 4 old both",
  ]);
  assert.deepEqual(seen.filter((s) => s.startsWith("finished")).sort(), [
    "finished 1 new true",
    "finished 2 old true",
    "finished 3 new true",
    "finished 4 old true",
  ]);
  assert.deepEqual(calls.routedTo, { old: 2, new: 2 });
  assert.deepEqual(
    new TrafficCallEvents({ backends, callIdPrefix: "other-", timeoutMs: 5000 }).observe([...e.calls.values()][0], 1),
    [],
  );
});

test("a step's weight is its phase", () => {
  assert.deepEqual([0, 1, 50, 99, 100].map(phaseOfWeight), ["old", "both", "both", "both", "new"]);
});
