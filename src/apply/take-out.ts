/**
 * Stop the traffic to the new backend at once, before the list can be reloaded: a failed gate's
 * first move. `dispatcher.set_state d` marks a destination disabled in Kamailio's memory; it is not
 * subject to the reload guard (`reload_delta`), takes effect for the next call, and is not undone by
 * Kamailio's own probing (disabled destinations are not pinged). The next accepted reload brings back
 * the file's state, so the rollback's verified apply that follows puts the last good list in place
 * and proves it as usual.
 *
 * It only acts when another destination of the set stays active: disabling new on a list that holds
 * nothing else would leave the set empty, and every call would fail instead of a share of them.
 * Its outcome is data (what was taken out, when the runtime read back without it); it throws only
 * when Kamailio cannot be asked at all.
 */
import { readRuntime, type RetryPolicy, defaultRetryPolicy } from "../kamailio/dispatcher-rpc.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import { runtimeActive as selectable } from "../dispatcher/diff.js";
import { canonicalSipUri, sameHostPort } from "../sip/sip-uri.js";
import type { Target } from "../target/target.js";

/** A destination the take-out disabled, with the state flags it had before (the drift check's view). */
export interface TakenOut {
  setId: number;
  uri: string;
  flagsBefore: string;
}

export type TakeOutResult =
  | {
      ok: true;
      taken: TakenOut[];
      /** epoch ms: the first set_state sent */
      sentAtMs: number;
      /** epoch ms: the runtime read back with new out of selection (traffic stopped) */
      stoppedAtMs: number;
      durationMs: number;
      /** the runtime read back */
      runtime: RuntimeDestination[];
    }
  | { ok: false; reason: string; durationMs: number };

/** The destinations of the target's set that are new's endpoint, and the others, in a runtime (pure). */
export function splitByNew(
  runtime: readonly RuntimeDestination[],
  setId: number,
  newUri: string,
): { neu: RuntimeDestination[]; others: RuntimeDestination[] } {
  const ref = canonicalSipUri(newUri);
  const isNew = (d: RuntimeDestination): boolean => {
    const u = canonicalSipUri(d.uri);
    return ref.ok && u.ok && sameHostPort(u.uri, ref.uri);
  };
  const set = runtime.filter((d) => d.setId === setId);
  return { neu: set.filter(isNew), others: set.filter((d) => !isNew(d)) };
}

/**
 * The runtime as it was before a take-out: the taken destinations with the flags they had (pure).
 * A drift check after a take-out compares this with the durable list, so the tool's own set_state
 * is not mistaken for someone else's change, while any other difference still is.
 */
export function runtimeBeforeTakeOut(
  runtime: readonly RuntimeDestination[],
  taken: readonly TakenOut[],
): RuntimeDestination[] {
  return runtime.map((d) => {
    const t = taken.find((x) => x.setId === d.setId && x.uri === d.uri);
    return t === undefined || selectable(d.flags) ? d : { ...d, flags: t.flagsBefore };
  });
}

/** Disable new's destinations of the target's set in Kamailio's memory and read the runtime back. */
export async function takeNewOutOfSelection(
  target: Target,
  policy: RetryPolicy = defaultRetryPolicy,
): Promise<TakeOutResult> {
  const t0 = performance.now();
  const failed = (reason: string): TakeOutResult => ({ ok: false, reason, durationMs: performance.now() - t0 });
  const before = await readRuntime(target.rpc, policy);
  const { neu, others } = splitByNew(before, target.setId, target.backends.new.uri);
  const live = neu.filter((d) => selectable(d.flags));
  if (live.length === 0) return failed(`new is not in selection in set ${target.setId}`);
  if (!others.some((d) => selectable(d.flags)))
    return failed(
      `no other destination of set ${target.setId} is active: taking new out would leave the set empty, so the calls wait for the reload`,
    );
  const sentAtMs = Date.now();
  for (const d of live) {
    try {
      await target.rpc.call("dispatcher.set_state", ["d", d.setId, d.uri]);
    } catch (err) {
      return failed(`dispatcher.set_state d ${d.setId} ${d.uri}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const runtime = await readRuntime(target.rpc, policy);
  const stoppedAtMs = Date.now();
  const after = splitByNew(runtime, target.setId, target.backends.new.uri);
  const still = after.neu.filter((d) => selectable(d.flags));
  if (still.length > 0)
    return failed(`Kamailio still selects ${still.map((d) => `${d.uri} (${d.flags})`).join(", ")} after set_state`);
  if (!after.others.some((d) => selectable(d.flags)))
    return failed(`no destination of set ${target.setId} is active after set_state`);
  return {
    ok: true,
    taken: live.map((d) => ({ setId: d.setId, uri: d.uri, flagsBefore: d.flags })),
    sentAtMs,
    stoppedAtMs,
    durationMs: performance.now() - t0,
    runtime,
  };
}
