/**
 * Stopping a lab's processes, and only the lab's: by what lab.json recorded (pid + start time +
 * command line naming the lab dir), and by a /proc scan for a kamailio, sipp, freeswitch, postgres,
 * php (FusionPBX's web server) or unshare (one starting it) whose command line names the lab dir (lab.json missing or corrupt, lab dir deleted). A pid that now belongs to
 * another program is never signalled; what cannot be stopped is reported, not hidden.
 */
import { findLabProcesses, listProcs, ownershipOf, readProc, type ProcInfo } from "../os/ownership.js";
import { stopGraceMs, stopSignal } from "./backend-spec.js";
import { stopGroup, stopPid } from "../os/process.js";
import type { LabState } from "./state.js";

export interface StopReport {
  stopped: { role: string; pid: number; result: string }[];
  /** recorded pids that are not ours any more (why), left alone */
  notOurs: string[];
  /** the pids judged not ours: a later command-line scan must leave them alone too */
  notOursPids: number[];
  /** processes of the lab that are still alive after trying */
  stillRunning: ProcInfo[];
}

/** Live members of a process group. */
function groupMembers(pgid: number, procs: readonly ProcInfo[] = listProcs()): ProcInfo[] {
  return procs.filter((p) => p.pgid === pgid);
}

/**
 * The recorded components in reverse start order: the backends first (together: FreeSWITCH takes
 * seconds each), then the proxy.
 */
export async function stopRecorded(state: LabState, labDir: string): Promise<StopReport> {
  const r: StopReport = { stopped: [], notOurs: [], notOursPids: [], stillRunning: [] };
  const stop = async (c: LabState["components"][number]): Promise<void> => {
    const o = ownershipOf(c, labDir);
    if (o.kind === "not-ours") {
      r.notOurs.push(`${c.role}: ${o.why}`);
      r.notOursPids.push(c.pid);
      r.stopped.push({ role: c.role, pid: c.pid, result: `not ours (${o.why}); left alone` });
      return;
    }
    if (o.kind === "gone") {
      // the leader is gone; its group lives on only if members remain (a pid cannot be reused
      // while its group exists), and we stop them only if they are the lab's too
      const members = groupMembers(c.pid);
      const all = findLabProcesses(labDir, members);
      if (members.length === 0 || all.length !== members.length) {
        r.stopped.push({ role: c.role, pid: c.pid, result: "absent (already gone)" });
        return;
      }
    }
    const result = await stopGroup(c.pid, stopGraceMs(c.comm), stopSignal(c.comm));
    r.stopped.push({ role: c.role, pid: c.pid, result });
    const now = readProc(c.pid);
    if (result === "not permitted" && now) r.stillRunning.push(now);
  };
  const reversed = [...state.components].reverse();
  await Promise.all(reversed.filter((c) => c.role !== "kamailio").map(stop));
  for (const c of reversed.filter((c) => c.role === "kamailio")) await stop(c);
  return r;
}

function roleOf(p: ProcInfo): string {
  if (p.comm === "kamailio") return "kamailio";
  if (p.comm === "postgres") return "postgres";
  const web = p.cmdline.find((a) => /\/fusionpbx-(old|new)\/php-errors\.log$/.test(a));
  if (web) return /fusionpbx-old\//.test(web) ? "fusionpbx-old" : "fusionpbx-new";
  const fs = p.cmdline.find((a) => /\/freeswitch-(old|new)$/.test(a));
  if (fs) return /freeswitch-old$/.test(fs) ? "old" : "new";
  const log = p.cmdline.find((a) => /uas-(old|new)\.messages\.log$/.test(a));
  return log ? (/uas-old/.test(log) ? "old" : "new") : p.comm;
}

/**
 * Whatever of the lab dir still runs, found by command line: stopped by group when the whole group
 * is the lab's. `exclude`: process groups lab.json recorded and judged not ours (never signalled).
 */
export async function stopFound(labDir: string, exclude: readonly number[] = []): Promise<StopReport> {
  const r: StopReport = { stopped: [], notOurs: [], notOursPids: [], stillRunning: [] };
  const procs = listProcs().filter((p) => !exclude.includes(p.pgid) && !exclude.includes(p.pid));
  const found = findLabProcesses(labDir, procs);
  const byGroup = new Map<number, ProcInfo[]>();
  for (const p of found) byGroup.set(p.pgid, [...(byGroup.get(p.pgid) ?? []), p]);
  for (const [pgid, members] of byGroup) {
    const leader = members.find((p) => p.pid === pgid);
    if (leader && groupMembers(pgid, procs).length === members.length) {
      r.stopped.push({
        role: roleOf(leader),
        pid: pgid,
        result: `${await stopGroup(pgid, stopGraceMs(leader.comm), stopSignal(leader.comm))} (found by its command line)`,
      });
      continue;
    }
    for (const p of members)
      r.stopped.push({
        role: roleOf(p),
        pid: p.pid,
        result: `${await stopPid(p.pid, stopGraceMs(p.comm), stopSignal(p.comm))} (found by its command line)`,
      });
  }
  r.stillRunning = findLabProcesses(
    labDir,
    listProcs().filter((p) => !exclude.includes(p.pgid) && !exclude.includes(p.pid)),
  );
  return r;
}
