/**
 * Drain: after the last step sends every new call to new, wait until the old backend holds no more
 * calls, by Kamailio's own dialog profile (`dlg.profile_list backend <old uri>`), showing progress.
 *
 *   --drain-timeout 0 (migrate's default)  one look: drained, or which calls remain (with their age),
 *                                          recorded and reported, not waited for and not a failure
 *   --drain-timeout S                      poll every 0.5 s until none remain (drained) or S seconds
 *                                          passed (timed-out: the run fails naming each call and its age)
 *
 * With a real FreeSWITCH as old (`Target.pbx.old`: a lab of real FreeSWITCH, or a target file's event
 * socket), its own channels (`show channels` over the event socket) must be none too: a call Kamailio's
 * profile no longer holds but FreeSWITCH still does (a lost BYE, a dialog that timed out at the proxy,
 * a call placed on the PBX itself) keeps the drain waiting, and is named. The PBX is asked once per look
 * however many nodes front it (a fleet sums Kamailio's dialogs over its nodes, never the PBX's count).
 * A FreeSWITCH that cannot be asked does not block the drain; the detail says its count is unknown.
 *
 * The pure part (`drainStep`) decides from one look what to report and whether to stop; `waitForDrain`
 * polls, emits `drain` events and returns the result for results.json. Routing is never touched here:
 * the old backend only loses calls as their callers or the PBX hang up.
 */
import { delay } from "../core/scope.js";
import type { DrainCall, DrainState, RunEvents } from "../events/run-events.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { drainCalls } from "./dialogs.js";
import { activeDialogs } from "./runtime.js";
import type { BackendRole } from "../core/backend-role.js";
import type { PbxChannel, PbxChannelSource } from "../target/target.js";

export interface DrainResult {
  backend: BackendRole;
  backendUri: string;
  state: Extract<DrainState, "drained" | "remaining" | "timed-out" | "aborted" | "unavailable">;
  timeoutS: number;
  /** calls up on the backend at the first look */
  initial: number;
  waitedMs: number;
  polls: number;
  /** the calls still up at the end, oldest first */
  remaining: DrainCall[];
  /** Kamailio's dialogs on the backend at the last look (a fleet: summed over its nodes) */
  dialogs?: number;
  /** the old PBX's own channel count at the last look (FreeSWITCH backends only; absent: not asked or no answer) */
  pbxChannels?: number;
  /** the old PBX as it answered the last look (asked once per look, whatever the number of nodes) */
  pbx?: {
    label: string;
    at: string;
    /** null: it could not be asked (the count is unknown) */
    channels: number | null;
    /** its count at the first look (null: unknown) */
    initial: number | null;
    /** the channels it still held, oldest first */
    held: HeldChannel[];
    error?: string;
  };
  /** a fleet: each node's count of the backend's calls at the last look */
  byNode?: Record<string, number>;
  detail: string;
}

export interface DrainProgress {
  startedAt: number;
  polls: number;
  initial: number | undefined;
  lastCount: number | undefined;
  /** the PBX's own channel count at the last look: null asked and no answer, undefined not asked */
  lastPbx?: number | null | undefined;
  lastReportAt: number;
  failures: number;
}

/** A channel the PBX holds, with its age at the look. */
export interface HeldChannel {
  uuid: string;
  name: string;
  ageS: number | undefined;
}

/** What the PBX answered at one look: its channels, or why it could not be asked. */
export interface PbxLook {
  label: string;
  at: string;
  channels: readonly PbxChannel[] | undefined;
  error?: string;
}

/** One look: Kamailio's dialogs on old, and (real FreeSWITCH only, `pbx` absent: not asked) the PBX's own channels. */
export type DrainLook = { ok: true; calls: DrainCall[]; pbx?: PbxLook } | { ok: false; error: string };

export type DrainDecision =
  | {
      kind: "wait";
      progress: DrainProgress;
      report: { state: "started" | "progress"; calls: DrainCall[]; text: string } | undefined;
    }
  | { kind: "done"; progress: DrainProgress; state: DrainResult["state"]; calls: DrainCall[]; detail: string };

/** how often progress is reported while the count stays the same */
export const REPORT_EVERY_MS = 5000;
/** RPC failures in a row before the drain is given up as unavailable */
export const MAX_FAILURES = 3;

export const callList = (calls: readonly DrainCall[], max = 5): string =>
  calls
    .slice(0, max)
    .map((c) => `${c.callId} (up ${c.ageS} s)`)
    .join(", ") + (calls.length > max ? ` and ${calls.length - max} more` : "");

/** The PBX's channels at `now`, oldest first (pure). */
export function heldChannels(channels: readonly PbxChannel[], now: number): HeldChannel[] {
  return channels
    .map((c) => ({
      uuid: c.uuid,
      name: c.name,
      ageS: c.createdS === undefined ? undefined : Math.max(0, Math.floor(now / 1000 - c.createdS)),
    }))
    .sort((a, b) => (b.ageS ?? -1) - (a.ageS ?? -1));
}

export const channelList = (held: readonly HeldChannel[], max = 5): string =>
  held
    .slice(0, max)
    .map((c) => `${c.uuid} ${c.name}${c.ageS === undefined ? "" : ` (up ${c.ageS} s)`}`)
    .join(", ") + (held.length > max ? ` and ${held.length - max} more` : "");

/** One look at the old backend's dialogs -> what to report and whether the drain is over (pure). */
export function drainStep(p: DrainProgress, look: DrainLook, now: number, timeoutMs: number): DrainDecision {
  const polls = p.polls + 1;
  if (!look.ok) {
    const failures = p.failures + 1;
    const progress = { ...p, polls, failures };
    if (failures >= MAX_FAILURES || timeoutMs === 0 || now - p.startedAt >= timeoutMs) {
      return {
        kind: "done",
        progress,
        state: "unavailable",
        calls: [],
        detail: `Kamailio's dialog profile could not be read: ${look.error}`,
      };
    }
    return { kind: "wait", progress, report: undefined };
  }
  const n = look.calls.length;
  const pl = look.pbx;
  const pbx = pl === undefined ? undefined : (pl.channels?.length ?? null);
  // the PBX's own count keeps the drain open only when it answered with channels up
  const pbxUp = pbx ?? 0;
  const up = n + (n === 0 ? pbxUp : 0);
  const first = p.initial === undefined;
  const progress: DrainProgress = { ...p, polls, failures: 0, initial: p.initial ?? up, lastCount: n, lastPbx: pbx };
  const waited = now - p.startedAt;
  const pbxNote =
    pl === undefined
      ? ""
      : pbx === null
        ? `; ${pl.label}'s own channel count unknown (${pl.error ?? "no answer"})`
        : `; ${pl.label} counts ${pbx} channel(s)`;
  const held = pl?.channels ? channelList(heldChannels(pl.channels, now)) : "";
  const pbxHolds = `${pl?.label ?? "the PBX"} (${pl?.at ?? "?"}) still counts ${pbxUp} channel(s) while Kamailio's dialog profile holds none: ${held}`;
  const what = n > 0 ? `${n} call(s) still up on old` : pbxHolds;
  const list = n > 0 ? `: ${callList(look.calls)}${pbxNote}` : "";
  if (up === 0)
    return {
      kind: "done",
      progress,
      state: "drained",
      calls: [],
      detail:
        (first
          ? "no calls on old"
          : `the last of ${progress.initial} call(s) ended after ${(waited / 1000).toFixed(1)} s`) + pbxNote,
    };
  if (timeoutMs === 0)
    return {
      kind: "done",
      progress,
      state: "remaining",
      calls: look.calls,
      detail: `${what}, not waited for (--drain-timeout 0)${list}`,
    };
  if (waited >= timeoutMs)
    return {
      kind: "done",
      progress,
      state: "timed-out",
      calls: look.calls,
      detail: `${what} after ${(timeoutMs / 1000).toFixed(1)} s${list}`,
    };
  const text = n > 0 ? `${n} call(s) up on old: ${callList(look.calls)}${pbxNote}` : pbxHolds;
  if (first)
    return {
      kind: "wait",
      progress: { ...progress, lastReportAt: now },
      report: { state: "started", calls: look.calls, text },
    };
  if (n !== p.lastCount || pbx !== p.lastPbx || now - p.lastReportAt >= REPORT_EVERY_MS)
    return {
      kind: "wait",
      progress: { ...progress, lastReportAt: now },
      report: { state: "progress", calls: look.calls, text },
    };
  return { kind: "wait", progress, report: undefined };
}

export interface DrainOptions {
  rpc: RpcClient;
  backend: BackendRole;
  backendUri: string;
  timeoutMs: number;
  intervalMs?: number;
  /** ends the wait as aborted (Ctrl-C, SIGTERM, the operator's abort) */
  signal: AbortSignal;
  events: RunEvents;
  log(line: string): void;
  /** the backend's PBX when it can list its own channels (FreeSWITCH's event socket): asked once per look */
  pbx?: PbxChannelSource | undefined;
  /** the dialog profile keyed by destination (default "backend", the lab's) */
  profile?: string | undefined;
  /**
   * a fleet: every node's RPC (`rpc` is then unused); the backend's calls are summed over the nodes
   * (a call goes through one node), each node's count kept in the result
   */
  nodes?: readonly { name: string; rpc: RpcClient }[] | undefined;
}

export async function waitForDrain(o: DrainOptions): Promise<DrainResult> {
  const interval = o.intervalMs ?? 500;
  const t0 = Date.now();
  let p: DrainProgress = {
    startedAt: t0,
    polls: 0,
    initial: undefined,
    lastCount: undefined,
    lastReportAt: t0,
    failures: 0,
  };
  const emit = (state: DrainState, calls: DrainCall[], detail: string): void =>
    o.events.emit({ kind: "drain", at: Date.now(), backend: o.backend, state, active: calls.length, calls, detail });
  let last: DrainCall[] = [];
  let byNode: Record<string, number> | undefined;
  let lastPbx: PbxLook | undefined;
  let firstPbx: PbxLook | undefined;
  let lastPbxAt = t0;
  const nodes = o.nodes ?? [{ name: "", rpc: o.rpc }];
  for (;;) {
    let look: DrainLook;
    try {
      const each = await Promise.all(nodes.map((n) => activeDialogs(n.rpc, o.backendUri, o.profile)));
      if (o.nodes) byNode = Object.fromEntries(o.nodes.map((n, i) => [n.name, each[i]!.length]));
      const calls = drainCalls(each.flat(), Date.now());
      look = o.pbx ? { ok: true, calls, pbx: await askPbx(o.pbx) } : { ok: true, calls };
      if (look.pbx) [lastPbx, lastPbxAt, firstPbx] = [look.pbx, Date.now(), firstPbx ?? look.pbx];
      last = calls;
    } catch (err) {
      look = { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    const d = drainStep(p, look, Date.now(), o.timeoutMs);
    p = d.progress;
    const result = (state: DrainResult["state"], calls: DrainCall[], detail: string): DrainResult => ({
      backend: o.backend,
      backendUri: o.backendUri,
      state,
      timeoutS: o.timeoutMs / 1000,
      initial: p.initial ?? 0,
      waitedMs: Date.now() - t0,
      polls: p.polls,
      remaining: calls,
      dialogs: p.lastCount ?? 0,
      ...(typeof p.lastPbx === "number" ? { pbxChannels: p.lastPbx } : {}),
      ...(lastPbx ? { pbx: pbxResult(lastPbx, lastPbxAt, firstPbx!) } : {}),
      ...(byNode ? { byNode } : {}),
      detail: byNode
        ? `${detail} (by node: ${Object.entries(byNode)
            .map(([n, c]) => `${n} ${c}`)
            .join(", ")})`
        : detail,
    });
    if (d.kind === "done") {
      emit(d.state, d.calls, d.detail);
      o.log(`drain: ${d.state === "drained" ? "drained" : d.state}: ${d.detail}`);
      return result(d.state, d.calls, d.detail);
    }
    if (d.report) {
      const text = d.report.text;
      emit(d.report.state, d.report.calls, text);
      o.log(
        `drain: ${d.report.state === "started" ? `waiting up to ${(o.timeoutMs / 1000).toFixed(0)} s for the old backend's calls to end; ` : ""}${text}`,
      );
    }
    try {
      await delay(interval, o.signal);
    } catch {
      const why = (o.signal.reason as Error | undefined)?.message ?? "aborted";
      const detail = `stopped waiting (${why}) with ${last.length} call(s) up on old${last.length ? `: ${callList(last)}` : ""}`;
      emit("aborted", last, detail);
      o.log(`drain: aborted: ${detail}`);
      return result("aborted", last, detail);
    }
  }
}

/** One look at the PBX: its channels, or why it could not be asked (never throws). */
async function askPbx(pbx: PbxChannelSource): Promise<PbxLook> {
  try {
    return { label: pbx.label, at: pbx.at, channels: await pbx.channels() };
  } catch (err) {
    return {
      label: pbx.label,
      at: pbx.at,
      channels: undefined,
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

function pbxResult(l: PbxLook, at: number, first: PbxLook): NonNullable<DrainResult["pbx"]> {
  return {
    label: l.label,
    at: l.at,
    channels: l.channels?.length ?? null,
    initial: first.channels?.length ?? null,
    held: l.channels ? heldChannels(l.channels, at) : [],
    ...(l.error !== undefined ? { error: l.error } : {}),
  };
}
