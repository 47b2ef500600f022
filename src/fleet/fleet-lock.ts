/**
 * The fleet lock: one plan (or step) on a fleet at a time, whichever machine runs it. It lives with
 * the fleet, not on the machine that runs the tool: a small file beside each node's dispatcher list,
 * on the node's own host (Target.fleetLock: the local file system or the node's SSH), naming its
 * holder (host, pid, command, since) and renewed every RENEW_MS while the holder runs. It survives a
 * Kamailio restart, and an operator reads it with `cat`.
 *
 * Nodes sharing a database table share one lock: a row of `pbx_cutover_lock` in that database
 * (src/target/db-list.ts dbLockRow), renewed and judged stale the same way.
 *
 * Taken on every node in the target file's order; a node held by someone else refuses (exit 3,
 * naming the holder) and the nodes taken so far are let go. A lock is stale when its holder is gone:
 * on this host its pid is dead or reused; anywhere, it was not renewed for STALE_MS. A stale lock is
 * named and refused too, unless the caller asks to take it over (`--take-over-stale-lock`).
 */
import os from "node:os";
import { randomBytes } from "node:crypto";
import { EnvironmentError, UsageError } from "../core/errors.js";
import { isAlive } from "../os/process.js";
import { startTimeOf } from "../os/ownership.js";
import type { NodeLockFile } from "../target/node-lock-file.js";
import type { FleetMember } from "./fleet-apply.js";

export const RENEW_MS = 5_000;
export const STALE_MS = 30_000;

export interface FleetLockHolder {
  tool: "pbx-cutover";
  /** the target file's id */
  fleet: string;
  host: string;
  pid: number;
  /** /proc/<pid>/stat field 22: a reused pid is not the holder */
  startTime: string | undefined;
  command: string;
  startedAt: string;
  renewedAt: string;
  /** this holding, so a renewal never overwrites someone else's lock */
  token: string;
}

/** The holder in a lock file's text (pure); undefined for what no pbx-cutover wrote. */
export function parseFleetHolder(text: string | undefined): FleetLockHolder | undefined {
  if (text === undefined) return undefined;
  try {
    const h = JSON.parse(text) as Partial<FleetLockHolder> | null;
    if (h === null || typeof h !== "object" || h.tool !== "pbx-cutover" || typeof h.pid !== "number") return undefined;
    return {
      tool: "pbx-cutover",
      fleet: String(h.fleet ?? "?"),
      host: String(h.host ?? "?"),
      pid: h.pid,
      startTime: typeof h.startTime === "string" ? h.startTime : undefined,
      command: String(h.command ?? "?"),
      startedAt: String(h.startedAt ?? "?"),
      renewedAt: String(h.renewedAt ?? h.startedAt ?? "?"),
      token: String(h.token ?? ""),
    };
  } catch {
    return undefined;
  }
}

/** "pid 812 on host ops-1 (pbx-cutover migrate), since 2026-12-07T12:00:00.000Z" (pure) */
export function describeFleetHolder(h: FleetLockHolder): string {
  return `pid ${h.pid} on host ${h.host} (${h.command}), since ${h.startedAt}`;
}

/** Why a holder is gone (pure given the liveness answers), or undefined while it may still work. */
export function staleReason(
  h: FleetLockHolder | undefined,
  nowMs: number,
  local: { host: string; alive: (pid: number) => boolean; startTime: (pid: number) => string | undefined },
): string | undefined {
  if (h === undefined) return "its content is not a pbx-cutover lock";
  if (h.host === local.host) {
    if (!local.alive(h.pid)) return `its holder pid ${h.pid} is gone`;
    if (h.startTime !== undefined && local.startTime(h.pid) !== h.startTime)
      return `pid ${h.pid} now belongs to another process`;
  }
  const renewed = Date.parse(h.renewedAt);
  if (!Number.isFinite(renewed)) return "it carries no renewal time";
  if (nowMs - renewed > STALE_MS)
    return `it was last renewed ${((nowMs - renewed) / 1000).toFixed(0)} s ago (a holder renews it every ${RENEW_MS / 1000} s)`;
  return undefined;
}

export interface FleetLock {
  readonly holder: FleetLockHolder;
  /** nodes whose stale lock was taken over, with the holder it named */
  readonly takenOver: { node: string; holder: string }[];
  /** stop renewing and remove every node's lock that is still ours */
  release(): Promise<void>;
}

const here = { host: os.hostname(), alive: isAlive, startTime: startTimeOf };

/** Take the fleet lock on every node (see the module's comment). */
export async function acquireFleetLock(
  members: readonly FleetMember[],
  o: { fleet: string; command: string; takeOverStale: boolean; onRenewFailed?: (why: string) => void },
): Promise<FleetLock> {
  const all = members.map((m) => {
    const f = m.target.fleetLock;
    if (f === undefined)
      throw new UsageError(`node ${m.name}: the fleet lock has no place on this node; nothing was changed`);
    return { name: m.name, file: f };
  });
  // nodes sharing a database table share its one lock row
  const files = all.filter((f, i) => all.findIndex((g) => g.file.location === f.file.location) === i);
  const now = new Date().toISOString();
  const holder: FleetLockHolder = {
    tool: "pbx-cutover",
    fleet: o.fleet,
    host: os.hostname(),
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    command: o.command,
    startedAt: now,
    renewedAt: now,
    token: randomBytes(8).toString("hex"),
  };
  const text = (): string => JSON.stringify({ ...holder, renewedAt: new Date().toISOString() }) + "\n";
  const taken: { name: string; file: NodeLockFile }[] = [];
  const takenOver: { node: string; holder: string }[] = [];
  const letGo = async (): Promise<void> => {
    await Promise.all(taken.map((t) => removeIfOurs(t.file, holder.token).catch(() => undefined)));
  };
  try {
    for (const f of files) {
      if (await f.file.create(text())) {
        taken.push(f);
        continue;
      }
      const current = await f.file.read();
      const h = parseFleetHolder(current);
      const stale = current === undefined ? "it went away" : staleReason(h, Date.now(), here);
      const who = h ? describeFleetHolder(h) : "(unreadable)";
      if (stale === undefined)
        throw new EnvironmentError(
          `the fleet is locked by another run: node ${f.name}'s lock ${f.file.location} is held by ${who}, renewed at ${h!.renewedAt}; nothing was changed`,
          [`wait for it to finish; ${f.file.howToRead} shows who holds it`],
        );
      if (!o.takeOverStale)
        throw new EnvironmentError(
          `the fleet lock on node ${f.name} (${f.file.location}) is stale: held by ${who}, but ${stale}; nothing was changed`,
          [
            "make sure that run is really gone (no pbx-cutover working on this fleet anywhere), then run again with --take-over-stale-lock",
            `${f.file.howToRead} shows the holder`,
          ],
        );
      await f.file.replace(text());
      if (parseFleetHolder(await f.file.read())?.token !== holder.token)
        throw new EnvironmentError(
          `node ${f.name}: another run took the stale fleet lock ${f.file.location} at the same moment; nothing was changed`,
        );
      taken.push(f);
      takenOver.push({ node: f.name, holder: `${who}; ${stale}` });
    }
  } catch (err) {
    await letGo();
    throw err;
  }
  const timer = setInterval(() => {
    for (const t of taken)
      void renew(t.file, holder.token, text()).catch((err: unknown) =>
        o.onRenewFailed?.(`node ${t.name}: ${err instanceof Error ? err.message : String(err)}`),
      );
  }, RENEW_MS);
  timer.unref();
  let released: Promise<void> | undefined;
  return {
    holder,
    takenOver,
    release() {
      clearInterval(timer);
      released ??= letGo();
      return released;
    },
  };
}

async function removeIfOurs(file: NodeLockFile, token: string): Promise<void> {
  if (parseFleetHolder(await file.read())?.token === token) await file.remove();
}

async function renew(file: NodeLockFile, token: string, text: string): Promise<void> {
  const h = parseFleetHolder(await file.read());
  if (h?.token !== token)
    throw new Error(`the lock ${file.location} is no longer ours (${h ? describeFleetHolder(h) : "gone"})`);
  await file.replace(text);
}
