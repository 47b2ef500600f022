/**
 * apply and rollback on a fleet (a target file naming several nodes): one step on every node, all or
 * nothing (src/fleet/fleet-apply.ts), the per-node table and the skew printed (or the JSON).
 */
import { profileFor, profileFromText, readRollbackPoint, backupPaths } from "../apply/apply.js";
import { EnvironmentError, UsageError } from "../core/errors.js";
import { withScope } from "../core/scope.js";
import { checkDestinations, destinationName } from "../cutover/destination-check.js";
import { probeBackend } from "../cutover/migrate.js";
import type { DispatcherProfile, ProfileMode } from "../dispatcher/profile.js";
import {
  fleetApply,
  FleetRestoredError,
  FleetSplitError,
  stepLabelOf,
  type FleetMember,
} from "../fleet/fleet-apply.js";
import { fleetJson, formatFleetOutcome } from "../fleet/fleet-report.js";
import { acquireFleetLock, type FleetLock } from "../fleet/fleet-lock.js";
import type { TargetChoice } from "../drivers/driver.js";
import { driverFor } from "../drivers/select.js";

/** the flag that takes over a stale fleet lock (apply, rollback, migrate) */
export const TAKE_OVER_FLAG = "--take-over-stale-lock";
export const TAKE_OVER_HELP =
  "on a fleet: take over a stale fleet lock (its holder gone: its pid dead on this host, or not renewed for 30 s); a live holder is never taken over";

/**
 * The fleet lock on every node for the command's run (src/fleet/fleet-lock.ts): exit 3 naming the
 * holder when another run holds it (or it is stale and not taken over).
 */
export async function takeFleetLock(
  members: readonly FleetMember[],
  choice: TargetChoice,
  o: { command: string; takeOverStale: boolean; log: (line: string) => void },
): Promise<FleetLock> {
  const lock = await acquireFleetLock(members, {
    fleet: driverFor(choice).where,
    command: o.command,
    takeOverStale: o.takeOverStale,
    onRenewFailed: (why) => o.log(`fleet lock: not renewed: ${why}`),
  });
  for (const t of lock.takenOver) o.log(`fleet lock: took over node ${t.node}'s stale lock (${t.holder})`);
  o.log(
    `fleet lock: held on ${members.length} nodes (${[...new Set(members.map((m) => m.target.fleetLock?.location))].join(", ")}) by pid ${lock.holder.pid} on ${lock.holder.host}`,
  );
  return lock;
}

export interface FleetCommandOptions {
  json: boolean;
  reloadWaitMs: number;
  choice: TargetChoice;
  takeOverStale: boolean;
}

async function runOnFleet(
  members: FleetMember[],
  desired: ProfileMode | DispatcherProfile,
  o: FleetCommandOptions & { command: string; verb: string },
): Promise<void> {
  try {
    const outcome = await withScope(async (scope) => {
      const lock = await takeFleetLock(members, o.choice, {
        command: o.command,
        takeOverStale: o.takeOverStale,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      scope.defer("fleet lock", () => lock.release());
      return fleetApply(members, desired, {
        command: o.command,
        retry: { reloadWaitMs: o.reloadWaitMs },
        signal: scope.signal,
      });
    });
    const { details: _d, timings: _t, ...table } = outcome;
    process.stdout.write((o.json ? fleetJson(table) : formatFleetOutcome(o.verb, table)) + "\n");
  } catch (err) {
    if (o.json && (err instanceof FleetRestoredError || err instanceof FleetSplitError))
      process.stdout.write(fleetJson({ ok: false, ...err.failure }) + "\n");
    throw err;
  }
}

/** `apply --mode M --target FLEET`: new destinations must answer first (exit 3 otherwise, nothing changed). */
export async function applyOnFleet(members: FleetMember[], mode: ProfileMode, o: FleetCommandOptions): Promise<void> {
  const profile = profileFor(members[0]!.target, mode);
  if (mode !== "old") {
    const answers = await checkDestinations(members[0]!.target, 100, probeBackend);
    if (!answers.ok)
      throw new EnvironmentError(
        `${answers.down.map(destinationName).join(" and ")} does not answer; --mode ${mode} would send calls to it; nothing was changed`,
        answers.lines,
      );
  }
  await runOnFleet(members, profile, { command: `pbx-cutover apply --mode ${mode} (fleet)`, verb: "applied", ...o });
}

/** `rollback --target FLEET`: every node's saved list must be the same step. */
export async function rollbackOnFleet(members: FleetMember[], o: FleetCommandOptions): Promise<void> {
  const points = members.map((m) => ({ m, point: readRollbackPoint(m.target) }));
  const missing = points.filter((p) => p.point === undefined);
  if (missing.length > 0)
    throw new UsageError(
      `nothing to roll back to on node ${missing.map((p) => p.m.name).join(", ")}: no previous dispatcher list recorded; nothing was changed`,
      missing.map((p) => `node ${p.m.name}: ${backupPaths(p.m.target).previous}`),
    );
  const texts = new Set(points.map((p) => p.point!.text));
  if (texts.size > 1)
    throw new UsageError(
      "the fleet's nodes saved different lists to roll back to; nothing was changed",
      points.map((p) => `node ${p.m.name}: ${stepLabelOf(p.point!.text)} (${p.point!.file})`),
    );
  const first = points[0]!.point!;
  const profile = profileFromText(stepLabelOf(first.text), first.text, first.file);
  await runOnFleet(members, profile, { command: "pbx-cutover rollback (fleet)", verb: "rolled back to", ...o });
}
