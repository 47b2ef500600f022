import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { startTimeOf } from "../os/ownership.js";
import { acquireApplyLock, parseHolder } from "./apply-lock.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-lock-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const lockFile = (): string => path.join(dir, `apply-${n++}.lock`);

test("the lock is created whole, mode 0600 whatever the umask, and removed on release", () => {
  for (const mask of [0o000, 0o077]) {
    const f = lockFile();
    const old = process.umask(mask);
    let lock;
    try {
      lock = acquireApplyLock(f, "test");
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(f).mode & 0o777, 0o600);
    const h = parseHolder(readFileSync(f, "utf8"));
    assert.equal(h?.pid, process.pid);
    assert.equal(h?.startTime, startTimeOf(process.pid));
    lock.release();
    assert.equal(existsSync(f), false);
    assert.deepEqual(
      readdirSync(dir).filter((e) => e.startsWith(".")),
      [],
      "no temp file left",
    );
  }
});

test("a live holder makes the second taker fail with exit 3 naming it", () => {
  const f = lockFile();
  const lock = acquireApplyLock(f, "pbx-cutover apply new");
  assert.throws(
    () => acquireApplyLock(f, "second"),
    (err: unknown) =>
      (err as { exitCode?: number }).exitCode === 3 &&
      /another apply holds the dispatcher lock .* pid \d+ \(pbx-cutover apply new\)/.test((err as Error).message),
  );
  lock.release();
});

test("an empty or garbage lock (e.g. left by a full disk) is stale and taken over at once", () => {
  for (const text of ["", '{"pid":', "null", '{"pid": -1}', "\u0000\u0000"]) {
    const f = lockFile();
    writeFileSync(f, text);
    const lock = acquireApplyLock(f, "test");
    assert.equal(
      parseHolder(readFileSync(f, "utf8"))?.pid,
      process.pid,
      `took over a lock holding ${JSON.stringify(text)}`,
    );
    lock.release();
  }
});

test("a dead holder, and a holder whose pid was reused by another process, are stale", () => {
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
  const f1 = lockFile();
  writeFileSync(f1, JSON.stringify({ pid: Number(dead), command: "x", startedAt: "t", host: os.hostname() }));
  acquireApplyLock(f1, "test").release();
  // our own (live) pid with another start time: the pid was reused, the holder is gone
  const f2 = lockFile();
  writeFileSync(
    f2,
    JSON.stringify({ pid: process.pid, startTime: "1", command: "x", startedAt: "t", host: os.hostname() }),
  );
  const lock = acquireApplyLock(f2, "test");
  assert.equal(parseHolder(readFileSync(f2, "utf8"))?.startTime, startTimeOf(process.pid));
  lock.release();
});

test("release leaves a lock that is no longer ours alone", () => {
  const f = lockFile();
  const lock = acquireApplyLock(f, "test");
  writeFileSync(f, JSON.stringify({ pid: 1, command: "someone else", startedAt: "t", host: os.hostname() }));
  lock.release();
  assert.equal(existsSync(f), true);
});
