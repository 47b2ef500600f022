import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { EnvironmentError } from "../core/errors.js";
import { ExitCode } from "../core/exit-codes.js";
import { localLockFile, lockFileOf } from "../target/node-lock-file.js";
import { fakeTarget } from "../../test/support/fake-kamailio.js";
import type { FleetMember } from "./fleet-apply.js";
import { acquireFleetLock, parseFleetHolder, staleReason, STALE_MS } from "./fleet-lock.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** three nodes whose lists live in their own directories (the lock beside each) */
function fleet(): { members: FleetMember[]; files: string[] } {
  const members: FleetMember[] = [];
  const files: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const { target, dir } = fakeTarget();
    dirs.push(dir);
    const file = lockFileOf(path.join(dir, "dispatcher.list"));
    target.fleetLock = localLockFile(file);
    members.push({ name: `kam${i}`, target });
    files.push(file);
  }
  return { members, files };
}

const opts = { fleet: "pbx-east", command: "pbx-cutover migrate", takeOverStale: false };

async function refused(p: Promise<unknown>): Promise<EnvironmentError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EnvironmentError, String(err));
    assert.equal(err.exitCode, ExitCode.Environment);
    return err;
  }
  assert.fail("expected a refusal");
}

const holderText = (h: Record<string, unknown>): string =>
  JSON.stringify({
    tool: "pbx-cutover",
    fleet: "pbx-east",
    command: "pbx-cutover migrate",
    startedAt: "2026-12-07T11:00:00.000Z",
    token: "t0",
    ...h,
  }) + "\n";

describe("the fleet lock, on each node beside its list", () => {
  it("held on every node, naming its holder; a second taker is refused naming host, pid and since; released: gone", async () => {
    const { members, files } = fleet();
    const lock = await acquireFleetLock(members, opts);
    for (const f of files) {
      const h = parseFleetHolder(readFileSync(f, "utf8"))!;
      assert.deepEqual([h.pid, h.host, h.fleet, h.token], [process.pid, os.hostname(), "pbx-east", lock.holder.token]);
    }
    const err = await refused(acquireFleetLock(members, opts));
    assert.match(
      err.message,
      new RegExp(
        `^the fleet is locked by another run: node kam1's lock \\S+ is held by pid ${process.pid} on host ${os.hostname()} \\(pbx-cutover migrate\\), since \\S+, renewed at`,
      ),
    );
    assert.ok(
      files.every((f) => existsSync(f)),
      "the refused taker removed nothing",
    );
    await lock.release();
    assert.ok(files.every((f) => !existsSync(f)));
  });

  it("a node held by someone else: the nodes taken before it are let go", async () => {
    const { members, files } = fleet();
    writeFileSync(files[1]!, holderText({ host: "ops-2", pid: 4242, renewedAt: new Date().toISOString() }));
    const err = await refused(acquireFleetLock(members, opts));
    assert.match(
      err.message,
      /node kam2's lock .* held by pid 4242 on host ops-2 \(pbx-cutover migrate\), since 2026-12-07T11:00:00.000Z/,
    );
    assert.equal(existsSync(files[0]!), false);
    assert.equal(existsSync(files[2]!), false);
  });

  it("a stale lock (its holder's pid gone here, or not renewed anywhere) is named and taken over only when asked", async () => {
    const { members, files } = fleet();
    const dead = spawnSync("true").pid;
    writeFileSync(files[0]!, holderText({ host: os.hostname(), pid: dead, renewedAt: new Date().toISOString() }));
    const old = new Date(Date.now() - STALE_MS - 5000).toISOString();
    writeFileSync(files[2]!, holderText({ host: "ops-9", pid: 77, renewedAt: old }));
    const err = await refused(acquireFleetLock(members, opts));
    assert.match(
      err.message,
      new RegExp(
        `^the fleet lock on node kam1 \\(\\S+\\) is stale: held by pid ${dead} on host .*, but its holder pid ${dead} is gone`,
      ),
    );
    assert.ok(err.details.some((d) => d.includes("--take-over-stale-lock")));
    const lock = await acquireFleetLock(members, { ...opts, takeOverStale: true });
    assert.deepEqual(
      lock.takenOver.map((t) => t.node),
      ["kam1", "kam3"],
    );
    assert.match(lock.takenOver[1]!.holder, /pid 77 on host ops-9 .* last renewed 3\d s ago/);
    for (const f of files) assert.equal(parseFleetHolder(readFileSync(f, "utf8"))?.token, lock.holder.token);
    await lock.release();
  });

  it("staleness (pure): another host's lock is judged by its renewal alone", () => {
    const h = parseFleetHolder(holderText({ host: "ops-2", pid: 1, renewedAt: "2026-12-07T11:00:00.000Z" }))!;
    const at = Date.parse("2026-12-07T11:00:00.000Z");
    const local = { host: "here", alive: () => false, startTime: () => undefined };
    assert.equal(staleReason(h, at + STALE_MS, local), undefined);
    assert.match(staleReason(h, at + STALE_MS + 1000, local) ?? "", /last renewed 31 s ago/);
    assert.equal(staleReason(parseFleetHolder("garbage"), at, local), "its content is not a pbx-cutover lock");
    const mine = { ...h, host: "here" };
    assert.match(staleReason(mine, at, local) ?? "", /holder pid 1 is gone/);
  });
});
