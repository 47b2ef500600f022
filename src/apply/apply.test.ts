import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { afterEach, describe, it } from "node:test";
import { ApplyRestoredError, EnvironmentError, UsageError } from "../core/errors.js";
import { RunEvents, type RunEvent } from "../events/run-events.js";
import { fakeTarget, NEW, OLD } from "../../test/support/fake-kamailio.js";
import { acquireApplyLock } from "./apply-lock.js";
import { ApplyRolledBackError, backupPaths, profileFromText, readRollbackPoint, verifiedApply } from "./apply.js";

const dirs: string[] = [];
const setup = (initial?: string): ReturnType<typeof fakeTarget> => {
  const f = fakeTarget(initial);
  dirs.push(f.dir);
  return f;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fast = { firstBackoffMs: 5, maxBackoffMs: 20, unavailableWaitMs: 100, reloadWaitMs: 200 };

describe("verifiedApply", () => {
  it("applies old -> both -> new, verifying the runtime each time, and keeps the rollback point", async () => {
    const { target, kam } = setup();
    const events = new RunEvents();
    const seen: RunEvent[] = [];
    events.subscribe((e) => seen.push(e));
    for (const [mode, uris] of [
      ["old", [OLD]],
      ["both", [OLD, NEW]],
      ["new", [NEW]],
    ] as const) {
      const out = await verifiedApply(target, mode, { events, retry: fast });
      assert.equal(out.label, mode);
      assert.deepEqual(kam.runtimeUris(), uris);
      assert.deepEqual(
        out.runtime.map((d) => d.uri),
        uris,
      );
      assert.equal(out.appliedText, kam.file);
      assert.ok(out.diff.ok);
      assert.ok(out.timings.totalMs >= out.timings.reloadMs);
    }
    assert.deepEqual(
      seen.map((e) => e.kind === "apply" && `${e.mode}:${e.ok}`),
      ["old:true", "both:true", "new:true"],
    );
    // the first apply (old over the initial old list) only rewrote the header comment
    assert.match(readRollbackPoint(target)!.text, /profile: both/);
    assert.equal(existsSync(target.lockPath), false, "lock released");
    assert.equal(existsSync(backupPaths(target).inFlight), false);
  });

  it("does nothing (no write, no reload) when file and runtime already hold the profile", async () => {
    const { target, kam } = setup();
    await verifiedApply(target, "both", { retry: fast });
    const writes = kam.writes;
    kam.calls.length = 0;
    const out = await verifiedApply(target, "both", { retry: fast });
    assert.equal(out.changed, false);
    assert.equal(kam.writes, writes);
    assert.deepEqual(kam.calls, ["dispatcher.list"]);
  });

  it("waits out reload_delta when Kamailio answers 500 Ongoing reload, then verifies", async () => {
    const { target, kam } = setup();
    kam.reloadDeltaMs = 120;
    await verifiedApply(target, "both", { retry: { ...fast, reloadWaitMs: 1000 } });
    const out = await verifiedApply(target, "new", { retry: { ...fast, reloadWaitMs: 1000 } });
    assert.ok(out.reload!.ongoingRefusals >= 1, "the second reload was refused at first");
    // it waited before the retry that got through; how long depends on how much of the 120 ms had
    // already passed since the first reload (under load most of it: 'waitedMs >= 80' went red in make test)
    assert.ok(out.reload!.waitedMs > 0, `waited ${out.reload!.waitedMs} ms`);
    assert.deepEqual(kam.runtimeUris(), [NEW]);
  });

  it("retries a briefly unreachable RPC", async () => {
    const { target, kam } = setup();
    kam.unavailableCalls = 2;
    kam.unavailableMethod = "dispatcher.reload";
    const out = await verifiedApply(target, "new", { retry: fast });
    assert.equal(out.reload!.unavailableRetries, 2);
    assert.deepEqual(kam.runtimeUris(), [NEW]);
  });

  it("refuses a profile or saved list outside the target's SIP policy before touching anything (exit 2)", async () => {
    const { target, kam } = setup();
    await verifiedApply(target, "old", { retry: fast });
    const [file, writes, calls] = [kam.file, kam.writes, kam.calls.length];
    const outside = {
      ...target,
      backends: { ...target.backends, new: { ...target.backends.new, uri: "sip:10.0.0.1:5060" } },
    };
    await assert.rejects(
      verifiedApply(outside, "both", { retry: fast }),
      (err: unknown) => err instanceof UsageError && /10\.0\.0\.1 is outside/.test(err.message),
    );
    const tampered = profileFromText("both", `1 ${OLD} 0 0\n1 sip:6.6.6.6:5060 0 0\n`, "/x/previous.list");
    await assert.rejects(verifiedApply(target, tampered, { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(
        err.message,
        /^\/x\/previous\.list is not a list pbx-cutover would apply: line 2: "sip:6\.6\.6\.6:5060": 6\.6\.6\.6 is outside .*; nothing was changed$/,
      );
      return true;
    });
    assert.deepEqual([kam.file, kam.writes, kam.calls.length], [file, writes, calls], "no write, no RPC call");
    assert.ok(!existsSync(target.lockPath), "no lock taken");
  });

  it("restores the previous list when Kamailio skips a destination (exit 4)", async () => {
    const { target, kam } = setup();
    await verifiedApply(target, "old", { retry: fast });
    const before = kam.file;
    const broken = {
      ...target,
      backends: { ...target.backends, new: { ...target.backends.new, uri: "sip:192.0.2.1:5060" } },
    };
    await assert.rejects(verifiedApply(broken, "both", { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof ApplyRolledBackError);
      assert.ok(err instanceof ApplyRestoredError);
      assert.equal(err.exitCode, 4);
      assert.equal(err.failure.stage, "verify");
      assert.match(err.message, /missing sip:192\.0\.2\.1:5060 \(set 1\)/);
      assert.match(err.message, /restored and verified/);
      assert.deepEqual(
        err.failure.runtime?.map((d) => d.uri),
        [OLD],
        "what Kamailio ran after the bad apply",
      );
      assert.ok(err.failure.restore.reload?.ok, "the bad list was loaded, so the restore reloads");
      return true;
    });
    assert.equal(kam.file, before);
    assert.deepEqual(kam.runtimeUris(), [OLD]);
    assert.equal(existsSync(target.lockPath), false);
  });

  it("restores when the reload itself fails (exit 4)", async () => {
    const { target, kam } = setup();
    kam.failReloads = true;
    await assert.rejects(verifiedApply(target, "new", { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof ApplyRolledBackError);
      assert.equal(err.failure.stage, "reload");
      assert.match(err.message, /500 Reload Failed/);
      assert.match(err.failure.restore.detail, /the runtime never left the previous list/);
      assert.equal(err.failure.restore.reload, undefined, "no second reload needed");
      return true;
    });
    assert.match(kam.file!, new RegExp(`1 ${OLD.replace(/\./g, "\\.")} 0 0`));
    assert.deepEqual(kam.runtimeUris(), [OLD]);
  });

  it("gives up on Ongoing reload after the bound, restores, and says so", async () => {
    const { target, kam } = setup();
    kam.reloadDeltaMs = 10_000;
    kam.lastReloadAt = performance.now();
    await assert.rejects(verifiedApply(target, "new", { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof ApplyRolledBackError);
      assert.match(err.message, /Ongoing reload \(still refused after \d+ ms/);
      return true;
    });
    assert.deepEqual(kam.runtimeUris(), [OLD]);
  });

  it("an unreachable Kamailio stops the apply before anything is touched (exit 3)", async () => {
    const { target, kam } = setup();
    kam.unavailableCalls = Infinity;
    await assert.rejects(verifiedApply(target, "new", { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof EnvironmentError, String(err));
      assert.match(err.message, /cannot read Kamailio's dispatcher state .*nothing was changed/);
      return true;
    });
    assert.equal(kam.writes, 0);
  });

  it("a reload that never gets through: file restored, runtime still the previous list (exit 4)", async () => {
    const { target, kam } = setup();
    kam.unavailableCalls = Infinity;
    kam.unavailableMethod = "dispatcher.reload";
    await assert.rejects(verifiedApply(target, "new", { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof ApplyRolledBackError, String(err));
      assert.match(err.message, /unavailable/);
      return true;
    });
    assert.deepEqual(kam.runtimeUris(), [OLD]);
    assert.doesNotMatch(kam.file!, /15080/);
  });

  it("Kamailio gone after the write: file restored, runtime unknown -> EnvironmentError (exit 3), loudly", async () => {
    const { target, kam } = setup();
    kam.goDownOnWrite = true;
    await assert.rejects(verifiedApply(target, "new", { retry: fast }), (err: unknown) => {
      assert.ok(err instanceof EnvironmentError, String(err));
      assert.match(err.message, /NOT verified/);
      return true;
    });
    assert.doesNotMatch(kam.file!, /15080/);
  });

  it("bad input is a UsageError and touches nothing", async () => {
    const { target, kam } = setup();
    const before = kam.file;
    const same = { ...target, backends: { ...target.backends, new: { ...target.backends.new, uri: OLD } } };
    const badPort = {
      ...target,
      backends: { ...target.backends, new: { ...target.backends.new, uri: "sip:127.0.0.1:0" } },
    };
    for (const [t, mode] of [
      [target, "sideways"],
      [same, "both"],
      [badPort, "new"],
    ] as const) {
      await assert.rejects(verifiedApply(t, mode as "old"), UsageError);
    }
    assert.throws(() => profileFromText("backup", "1 sip:127.0.0.1:0\n", "backup.list"), UsageError);
    assert.equal(kam.file, before);
    assert.deepEqual(kam.calls, []);
    assert.equal(existsSync(target.lockPath), false);
  });

  it("an interrupt during the wait restores the previous list, then rethrows the interrupt", async () => {
    const { target, kam } = setup();
    kam.reloadDeltaMs = 10_000;
    kam.lastReloadAt = performance.now();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("interrupted by SIGINT")), 50);
    await assert.rejects(
      verifiedApply(target, "new", { retry: { ...fast, reloadWaitMs: 5000 }, signal: ac.signal }),
      /interrupted by SIGINT/,
    );
    assert.doesNotMatch(kam.file!, /15080/);
  });
});

describe("apply lock", () => {
  it("refuses a second apply while the first holds the lock, naming the holder (exit 3)", async () => {
    const { target, kam } = setup();
    const lock = acquireApplyLock(target.lockPath, "pbx-cutover migrate");
    try {
      await assert.rejects(verifiedApply(target, "new", { retry: fast }), (err: unknown) => {
        assert.ok(err instanceof EnvironmentError);
        assert.equal(err.exitCode, 3);
        assert.match(err.message, new RegExp(`pid ${process.pid} \\(pbx-cutover migrate\\)`));
        return true;
      });
      assert.deepEqual(kam.calls, [], "nothing touched");
      // the holder itself can apply with its lock
      await verifiedApply(target, "new", { lock, retry: fast });
      assert.ok(existsSync(target.lockPath), "a caller's lock is not released by verifiedApply");
    } finally {
      lock.release();
    }
    assert.equal(existsSync(target.lockPath), false);
  });

  it("takes over a stale lock left by a dead process", () => {
    const { target } = setup();
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    writeFileSync(
      target.lockPath,
      JSON.stringify({ pid: dead, command: "crashed", startedAt: "x", host: os.hostname() }),
    );
    const lock = acquireApplyLock(target.lockPath, "next");
    assert.equal((JSON.parse(readFileSync(target.lockPath, "utf8")) as { command: string }).command, "next");
    lock.release();
  });

  it("does not release a lock that is no longer its own", () => {
    const { target } = setup();
    const lock = acquireApplyLock(target.lockPath, "first");
    writeFileSync(target.lockPath, JSON.stringify({ pid: 1, command: "other", startedAt: "y", host: os.hostname() }));
    lock.release();
    assert.ok(existsSync(target.lockPath));
  });
});
