/**
 * Verified apply of a dispatcher profile on a Target:
 *   lock -> back up the current list -> write the new list atomically -> dispatcher.reload (judged by
 *   its reply; retried through "Ongoing reload" and a briefly unreachable RPC) -> read the file and
 *   the runtime state back and compare both with the profile.
 * On any failure after the write: restore the backup, reload, verify that, and throw
 * ApplyRolledBackError (exit 4) saying what happened. Bad input throws UsageError (exit 2) before
 * anything is touched; a busy lock throws EnvironmentError (exit 3).
 *
 * `verifiedApply` is the one entry point (apply, rollback, migrate and the sim call it); its
 * signature is a contract.
 */
import { readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { ApplyRestoredError, EnvironmentError, UsageError, VerificationError } from "../core/errors.js";
import { diffRuntime, describeDiff, type RuntimeDiff } from "../dispatcher/diff.js";
import { entriesText, parseDispatcherList, DispatcherListError, type DispatcherList } from "../dispatcher/list.js";
import {
  buildProfile,
  isProfileMode,
  listProblems,
  renderProfile,
  type DispatcherProfile,
  type ProfileMode,
} from "../dispatcher/profile.js";
import type { RunEvents } from "../events/run-events.js";
import type { Target } from "../target/target.js";
import { acquireApplyLock, type ApplyLock } from "./apply-lock.js";
import {
  defaultRetryPolicy,
  readRuntime,
  reloadWithRetry,
  type ReloadReport,
  type RetryPolicy,
} from "../kamailio/dispatcher-rpc.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import { ensureDir } from "../files/ensure-dir.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { fileFault } from "../core/errors.js";
import { runtimeBeforeTakeOut, type TakenOut } from "./take-out.js";

export interface ApplyOptions {
  /** who applies, recorded in the lock file (e.g. "pbx-cutover apply --mode new") */
  command?: string;
  /** a lock the caller already holds (migrate holds one across its phases); else taken and released here */
  lock?: ApplyLock;
  retry?: Partial<RetryPolicy>;
  signal?: AbortSignal;
  /** emits one `apply` event per call (ok or restored) */
  events?: RunEvents;
  /**
   * destinations this run disabled with set_state just before (a rollback's take-out): the check
   * against changes behind the tool's back sees them with the flags they had, not as drift
   */
  takenOut?: readonly TakenOut[];
}

export interface ApplyTimings {
  lockMs: number;
  backupMs: number;
  writeMs: number;
  reloadMs: number;
  verifyMs: number;
  totalMs: number;
}

export interface ApplyOutcome {
  ok: true;
  /** the profile label: old | both | new | backup */
  label: string;
  /** false when the file and runtime already matched the profile (no write, no reload) */
  changed: boolean;
  /** the list text that was asked for */
  profileText: string;
  /** the list file as read back after the apply (equals profileText) */
  appliedText: string;
  /** the list before the apply (saved as the rollback point) */
  previousText: string | undefined;
  /** Kamailio's destinations before the apply */
  runtimeBefore: RuntimeDestination[];
  reload: ReloadReport | undefined;
  /** Kamailio's destinations after the apply (verified against the profile) */
  runtime: RuntimeDestination[];
  diff: RuntimeDiff;
  timings: ApplyTimings;
}

export interface ApplyFailure {
  label: string;
  stage: "reload" | "verify" | "interrupted";
  reason: string;
  reload: ReloadReport | undefined;
  runtime: RuntimeDestination[] | undefined;
  restore: {
    reload: ReloadReport | undefined;
    runtime: RuntimeDestination[] | undefined;
    verified: boolean;
    detail: string;
  };
  timings: ApplyTimings;
}

/** The apply failed and the previous list was restored and verified at runtime. Exit 4. */
export class ApplyRolledBackError extends ApplyRestoredError {
  constructor(readonly failure: ApplyFailure) {
    super(
      `applying profile ${failure.label} failed at ${failure.stage}: ${failure.reason}; ` +
        `the previous dispatcher list was restored and verified at runtime (${failure.restore.detail})`,
      [
        ...(failure.runtime ? [`runtime after the failed apply: ${uris(failure.runtime)}`] : []),
        `runtime now: ${uris(failure.restore.runtime ?? [])}`,
      ],
    );
  }
}

const uris = (r: readonly RuntimeDestination[]): string =>
  r.length === 0 ? "(empty)" : r.map((d) => `${d.uri} [set ${d.setId}, ${d.flags}]`).join(", ");

/** Where a target's rollback point lives: next to its lock file. */
export function backupPaths(target: Target): { dir: string; previous: string; inFlight: string } {
  const dir = path.join(path.dirname(target.lockPath), "dispatcher-backups");
  return { dir, previous: path.join(dir, "previous.list"), inFlight: path.join(dir, "in-flight.list") };
}

/** Save a list as a rollback point (flushed before the rename). */
export function writeBackup(file: string, text: string): void {
  try {
    ensureDir(path.dirname(file));
  } catch (err) {
    throw fileFault(err, path.dirname(file), "create the backup directory");
  }
  writeFileAtomic(file, text, { mode: FileMode.public, fsync: true });
}

/** The saved rollback point: an in-flight backup left by a crashed apply wins over the last one. */
export function readRollbackPoint(target: Target): { text: string; file: string } | undefined {
  const b = backupPaths(target);
  for (const file of [b.inFlight, b.previous]) {
    try {
      return { text: readFileSync(file, "utf8"), file };
    } catch {
      /* not there */
    }
  }
  return undefined;
}

/**
 * Turn a mode into the target's profile, or check a given list (a saved rollback point) with the
 * same rules: the target's set, its SIP policy, no endpoint twice. UsageError (exit 2) before
 * anything is touched.
 */
export function profileFor(target: Target, desired: ProfileMode | DispatcherProfile): DispatcherProfile {
  if (typeof desired !== "string") {
    const problems = listProblems(desired.list, target.setId, target.sipPolicy);
    if (problems.length > 0) {
      const what = desired.source ?? `profile ${desired.label}`;
      throw new UsageError(
        `${what} is not a list pbx-cutover would apply: ${problems.join("; ")}; nothing was changed`,
        ["check who changed it; `pbx-cutover apply --mode old|both|new` applies a profile explicitly"],
      );
    }
    return desired;
  }
  if (!isProfileMode(desired))
    throw new UsageError(`unknown dispatcher mode ${JSON.stringify(desired)}; use old, both or new`);
  return buildProfile(
    desired,
    {
      setId: target.setId,
      oldUri: target.backends.old.uri,
      newUri: target.backends.new.uri,
      policy: target.sipPolicy,
      ...(target.asWritten ? { asWritten: target.asWritten } : {}),
    },
    target.dispatcherAlgorithm,
  );
}

/** A saved list as a profile; UsageError when it is not a list Kamailio would accept (profileFor checks the rest). */
export function profileFromText(label: string, text: string, source: string): DispatcherProfile {
  try {
    return { label, list: parseDispatcherList(text, source), source };
  } catch (err) {
    if (err instanceof DispatcherListError) throw new UsageError(`${err.message}; nothing was changed`);
    throw err;
  }
}

/** What one apply knows as it goes: the profile, the state before, the timings, the clock. */
interface ApplyRun {
  target: Target;
  profile: DispatcherProfile;
  profileText: string;
  policy: RetryPolicy;
  opts: ApplyOptions;
  timings: ApplyTimings;
  t0: number;
  emit: (ok: boolean, runtime: readonly RuntimeDestination[]) => void;
}

export async function verifiedApply(
  target: Target,
  desired: ProfileMode | DispatcherProfile,
  opts: ApplyOptions = {},
): Promise<ApplyOutcome> {
  const t0 = performance.now();
  const profile = profileFor(target, desired);
  const timings: ApplyTimings = { lockMs: 0, backupMs: 0, writeMs: 0, reloadMs: 0, verifyMs: 0, totalMs: 0 };
  const run: ApplyRun = {
    target,
    profile,
    profileText: renderProfile(profile),
    policy: { ...defaultRetryPolicy, ...opts.retry },
    opts,
    timings,
    t0,
    emit: (ok, runtime) =>
      opts.events?.emit({
        kind: "apply",
        at: Date.now(),
        label: profile.label,
        ...(isProfileMode(profile.label) ? { mode: profile.label } : {}),
        ok,
        durationMs: timings.totalMs,
        runtime: runtime.map((d) => d.uri),
      }),
  };
  const lock = opts.lock ?? acquireApplyLock(target.lockPath, opts.command ?? `pbx-cutover apply ${profile.label}`);
  timings.lockMs = performance.now() - t0;
  try {
    // 1. back up: the list file and what runs now (an unreachable Kamailio stops us here, untouched)
    const t = performance.now();
    const { previousText, runtimeBefore } = await readBefore(run);
    if (sameList(target, previousText, run.profileText) && diffRuntime(profile.list, runtimeBefore).ok) {
      // file and runtime already hold the profile: nothing to do
      const diff = diffRuntime(profile.list, runtimeBefore);
      timings.verifyMs = performance.now() - t;
      timings.totalMs = performance.now() - t0;
      run.emit(true, runtimeBefore);
      return {
        ok: true,
        label: profile.label,
        changed: false,
        profileText: run.profileText,
        appliedText: run.profileText,
        previousText,
        runtimeBefore,
        reload: undefined,
        runtime: runtimeBefore,
        diff,
        timings,
      };
    }
    const backups = backupPaths(target);
    if (previousText !== undefined) writeBackup(backups.inFlight, previousText);
    timings.backupMs = performance.now() - t;

    // 2. write, 3. reload, 4. verify; any failure restores
    const attempt = await writeReloadVerify(run);
    if (attempt.ok) {
      if (previousText !== undefined) renameSync(backups.inFlight, backups.previous);
      timings.totalMs = performance.now() - t0;
      run.emit(true, attempt.runtime);
      return {
        ok: true,
        label: profile.label,
        changed: true,
        profileText: run.profileText,
        appliedText: attempt.appliedText ?? run.profileText,
        previousText,
        runtimeBefore,
        reload: attempt.reload,
        runtime: attempt.runtime,
        diff: attempt.diff,
        timings,
      };
    }
    return await restoreAndThrow(run, previousText, attempt);
  } finally {
    if (!opts.lock) lock.release();
  }
}

/** The list as stored and the runtime before anything is written; a target's own pre-write check runs here. */
async function readBefore(
  run: ApplyRun,
): Promise<{ previousText: string | undefined; runtimeBefore: RuntimeDestination[] }> {
  const { target, profile, policy, opts } = run;
  const [previousText, runtimeBefore] = await Promise.all([
    readCurrent(target),
    readRuntime(target.rpc, policy, opts.signal).catch((err: unknown) => {
      if (opts.signal?.aborted) throw err;
      throw new EnvironmentError(
        `cannot read Kamailio's dispatcher state before applying profile ${profile.label}: ${err instanceof Error ? err.message : String(err)}; nothing was changed`,
        ["is Kamailio running? (pbx-cutover lab status / lab up)"],
      );
    }),
  ]);
  // a target that refuses lists it did not write (drift, foreign destinations) says so before any write
  target.checkBeforeWrite?.(
    previousText,
    opts.takenOut ? runtimeBeforeTakeOut(runtimeBefore, opts.takenOut) : runtimeBefore,
  );
  return { previousText, runtimeBefore };
}

type Attempt =
  | {
      ok: true;
      reload: ReloadReport;
      runtime: RuntimeDestination[];
      appliedText: string | undefined;
      diff: RuntimeDiff;
    }
  | {
      ok: false;
      failure: { stage: ApplyFailure["stage"]; reason: string };
      reload: ReloadReport | undefined;
      runtime: RuntimeDestination[] | undefined;
      interrupted: Error | undefined;
    };

/** Write the list, reload, read file and runtime back: the first thing that goes wrong is the failure. */
async function writeReloadVerify(run: ApplyRun): Promise<Attempt> {
  const { target, profile, profileText, policy, opts, timings } = run;
  let reload: ReloadReport | undefined;
  let runtime: RuntimeDestination[] | undefined;
  const failed = (stage: ApplyFailure["stage"], reason: string, interrupted?: Error): Attempt => ({
    ok: false,
    failure: { stage, reason },
    reload,
    runtime,
    interrupted,
  });
  try {
    let t = performance.now();
    opts.signal?.throwIfAborted();
    await target.dispatcherList.writeAtomic(profileText);
    timings.writeMs = performance.now() - t;
    t = performance.now();
    reload = await reloadWithRetry(target.rpc, policy, opts.signal);
    timings.reloadMs = performance.now() - t;
    if (!reload.ok) return failed("reload", `dispatcher.reload was not accepted: ${reload.reply}`);
    t = performance.now();
    const [appliedText, rt] = await Promise.all([readCurrent(target), readRuntime(target.rpc, policy, opts.signal)]);
    runtime = rt;
    const diff = diffRuntime(profile.list, runtime);
    timings.verifyMs = performance.now() - t;
    if (!sameList(target, appliedText, profileText)) {
      return failed(
        "verify",
        `the list file changed under us (${target.dispatcherList.location} no longer holds profile ${profile.label})`,
      );
    }
    if (!diff.ok) {
      return failed("verify", `Kamailio's runtime does not match profile ${profile.label}: ${describeDiff(diff)}`);
    }
    return { ok: true, reload, runtime, appliedText, diff };
  } catch (err) {
    if (opts.signal?.aborted) {
      return failed("interrupted", "the run was interrupted", err instanceof Error ? err : new Error(String(err)));
    }
    // whatever went wrong after the write, the previous list goes back first
    return failed(reload?.ok ? "verify" : "reload", err instanceof Error ? err.message : String(err));
  }
}

/** Put the previous list back (never interrupted: it must finish), then say what happened: always throws. */
async function restoreAndThrow(
  run: ApplyRun,
  previousText: string | undefined,
  attempt: Extract<Attempt, { ok: false }>,
): Promise<never> {
  const { target, profile, policy, timings } = run;
  const restore = await restorePrevious(target, previousText, policy, attempt.reload?.ok === true);
  rmSync(backupPaths(target).inFlight, { force: true });
  timings.totalMs = performance.now() - run.t0;
  run.emit(false, restore.runtime ?? []);
  const f: ApplyFailure = {
    label: profile.label,
    ...attempt.failure,
    reload: attempt.reload,
    runtime: attempt.runtime,
    restore,
    timings,
  };
  if (attempt.interrupted !== undefined && restore.verified) throw attempt.interrupted;
  if (!restore.verified) {
    const msg =
      `applying profile ${f.label} failed at ${f.stage}: ${f.reason}; restoring the previous list ` +
      `was NOT verified (${restore.detail}). Check ${target.dispatcherList.location} and Kamailio now`;
    if (restore.reload?.unreachable) throw new EnvironmentError(msg);
    throw new VerificationError(msg);
  }
  throw new ApplyRolledBackError(f);
}

/** Two list texts hold the same list for this target (a table's: the same entries; a file's: the same text). */
export function sameList(target: Target, a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !target.dispatcherList.entriesOnly) return a === b;
  try {
    return entriesText(a) === entriesText(b);
  } catch {
    return false;
  }
}

/** The target's durable list, undefined when there is none. */
export async function readCurrent(target: Target): Promise<string | undefined> {
  try {
    return await target.dispatcherList.read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Put the previous list back and prove it. When the failed apply's reload never got through,
 * Kamailio still runs the previous list: then writing the file back and checking the runtime is
 * enough (no reload, so no wait for reload_delta, and Ctrl-C is answered at once).
 */
export async function restorePrevious(
  target: Target,
  previousText: string | undefined,
  policy: RetryPolicy,
  appliedReloadOk: boolean,
): Promise<ApplyFailure["restore"]> {
  if (previousText === undefined) {
    return {
      reload: undefined,
      runtime: undefined,
      verified: false,
      detail: `there was no list at ${target.dispatcherList.location} before`,
    };
  }
  await target.dispatcherList.writeAtomic(previousText);
  if (!sameList(target, await readCurrent(target), previousText)) {
    return {
      reload: undefined,
      runtime: undefined,
      verified: false,
      detail: `${target.dispatcherList.location} does not read back as the previous list`,
    };
  }
  let expected: DispatcherList | undefined;
  try {
    expected = parseDispatcherList(previousText);
  } catch {
    expected = undefined;
  }
  const readRt = async (): Promise<RuntimeDestination[] | string> => {
    try {
      return await readRuntime(target.rpc, policy);
    } catch (err) {
      return (err as Error).message;
    }
  };
  if (!appliedReloadOk && expected) {
    const before = await readRt();
    if (typeof before !== "string" && diffRuntime(expected, before).ok) {
      return {
        reload: undefined,
        runtime: before,
        verified: true,
        detail: "file restored; the runtime never left the previous list",
      };
    }
  }
  const reload = await reloadWithRetry(target.rpc, policy);
  const runtime = await readRt();
  if (typeof runtime === "string") {
    return {
      reload,
      runtime: undefined,
      verified: false,
      detail: `file restored; runtime could not be read: ${runtime}`,
    };
  }
  if (!reload.ok) {
    // a refused reload leaves the runtime as it was; that is fine if it equals the previous list
    if (expected && diffRuntime(expected, runtime).ok) {
      return {
        reload,
        runtime,
        verified: true,
        detail: `file restored; runtime still holds the previous list (${reload.reply})`,
      };
    }
    return { reload, runtime, verified: false, detail: `file restored but reload failed: ${reload.reply}` };
  }
  if (!expected)
    return {
      reload,
      runtime,
      verified: false,
      detail: "file restored and reloaded, but the previous list did not parse, so it cannot be compared",
    };
  const diff = diffRuntime(expected, runtime);
  return diff.ok
    ? { reload, runtime, verified: true, detail: "file restored, reloaded, runtime matches it" }
    : {
        reload,
        runtime,
        verified: false,
        detail: `file restored and reloaded but runtime differs: ${describeDiff(diff)}`,
      };
}
