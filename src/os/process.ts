import { spawn } from "node:child_process";
import { closeSync, readFileSync, readdirSync } from "node:fs";
import { delay } from "../core/scope.js";
import { FileMode, openAppend } from "../files/atomic-write.js";

/**
 * The one place the lab spawns long-running processes. Argument arrays only, never a shell.
 * Each process leads its own process group (detached), so it survives the CLI that started it
 * (`lab up` returns) and can be stopped as a whole group.
 */
export function spawnDetached(argv: readonly string[], logFile: string, cwd: string): number {
  const [bin, ...args] = argv;
  if (bin === undefined) throw new Error("spawnDetached: empty argv");
  const fd = openAppend(logFile, FileMode.public);
  try {
    const child = spawn(bin, args, { cwd, detached: true, stdio: ["ignore", fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${bin}`);
    child.on("error", () => undefined); // reported through liveness checks and logs
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Alive and not a zombie; when `expectComm` is given, /proc/<pid>/comm must match (pid reuse guard). */
export function isAlive(pid: number, expectComm?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    if (expectComm !== undefined) {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (comm !== expectComm) return false;
    }
  } catch {
    return false;
  }
  return true;
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Members of a process group that are not zombies (zombies wait for their parent to reap them). */
function liveGroupMembers(pgid: number): number {
  if (!groupExists(pgid)) return 0;
  // a group whose members are all zombies counts as stopped
  let n = 0;
  try {
    for (const entry of readdirProc()) {
      const stat = safeRead(`/proc/${entry}/stat`);
      if (stat === undefined) continue;
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[2]) === pgid && rest[0] !== "Z") n++;
    }
  } catch {
    return 1;
  }
  return n;
}

function readdirProc(): string[] {
  return readdirSync("/proc").filter((e) => /^\d+$/.test(e));
}
function safeRead(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Stop a whole process group: SIGTERM, wait up to `graceMs`, then SIGKILL. Resolves when
 * no live member remains. Idempotent: a group that is gone is fine. Callers check that the
 * group is theirs first (src/os/ownership.ts).
 */
export async function stopGroup(pgid: number, graceMs = 3000, first: NodeJS.Signals = "SIGTERM"): Promise<StopResult> {
  return stopWith(
    (sig) => process.kill(-pgid, sig),
    () => liveGroupMembers(pgid),
    graceMs,
    first,
  );
}

/** Stop one process (not a group leader): SIGTERM (or `first`), then SIGKILL after `graceMs`. */
export async function stopPid(pid: number, graceMs = 3000, first: NodeJS.Signals = "SIGTERM"): Promise<StopResult> {
  return stopWith(
    (sig) => process.kill(pid, sig),
    () => (isAlive(pid) ? 1 : 0),
    graceMs,
    first,
  );
}

export type StopResult = "stopped" | "killed" | "absent" | "not permitted";

async function stopWith(
  send: (sig: NodeJS.Signals) => void,
  alive: () => number,
  graceMs: number,
  first: NodeJS.Signals,
): Promise<StopResult> {
  if (alive() === 0) return "absent";
  const signal = (sig: NodeJS.Signals): "ok" | "gone" | "not permitted" => {
    try {
      send(sig);
      return "ok";
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM" ? "not permitted" : "gone";
    }
  };
  const term = signal(first);
  if (term !== "ok") return term === "gone" ? "absent" : "not permitted";
  signal("SIGCONT"); // a frozen (SIGSTOP) process handles the TERM now instead of after the grace time
  const deadline = Date.now() + graceMs;
  let wait = 5;
  while (Date.now() < deadline) {
    if (alive() === 0) return "stopped";
    await delay(wait);
    wait = Math.min(wait * 2, 50);
  }
  const kill = signal("SIGKILL");
  if (kill === "gone") return "stopped";
  if (kill === "not permitted") return "not permitted";
  const killDeadline = Date.now() + 2000;
  while (Date.now() < killDeadline && alive() > 0) await delay(20);
  return "killed";
}

/** The last `n` lines of a log file, for error messages. */
export function tailLines(file: string, n = 15): string[] {
  const text = safeRead(file);
  if (text === undefined) return [`(no log at ${file})`];
  const lines = text.replace(/\s+$/, "").split("\n");
  return lines.slice(-n);
}
