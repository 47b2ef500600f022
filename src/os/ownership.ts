/**
 * Is this process ours? A pid alone is not an identity: after a reboot or a long uptime, the pid in
 * a stale lab.json may belong to another program, or to another lab's Kamailio. The lab records each
 * process's start time (/proc/<pid>/stat field 22, clock ticks since boot) and its command line
 * (which names the lab directory); a process is the lab's only when both still match. Anything
 * else is "not ours" and is never signalled.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

export interface ProcInfo {
  pid: number;
  comm: string;
  /** R, S, D, T (stopped, e.g. SIGSTOP), t (traced), Z (zombie), ... */
  state: string;
  pgid: number;
  /** field 22 of /proc/<pid>/stat, as text (clock ticks since boot) */
  startTime: string;
  cmdline: string[];
}

/** Parse /proc/<pid>/stat (pure). The comm may contain spaces and parentheses: split after the last ')'. */
export function parseProcStat(
  text: string,
): { comm: string; state: string; pgid: number; startTime: string } | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(" ");
  // rest[0] is field 3 (state); field n is rest[n - 3]
  const state = rest[0];
  const pgid = Number(rest[5 - 3]);
  const startTime = rest[22 - 3];
  if (state === undefined || startTime === undefined || !Number.isInteger(pgid)) return undefined;
  return { comm: text.slice(open + 1, close), state, pgid, startTime };
}

/** What /proc says about a pid now; undefined when there is no such process. */
export function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (!stat) return undefined;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (cmdline.at(-1) === "") cmdline.pop();
    return { pid, ...stat, cmdline };
  } catch {
    return undefined;
  }
}

/** The start time of a process we just started (recorded in lab.json). */
export function startTimeOf(pid: number): string | undefined {
  return readProc(pid)?.startTime;
}

/** Does any argument name the lab directory or a file in it (also as a `name=value` setting, e.g. PHP's `-d error_log=...`)? */
export function mentionsLabDir(cmdline: readonly string[], labDir: string): boolean {
  const dir = path.resolve(labDir);
  const names = (a: string): boolean => a === dir || a.startsWith(dir + "/");
  return cmdline.some((a) => names(a) || names(a.replace(/^[\w.]+=/, "")));
}

export interface Recorded {
  pid: number;
  /** absent in lab.json files written before start times were recorded */
  startTime?: string | undefined;
}

export type Ownership =
  { kind: "ours"; proc: ProcInfo } | { kind: "gone" } | { kind: "not-ours"; proc: ProcInfo; why: string };

/** Judge a recorded process against what /proc shows now (pure). */
export function judge(rec: Recorded, proc: ProcInfo | undefined, labDir: string): Ownership {
  if (proc === undefined || proc.state === "Z" || proc.state === "X") return { kind: "gone" };
  if (rec.startTime !== undefined && proc.startTime !== rec.startTime) {
    return {
      kind: "not-ours",
      proc,
      why: `pid ${rec.pid} was reused: it now belongs to a process started at tick ${proc.startTime}, not ${rec.startTime}`,
    };
  }
  if (!mentionsLabDir(proc.cmdline, labDir)) {
    return { kind: "not-ours", proc, why: `pid ${rec.pid}'s command line does not name the lab directory ${labDir}` };
  }
  return { kind: "ours", proc };
}

export function ownershipOf(rec: Recorded, labDir: string): Ownership {
  return judge(rec, readProc(rec.pid), labDir);
}

export function describeProc(p: ProcInfo): string {
  const cmd = p.cmdline.join(" ");
  return `pid ${p.pid} (${p.comm}, state ${p.state}: ${cmd.length > 120 ? cmd.slice(0, 117) + "..." : cmd})`;
}

/** Every live process on the machine (best effort: processes vanish while we read). */
export function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const p = readProc(Number(e));
    if (p && p.state !== "Z" && p.state !== "X") out.push(p);
  }
  return out;
}

/**
 * The programs a lab starts, by the name the kernel shows: `--fusionpbx` adds postgres and php
 * (FusionPBX's web server, e.g. `php` or `php8.2`), each started through unshare (for the moment
 * before it execs, the name is unshare).
 */
const LAB_PROGRAMS = new Set(["kamailio", "sipp", "freeswitch", "postgres", "unshare", "rtpengine"]);
export function isLabProgram(comm: string): boolean {
  return LAB_PROGRAMS.has(comm) || /^php[\d.]*$/.test(comm);
}

/**
 * The lab's processes found by their command line alone (lab.json missing, corrupt, or the lab
 * directory deleted): one of those programs whose arguments name the lab directory. (PostgreSQL's
 * children rewrite their command line; the postmaster keeps its own and stops them.)
 */
export function findLabProcesses(labDir: string, procs: readonly ProcInfo[] = listProcs()): ProcInfo[] {
  return procs.filter((p) => isLabProgram(p.comm) && mentionsLabDir(p.cmdline, labDir));
}

/** Is the process frozen (SIGSTOP, or stopped by a debugger)? */
export function isFrozen(p: ProcInfo): boolean {
  return p.state === "T" || p.state === "t";
}
