/**
 * One step on a fleet of Kamailio nodes, all or nothing:
 *   lock every node -> check every node (reachable, runtime == its list, the same current step; a
 *   shared table read once for its nodes) ->
 *   back up and write each durable list (nodes sharing a database table: the table once, in one
 *   transaction) -> reload each (in parallel) -> read every list and runtime back.
 * Nothing is written until every node passed the check. If any node fails after the first write
 * (a write, a reload, a read-back), every node is put back on the last good step with the verified
 * restore of a single apply (write the previous list, reload unless the runtime never left it, read
 * back) and the error says per node what happened (exit 4). Nodes end on different steps only if a
 * node could not be restored (unreachable during the restore itself): FleetSplitError (exit 4)
 * names each node and what it routes by.
 * The skew of a step is the window in which the fleet was mixed: from the first node's accepted
 * reload to the last's (their replies), each confirmed by the read-back.
 */
import { rmSync, renameSync } from "node:fs";
import { ApplyRestoredError, EnvironmentError, UsageError } from "../core/errors.js";
import { diffRuntime, describeDiff } from "../dispatcher/diff.js";
import { entriesOf, parseDispatcherList } from "../dispatcher/list.js";
import { renderProfile, type DispatcherProfile, type ProfileMode } from "../dispatcher/profile.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import { defaultRetryPolicy, readRuntime, reloadWithRetry, type RetryPolicy } from "../kamailio/dispatcher-rpc.js";
import type { Target } from "../target/target.js";
import { acquireApplyLock, type ApplyLock } from "../apply/apply-lock.js";
import { backupPaths, profileFor, readCurrent, restorePrevious, sameList, writeBackup } from "../apply/apply.js";
import { runtimeBeforeTakeOut, type TakenOut } from "../apply/take-out.js";
import { DriftError } from "../target/list-guard.js";
import {
  computeSkew,
  routingLines,
  type FleetFailure,
  type FleetOutcome,
  type FleetStage,
  type NodeStep,
} from "./fleet-report.js";

/** One node of a fleet: its name in the target file and its Target. */
export interface FleetMember {
  name: string;
  target: Target;
}

/** The step failed on a node and every node was put back on the last good step (verified). Exit 4. */
export class FleetRestoredError extends ApplyRestoredError {
  constructor(readonly failure: FleetFailure) {
    super(
      `applying ${failure.label} to the fleet failed on node ${failure.cause.node} at ${failure.cause.stage}: ${failure.cause.reason}; every node was put back on ${failure.previousLabel} and verified at runtime`,
      routingLines(failure.nodes),
    );
  }
}

/** The step failed and at least one node could not be restored: the fleet is on different steps. Exit 4. */
export class FleetSplitError extends ApplyRestoredError {
  constructor(readonly failure: FleetFailure) {
    const stray = failure.nodes.filter((n) => n.restore?.verified !== true).map((n) => n.name);
    super(
      `FLEET ON DIFFERENT STEPS: applying ${failure.label} failed on node ${failure.cause.node} at ${failure.cause.stage}: ${failure.cause.reason}; node ${stray.join(", ")} could NOT be put back on ${failure.previousLabel}. Check each node now`,
      routingLines(failure.nodes),
    );
  }
}

export interface FleetApplyOptions {
  command?: string;
  /** every node's apply lock, held by the caller (a migrate holds them for its whole run); else taken and released here */
  locks?: readonly ApplyLock[];
  /**
   * per node (by name): destinations this run disabled with set_state just before (a rollback's
   * take-out), seen by the drift check with the flags they had
   */
  takenOut?: ReadonlyMap<string, readonly TakenOut[]>;
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
  /** awaited after every list is written and before any reload */
  afterWrite?: () => Promise<void>;
  /**
   * the step the fleet is on, as the caller applied it: named in a failure where the list does not
   * say (a table keeps no comment); else the list's own `# pbx-cutover profile:` line names it
   */
  currentLabel?: string;
}

const uris = (r: readonly RuntimeDestination[]): string[] => r.map((d) => d.uri);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** "# pbx-cutover profile: both" in a list names the step it was. */
export function stepLabelOf(text: string | undefined): string {
  return (text && /^#\s*pbx-cutover profile:\s*(\S+)/m.exec(text)?.[1]) ?? "the list before";
}

/** A list's destinations as one comparable string (comments and spacing ignored); the text when it does not parse. */
function entriesKey(text: string | undefined): string {
  try {
    return JSON.stringify(entriesOf(parseDispatcherList(text ?? "")));
  } catch {
    return `unparsed:${text ?? ""}`;
  }
}

/**
 * Who drifted, for the headline (and results.json's error): the nodes; when every node sharing one
 * table drifted, the table they share is what differs from every runtime.
 */
export function driftWho(drifting: readonly FleetMember[], members: readonly FleetMember[]): string {
  const names = drifting.map((m) => m.name).join(", ");
  const shared = new Set(members.map((m) => m.target.dispatcherList.sharedKey));
  const table = members[0]!.target.dispatcherList.sharedKey;
  if (members.length > 1 && drifting.length === members.length && shared.size === 1 && table !== undefined)
    return `drift on every node, ${names}: each one's runtime differs from ${table}, which they share; the table (or every runtime) was changed behind the tool's back`;
  return `drift on node ${names}`;
}

/**
 * readCurrent for nodes that may share a store: a shared table is read once per call of the
 * returned function's caller (one snapshot, one psql connection), a node's own list each time.
 */
function storeReader(): (m: FleetMember) => Promise<string | undefined> {
  const once = new Map<string, Promise<string | undefined>>();
  return (m) => {
    const key = m.target.dispatcherList.sharedKey;
    if (key === undefined) return readCurrent(m.target);
    let read = once.get(key);
    if (read === undefined) {
      read = readCurrent(m.target);
      once.set(key, read);
    }
    return read;
  };
}

interface Checked {
  member: FleetMember;
  previousText: string | undefined;
  runtimeBefore: RuntimeDestination[];
}

/**
 * Read every node (in parallel) and refuse before anything is written: a node that does not answer
 * (exit 3), drift or a list the tool does not work on (the node's own check: exit 4 / 2), nodes
 * whose lists hold different steps (exit 4).
 */
async function checkFleet(
  members: readonly FleetMember[],
  label: string,
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  takenOut: FleetApplyOptions["takenOut"],
): Promise<Checked[]> {
  const readList = storeReader();
  const read = await Promise.all(
    members.map(async (member) => {
      try {
        const [previousText, runtimeBefore] = await Promise.all([
          readList(member),
          readRuntime(member.target.rpc, policy, signal),
        ]);
        return { member, previousText, runtimeBefore };
      } catch (err) {
        if (signal?.aborted) throw err;
        return `node ${member.name}: ${message(err)}`;
      }
    }),
  );
  const unreachable = read.filter((r): r is string => typeof r === "string");
  if (unreachable.length > 0)
    throw new EnvironmentError(
      `cannot read every node of the fleet before applying ${label}; nothing was written on any node`,
      unreachable,
    );
  const checked = read as Checked[];
  const drift: string[] = [];
  const drifting: FleetMember[] = [];
  for (const c of checked) {
    try {
      const taken = takenOut?.get(c.member.name);
      c.member.target.checkBeforeWrite?.(
        c.previousText,
        taken ? runtimeBeforeTakeOut(c.runtimeBefore, taken) : c.runtimeBefore,
      );
    } catch (err) {
      if (!(err instanceof DriftError)) throw err;
      drifting.push(c.member);
      drift.push(err.message, ...err.details.map((d) => `  ${d}`));
    }
  }
  if (drift.length > 0)
    throw new DriftError(
      `drift on the fleet before applying ${label}: nothing was written on any node (${driftWho(drifting, members)})`,
      drift,
    );
  const keys = new Set(checked.map((c) => entriesKey(c.previousText)));
  if (keys.size > 1)
    throw new DriftError(
      `the fleet's nodes are not on the same step before applying ${label}; nothing was written on any node`,
      checked.map(
        (c) =>
          `node ${c.member.name}: ${stepLabelOf(c.previousText)} (${c.member.target.dispatcherList.location}), routing ${uris(c.runtimeBefore).join(", ") || "(empty)"}`,
      ),
    );
  return checked;
}

/** What each node held and holds, for a caller that records a step (migrate): not part of the table or --json. */
export interface FleetNodeDetail {
  name: string;
  previousText: string | undefined;
  runtimeBefore: RuntimeDestination[];
  appliedText: string;
  runtime: RuntimeDestination[];
}

/** Stage durations of a fleet step (ms), each the slowest node's: the verified apply's timings. */
export interface FleetTimings {
  lockMs: number;
  backupMs: number;
  writeMs: number;
  reloadMs: number;
  verifyMs: number;
  totalMs: number;
}

type FailNode = (i: number, stage: FleetStage, reason: string) => void;

/**
 * The fleet's nodes grouped by where their durable list lives: a node each for lists per node, every
 * node in one group when they share a database table (written once, in one transaction).
 */
function byStore(members: readonly FleetMember[]): number[][] {
  const groups = new Map<string, number[]>();
  members.forEach((m, i) => {
    const at = m.target.dispatcherList.sharedKey ?? `node ${i}`;
    groups.set(at, [...(groups.get(at) ?? []), i]);
  });
  return [...groups.values()];
}

async function writeEvery(
  members: readonly FleetMember[],
  texts: readonly string[],
  fail: FailNode,
  interrupted: () => boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  await Promise.all(
    byStore(members).map(async (group) => {
      const first = group[0]!;
      try {
        signal?.throwIfAborted();
        await members[first]!.target.dispatcherList.writeAtomic(texts[first]!);
      } catch (err) {
        for (const i of group) fail(i, "write", interrupted() ? "the run was interrupted" : message(err));
      }
    }),
  );
}

async function reloadEvery(
  members: readonly FleetMember[],
  steps: NodeStep[],
  policy: RetryPolicy,
  fail: FailNode,
  interrupted: () => boolean,
  signal: AbortSignal | undefined,
): Promise<void> {
  await Promise.all(
    members.map(async (m, i) => {
      try {
        const started = Date.now();
        const reload = await reloadWithRetry(m.target.rpc, policy, signal);
        const at = started + reload.durationMs;
        Object.assign(steps[i]!, { reload, reloadSentAt: at - reload.lastAttemptMs, routingAt: at });
        if (!reload.ok) fail(i, "reload", `dispatcher.reload was not accepted: ${reload.reply}`);
      } catch (err) {
        fail(i, "reload", interrupted() ? "the run was interrupted" : message(err));
      }
    }),
  );
}

async function verifyEvery(v: {
  members: readonly FleetMember[];
  steps: NodeStep[];
  details: FleetNodeDetail[];
  profiles: readonly DispatcherProfile[];
  texts: readonly string[];
  label: string;
  policy: RetryPolicy;
  fail: FailNode;
  interrupted: () => boolean;
  signal: AbortSignal | undefined;
}): Promise<void> {
  const { steps, details, profiles, texts, label, policy, fail } = v;
  const readList = storeReader();
  await Promise.all(
    v.members.map(async (m, i) => {
      try {
        const [text, runtime] = await Promise.all([readList(m), readRuntime(m.target.rpc, policy, v.signal)]);
        steps[i]!.runtime = uris(runtime);
        details[i]!.runtime = runtime;
        const diff = diffRuntime(profiles[i]!.list, runtime);
        if (!sameList(m.target, text, texts[i]))
          fail(i, "verify", `the list changed under us (${m.target.dispatcherList.location})`);
        else if (!diff.ok) fail(i, "verify", `Kamailio's runtime does not match ${label}: ${describeDiff(diff)}`);
      } catch (err) {
        fail(i, "verify", v.interrupted() ? "the run was interrupted" : message(err));
      }
    }),
  );
}

/** Every node back on the step before, each verified; what happened is written into its step. */
async function restoreFleet(
  checked: readonly Awaited<ReturnType<typeof checkFleet>>[number][],
  steps: NodeStep[],
  policy: RetryPolicy,
  previousLabel: string,
): Promise<void> {
  const restoreOne = async (i: number): Promise<void> => {
    const c = checked[i]!;
    const s = steps[i]!;
    try {
      const r = await restorePrevious(c.member.target, c.previousText, policy, s.reload?.ok === true);
      s.restore = { verified: r.verified, detail: r.detail, runtime: r.runtime ? uris(r.runtime) : undefined };
    } catch (err) {
      s.restore = { verified: false, detail: `restore failed: ${message(err)}`, runtime: undefined };
    }
    s.routing = s.restore.verified ? previousLabel : "unknown";
    if (s.result === "stopped" && s.reload?.ok) s.result = "applied";
    rmSync(backupPaths(c.member.target).inFlight, { force: true });
  };
  // nodes sharing a table in turn (each writes the same rows back: never two transactions on it at once)
  await Promise.all(
    byStore(checked.map((c) => c.member)).map(async (group) => {
      for (const i of group) await restoreOne(i);
    }),
  );
}

/** every node already holds the step, in its list and at runtime */
const alreadyOn = (
  checked: readonly Checked[],
  texts: readonly string[],
  profiles: readonly DispatcherProfile[],
): boolean =>
  checked.every(
    (c, i) => sameList(c.member.target, c.previousText, texts[i]) && diffRuntime(profiles[i]!.list, c.runtimeBefore).ok,
  );

/**
 * Apply one profile to every node of a fleet, all or nothing (see the module's comment). `desired`
 * may be a node's own profile (a rollback to the lists each node had before a plan).
 */
export async function fleetApply(
  members: readonly FleetMember[],
  desired: ProfileMode | DispatcherProfile | ((m: FleetMember) => DispatcherProfile),
  opts: FleetApplyOptions = {},
): Promise<FleetOutcome & { details: FleetNodeDetail[]; timings: FleetTimings }> {
  if (members.length === 0) throw new UsageError("a fleet needs at least one node; nothing was changed");
  const t0 = performance.now();
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...opts.retry };
  const profiles = members.map((m) => profileFor(m.target, typeof desired === "function" ? desired(m) : desired));
  const texts = profiles.map(renderProfile);
  const label = profiles[0]!.label;
  const locks: ApplyLock[] = [];
  const timings: FleetTimings = { lockMs: 0, backupMs: 0, writeMs: 0, reloadMs: 0, verifyMs: 0, totalMs: 0 };
  let mark = t0;
  const lap = (): number => {
    const now = performance.now();
    const d = now - mark;
    mark = now;
    return d;
  };
  try {
    if (opts.locks === undefined)
      for (const m of members)
        locks.push(acquireApplyLock(m.target.lockPath, opts.command ?? `pbx-cutover apply ${label} (fleet)`));
    timings.lockMs = lap();
    const checked = await checkFleet(members, label, policy, opts.signal, opts.takenOut);
    const details: FleetNodeDetail[] = checked.map((c, i) => ({
      name: c.member.name,
      previousText: c.previousText,
      runtimeBefore: c.runtimeBefore,
      appliedText: texts[i]!,
      runtime: c.runtimeBefore,
    }));
    const steps: NodeStep[] = members.map((m) => ({
      name: m.name,
      location: m.target.dispatcherList.location,
      result: "stopped",
      routing: "unknown",
    }));
    if (alreadyOn(checked, texts, profiles)) {
      for (const [i, c] of checked.entries())
        Object.assign(steps[i]!, { result: "unchanged", runtime: uris(c.runtimeBefore), routing: label });
      timings.totalMs = performance.now() - t0;
      timings.verifyMs = lap();
      return {
        ok: true,
        label,
        changed: false,
        nodes: steps,
        skew: undefined,
        totalMs: timings.totalMs,
        details,
        timings,
      };
    }
    const previousLabel = opts.currentLabel ?? stepLabelOf(checked[0]!.previousText);
    for (const c of checked)
      if (c.previousText !== undefined) writeBackup(backupPaths(c.member.target).inFlight, c.previousText);
    timings.backupMs = lap();

    const first: { cause?: FleetFailure["cause"] } = {};
    const fail = (i: number, stage: FleetStage, reason: string): void => {
      Object.assign(steps[i]!, { result: "failed", failedAt: stage, reason });
      first.cause ??= { node: members[i]!.name, stage, reason };
    };
    const interrupted = (): boolean => opts.signal?.aborted === true;

    // write every list
    await writeEvery(members, texts, fail, interrupted, opts.signal);
    timings.writeMs = lap();
    if (first.cause === undefined && opts.afterWrite) await opts.afterWrite();
    lap();

    // reload every node at once
    if (first.cause === undefined) await reloadEvery(members, steps, policy, fail, interrupted, opts.signal);

    timings.reloadMs = lap();
    // read every list and runtime back
    if (first.cause === undefined)
      await verifyEvery({
        members,
        steps,
        details,
        profiles,
        texts,
        label,
        policy,
        fail,
        interrupted,
        signal: opts.signal,
      });

    timings.verifyMs = lap();
    if (first.cause === undefined) {
      for (const [i, c] of checked.entries()) {
        const b = backupPaths(c.member.target);
        if (c.previousText !== undefined) renameSync(b.inFlight, b.previous);
        Object.assign(steps[i]!, { result: "applied", routing: label });
      }
      return {
        ok: true,
        label,
        changed: true,
        nodes: steps,
        skew: computeSkew(steps),
        totalMs: (timings.totalMs = performance.now() - t0),
        details,
        timings,
      };
    }

    // put every node back on the last good step (never interrupted: it must finish)
    await restoreFleet(checked, steps, policy, previousLabel);
    const failure: FleetFailure = {
      label,
      previousLabel,
      cause: first.cause,
      nodes: steps,
      consistent: steps.every((s) => s.restore?.verified === true),
    };
    if (!failure.consistent) throw new FleetSplitError(failure);
    if (interrupted()) opts.signal!.throwIfAborted();
    throw new FleetRestoredError(failure);
  } finally {
    for (const l of locks) l.release();
  }
}
