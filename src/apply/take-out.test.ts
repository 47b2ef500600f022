import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { afterEach, describe, it } from "node:test";
import { fakeTarget, NEW, OLD } from "../../test/support/fake-kamailio.js";
import { refuseUnlessClean, DriftError } from "../target/list-guard.js";
import type { Target } from "../target/target.js";
import { verifiedApply } from "./apply.js";
import { runtimeBeforeTakeOut, splitByNew, takeNewOutOfSelection } from "./take-out.js";

const dirs: string[] = [];
const setup = (initial: string): ReturnType<typeof fakeTarget> => {
  const f = fakeTarget(initial);
  dirs.push(f.dir);
  return f;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fast = { firstBackoffMs: 5, maxBackoffMs: 20, unavailableWaitMs: 100, reloadWaitMs: 2000 };
const BOTH = `1 ${OLD} 0 0\n1 ${NEW} 0 0\n`;

/** the fake target with a production node's drift check */
const guarded = (target: Target): Target => ({
  ...target,
  checkBeforeWrite: (text, runtime) =>
    refuseUnlessClean("node kam1", text, runtime, { setId: 1, old: OLD, new: NEW, source: "target.yaml" }),
});

describe("takeNewOutOfSelection", () => {
  it("disables new at once inside reload_delta (a reload is refused there) and keeps old selected", async () => {
    const { target, kam } = setup(BOTH);
    kam.reloadDeltaMs = 5000;
    kam.lastReloadAt = performance.now();
    await assert.rejects(target.rpc.call("dispatcher.reload"), /Ongoing reload/);
    const r = await takeNewOutOfSelection(target, fast);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.taken, [{ setId: 1, uri: NEW, flagsBefore: "AX" }]);
    assert.deepEqual(
      r.runtime.map((d) => `${d.uri} ${d.flags}`),
      [`${OLD} AX`, `${NEW} DX`],
    );
    assert.ok(r.stoppedAtMs >= r.sentAtMs);
    assert.deepEqual(
      kam.calls.filter((c) => c === "dispatcher.set_state"),
      ["dispatcher.set_state"],
    );
  });

  it("does nothing when new is the set's only destination (the set would be empty)", async () => {
    const { target, kam } = setup(`1 ${NEW} 0 0\n`);
    const r = await takeNewOutOfSelection(target, fast);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", /leave the set empty/);
    assert.ok(!kam.calls.includes("dispatcher.set_state"));
  });

  it("does nothing when new is not selected", async () => {
    const { target, kam } = setup(`1 ${OLD} 0 0\n`);
    const r = await takeNewOutOfSelection(target, fast);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", /new is not in selection/);
    assert.ok(!kam.calls.includes("dispatcher.set_state"));
  });

  it("a refused set_state is a reason, not a throw", async () => {
    const { target, kam } = setup(BOTH);
    kam.failSetState = "State Update Failed";
    const r = await takeNewOutOfSelection(target, fast);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", /set_state d 1 sip:127\.0\.0\.1:15080: .*State Update Failed/);
  });

  it("splitByNew matches new by host and port, in the target's set only", () => {
    const rt = [
      { setId: 1, uri: OLD, flags: "AX", priority: 0, attrs: undefined },
      { setId: 1, uri: `${NEW};transport=udp`, flags: "AX", priority: 0, attrs: undefined },
      { setId: 2, uri: NEW, flags: "AX", priority: 0, attrs: undefined },
    ];
    const s = splitByNew(rt, 1, NEW);
    assert.deepEqual(
      s.neu.map((d) => d.uri),
      [`${NEW};transport=udp`],
    );
    assert.deepEqual(
      s.others.map((d) => d.uri),
      [OLD],
    );
  });
});

describe("the rollback's verified apply after a take-out", () => {
  it("is not drift; it waits out the guard, puts the last good list back and the file's state returns", async () => {
    const { target: t, kam } = setup(BOTH);
    const target = guarded(t);
    kam.reloadDeltaMs = 300;
    kam.lastReloadAt = performance.now();
    const r = await takeNewOutOfSelection(target, fast);
    assert.ok(r.ok);
    const out = await verifiedApply(target, "old", { retry: fast, takenOut: r.taken });
    assert.ok(out.reload && out.reload.ongoingRefusals > 0, "waited on the guard");
    assert.deepEqual(
      out.runtime.map((d) => `${d.uri} ${d.flags}`),
      [`${OLD} AX`],
    );
  });

  it("without the take-out's record, the tool's own set_state reads as drift (exit 4, nothing written)", async () => {
    const { target: t, kam } = setup(BOTH);
    const target = guarded(t);
    const r = await takeNewOutOfSelection(target, fast);
    assert.ok(r.ok);
    const writes = kam.writes;
    await assert.rejects(verifiedApply(target, "old", { retry: fast }), DriftError);
    assert.equal(kam.writes, writes);
  });

  it("someone else's change is still drift after a take-out", async () => {
    const { target: t, kam } = setup(BOTH);
    const target = guarded(t);
    const r = await takeNewOutOfSelection(target, fast);
    assert.ok(r.ok);
    await target.rpc.call("dispatcher.set_state", ["i", 1, OLD]);
    await assert.rejects(verifiedApply(target, "old", { retry: fast, takenOut: r.taken }), DriftError);
    assert.equal(kam.file, BOTH);
  });

  it("runtimeBeforeTakeOut gives the taken destinations their flags back, and nothing else", () => {
    const rt = [
      { setId: 1, uri: OLD, flags: "IX", priority: 0, attrs: undefined },
      { setId: 1, uri: NEW, flags: "DX", priority: 0, attrs: undefined },
    ];
    assert.deepEqual(
      runtimeBeforeTakeOut(rt, [{ setId: 1, uri: NEW, flagsBefore: "AX" }]).map((d) => d.flags),
      ["IX", "AX"],
    );
  });
});
