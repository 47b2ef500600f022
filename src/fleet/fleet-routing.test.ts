import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { acquireApplyLock } from "../apply/apply-lock.js";
import { profileFor, profileFromText } from "../apply/apply.js";
import { BEFORE_PLAN_LABEL } from "../apply/routing.js";
import { RunEvents } from "../events/run-events.js";
import { refuseUnlessClean } from "../target/list-guard.js";
import { fakeTarget, NEW, OLD, type FakeKamailio } from "../../test/support/fake-kamailio.js";
import type { FleetMember } from "./fleet-apply.js";
import { FleetRouting } from "./fleet-routing.js";

const FAST = { reloadWaitMs: 60, unavailableWaitMs: 60, firstBackoffMs: 1, maxBackoffMs: 5 };
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** three fake production nodes on old, each list with a comment of its own */
function fleet(): { members: FleetMember[]; kams: FakeKamailio[]; routing: FleetRouting; release: () => void } {
  const members: FleetMember[] = [];
  const kams: FakeKamailio[] = [];
  for (let i = 1; i <= 3; i++) {
    const { target, kam, dir } = fakeTarget(`# node kam${i}'s own list\n1 ${OLD} 0 0\n`);
    dirs.push(dir);
    target.checkBeforeWrite = (text, runtime) =>
      refuseUnlessClean(`node kam${i}`, text, runtime, { setId: 1, old: OLD, new: NEW, source: "t.yaml" });
    members.push({ name: `kam${i}`, target });
    kams.push(kam);
  }
  const locks = members.map((m) => acquireApplyLock(m.target.lockPath, "test"));
  return {
    members,
    kams,
    routing: new FleetRouting(members, locks, "test"),
    release: () => locks.forEach((l) => l.release()),
  };
}

const options = (): Parameters<FleetRouting["apply"]>[1] => ({
  lock: { path: "", holder: { pid: 1, command: "", startedAt: "", host: "" }, release: () => undefined },
  retry: FAST,
  events: new RunEvents(),
});

describe("a plan's routing on a fleet", () => {
  it("a step on every node under the run's locks; the take-out disables new on every node; the rollback after it is not drift", async () => {
    const { members, kams, routing, release } = fleet();
    const both = profileFor(members[0]!.target, "both");
    const out = await routing.apply(both, options());
    assert.equal(out.label, "both");
    assert.deepEqual(
      routing.last?.nodes.map((n) => [n.name, n.routing]),
      [
        ["kam1", "both"],
        ["kam2", "both"],
        ["kam3", "both"],
      ],
    );
    const t = await routing.takeOut(FAST);
    assert.equal(t.ok, true, JSON.stringify(t));
    assert.deepEqual(
      kams.map((k) => k.loaded.map((d) => d.state ?? "AX")),
      [
        ["AX", "DX"],
        ["AX", "DX"],
        ["AX", "DX"],
      ],
    );
    assert.deepEqual(
      routing.lastTakeOut?.map((n) => [n.name, n.ok]),
      [
        ["kam1", true],
        ["kam2", true],
        ["kam3", true],
      ],
    );
    // back to the list each node had before the plan (its own comment kept), though new is disabled at runtime
    const back = await routing.apply(
      profileFromText(BEFORE_PLAN_LABEL, out.previousText!, "kam1 (before the plan)"),
      options(),
    );
    assert.equal(back.ok, true);
    assert.deepEqual(
      kams.map((k) => k.file),
      [1, 2, 3].map((i) => `# node kam${i}'s own list\n1 ${OLD} 0 0\n`),
    );
    assert.deepEqual(
      kams.map((k) => k.runtimeUris()),
      [[OLD], [OLD], [OLD]],
    );
    release();
  });

  it("a take-out that fails on one node is not ok and names it; the others' are still seen by the rollback", async () => {
    const { members, kams, routing, release } = fleet();
    await routing.apply(profileFor(members[0]!.target, "both"), options());
    kams[1]!.failSetState = "State Update Failed";
    const t = await routing.takeOut(FAST);
    assert.equal(t.ok, false);
    assert.match(t.ok ? "" : t.reason, /^node kam2: dispatcher\.set_state d 1 sip:/);
    const back = await routing.apply(profileFor(members[0]!.target, "old"), options());
    assert.equal(back.ok, true);
    assert.deepEqual(
      kams.map((k) => k.runtimeUris()),
      [[OLD], [OLD], [OLD]],
    );
    release();
  });
});
