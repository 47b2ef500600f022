/**
 * The two dispatcher RPCs an apply needs, with bounded retries:
 * - dispatcher.reload: judged by its reply (kamcmd exits 0 even on "500 Ongoing reload"). A reload
 *   within reload_delta of the previous one is refused with 500 "Ongoing reload" and does not reset
 *   Kamailio's timer, so we poll with backoff until the delta has passed (bounded). Any other error
 *   reply ("Reload Failed": the file could not be read) is final. An unreachable RPC is retried
 *   with backoff for a short while.
 * - dispatcher.list: read back the runtime state; 500 "No Destination Sets" means empty.
 */
import { delay } from "../core/scope.js";
import { RpcReplyError, RpcUnavailableError, type RpcClient } from "./rpc.js";
import { parseDispatcherListResult, type RuntimeDestination } from "../dispatcher/runtime.js";

export interface RetryPolicy {
  /** keep retrying "Ongoing reload" for this long (Kamailio's reload_delta plus a margin) */
  reloadWaitMs: number;
  /** keep retrying an unreachable RPC for this long */
  unavailableWaitMs: number;
  /** first backoff step; doubles up to maxBackoffMs */
  firstBackoffMs: number;
  maxBackoffMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  reloadWaitMs: 6000,
  unavailableWaitMs: 3000,
  firstBackoffMs: 25,
  maxBackoffMs: 500,
};

export interface ReloadReport {
  ok: boolean;
  /** Kamailio's reply text (success) or the last error */
  reply: string;
  attempts: number;
  /** how many times Kamailio answered "Ongoing reload" */
  ongoingRefusals: number;
  unavailableRetries: number;
  /** time spent waiting between attempts */
  waitedMs: number;
  /** how long the last attempt (the accepted one, on success) took: request sent -> reply */
  lastAttemptMs: number;
  durationMs: number;
  /** true when the RPC could not be reached at all (the runtime state is then unknown) */
  unreachable: boolean;
}

const ONGOING = /ongoing reload/i;

export async function reloadWithRetry(
  rpc: RpcClient,
  policy: RetryPolicy = defaultRetryPolicy,
  signal?: AbortSignal,
): Promise<ReloadReport> {
  const started = performance.now();
  const r: ReloadReport = {
    ok: false,
    reply: "",
    attempts: 0,
    ongoingRefusals: 0,
    unavailableRetries: 0,
    waitedMs: 0,
    lastAttemptMs: 0,
    durationMs: 0,
    unreachable: false,
  };
  let backoff = policy.firstBackoffMs;
  let firstUnavailableAt: number | undefined;
  for (;;) {
    r.attempts++;
    let retry = false;
    let guard = false;
    const sent = performance.now();
    try {
      const result = await rpc.call("dispatcher.reload");
      r.lastAttemptMs = performance.now() - sent;
      r.ok = true;
      r.reply = typeof result === "string" ? result : JSON.stringify(result);
      r.unreachable = false;
    } catch (err) {
      r.lastAttemptMs = performance.now() - sent;
      if (err instanceof RpcReplyError && ONGOING.test(err.reply)) {
        r.ongoingRefusals++;
        guard = true;
        r.reply = `${err.code} ${err.reply}`;
        r.unreachable = false;
        retry = performance.now() - started < policy.reloadWaitMs;
        if (!retry) r.reply += ` (still refused after ${Math.round(performance.now() - started)} ms of retries)`;
      } else if (err instanceof RpcUnavailableError) {
        r.unavailableRetries++;
        r.reply = err.message;
        r.unreachable = true;
        firstUnavailableAt ??= performance.now();
        retry = performance.now() - firstUnavailableAt < policy.unavailableWaitMs;
      } else if (err instanceof RpcReplyError) {
        r.reply = `${err.code} ${err.reply}`;
      } else {
        throw err;
      }
    }
    if (!retry) break;
    const t0 = performance.now();
    // Kamailio's guard compares whole seconds (time(NULL) - last reload < reload_delta): its answer
    // can only change when the wall clock's second turns, so a retry never sleeps past that moment
    await delay(guard ? Math.min(backoff, untilNextSecondMs(Date.now())) : backoff, signal);
    r.waitedMs += performance.now() - t0;
    backoff = Math.min(backoff * 2, policy.maxBackoffMs);
  }
  r.durationMs = performance.now() - started;
  return r;
}

/** Margin after the wall clock's second turns before a retry through Kamailio's reload guard. */
export const GUARD_MARGIN_MS = 3;

/** Time from `nowMs` (epoch) to just after the next whole second: when "Ongoing reload" may turn into a reload. */
export function untilNextSecondMs(nowMs: number): number {
  return 1000 - (nowMs % 1000) + GUARD_MARGIN_MS;
}

/** Read Kamailio's runtime dispatcher state; retries an unreachable RPC like reload does. */
export async function readRuntime(
  rpc: RpcClient,
  policy: RetryPolicy = defaultRetryPolicy,
  signal?: AbortSignal,
): Promise<RuntimeDestination[]> {
  const started = performance.now();
  let backoff = policy.firstBackoffMs;
  for (;;) {
    try {
      return parseDispatcherListResult(await rpc.call("dispatcher.list"));
    } catch (err) {
      if (err instanceof RpcReplyError && /no destination sets/i.test(err.reply)) return [];
      if (!(err instanceof RpcUnavailableError) || performance.now() - started >= policy.unavailableWaitMs) throw err;
    }
    await delay(backoff, signal);
    backoff = Math.min(backoff * 2, policy.maxBackoffMs);
  }
}
