/**
 * Real file-system faults for the e2e tests: a tiny tmpfs filled to the last byte (ENOSPC) and a
 * read-only bind mount (EROFS). Needs root (mount); the tests say so and skip otherwise.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import path from "node:path";

function run(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr || r.error?.message}`);
}

/** Why this machine cannot mount, or undefined when it can. */
export function cannotMount(): string | undefined {
  if (process.getuid?.() !== 0) return "mount needs root";
  const probe = spawnSync("mount", ["--version"], { encoding: "utf8" });
  return probe.status === 0 ? undefined : "no mount(8)";
}

export function mountTmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  run(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
}

/** Bind `dir` onto itself read-only. */
export function bindReadOnly(dir: string): void {
  run(["mount", "--bind", dir, dir]);
  run(["mount", "-o", "remount,bind,ro", dir]);
}

export function unmount(dir: string): void {
  if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
}

/** Write zeros into `dir/filler` until the file system is full (ENOSPC). Returns the filler path. */
export function fill(dir: string): string {
  const file = path.join(dir, "filler");
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  }
  // the last partial chunk
  try {
    for (;;) writeSync(fd, Buffer.alloc(512));
  } catch {
    /* full */
  }
  closeSync(fd);
  return file;
}
