/**
 * The one place that asks Kamailio what it is doing (effects): the dispatcher's runtime set and mode,
 * and the active dialogs per backend from the dialog profile `backend` (the lab's kamailio.cfg sets it
 * to the destination URI on each initial INVITE). `lab status` (native and docker), the dashboard and
 * the drain read it here; nothing here decides anything. (A verified apply reads the runtime back
 * itself, with retries: `readRuntime` in src/kamailio/dispatcher-rpc.ts, the same parser.)
 */

import type { RpcClient } from "../kamailio/rpc.js";
import { modeOf, parseDispatcherListResult, type RuntimeDestination, type RuntimeMode } from "../dispatcher/runtime.js";
import { parseProfileList, type ActiveDialog } from "./dialogs.js";
import type { BackendRole } from "../core/backend-role.js";

export interface ObservedBackends {
  setId: number;
  uris: Record<BackendRole, string>;
}

export interface RuntimeObservation {
  at: number;
  /** "unavailable" when the RPC did not answer (error says why) */
  mode: RuntimeMode | "unavailable";
  /** the set's destinations at runtime */
  destinations: RuntimeDestination[];
  /** active dialogs per backend (absent when Kamailio could not be asked) */
  active: Partial<Record<BackendRole, number>>;
  error?: string;
}

export interface DispatcherObservation {
  /** "unavailable" when the RPC did not answer (error says why) */
  mode: RuntimeMode | "unavailable";
  /** the set's destinations at runtime */
  destinations: RuntimeDestination[];
  error?: string;
}

/** One look at the dispatcher: the set's runtime destinations and the mode they make. Never throws. */
export async function observeDispatcher(rpc: RpcClient, b: ObservedBackends): Promise<DispatcherObservation> {
  try {
    const dests = parseDispatcherListResult(await rpc.call("dispatcher.list"));
    return {
      mode: modeOf(dests, b.setId, b.uris.old, b.uris.new),
      destinations: dests.filter((d) => d.setId === b.setId),
    };
  } catch (err) {
    return { mode: "unavailable", destinations: [], error: err instanceof Error ? err.message : String(err) };
  }
}

/** One look: dispatcher set and mode, then the active dialogs of each backend. Never throws. */
export async function observeRuntime(rpc: RpcClient, b: ObservedBackends): Promise<RuntimeObservation> {
  const at = Date.now();
  const d = await observeDispatcher(rpc, b);
  const obs: RuntimeObservation = { at, ...d, active: {} };
  if (d.error !== undefined) return obs;
  try {
    for (const role of ["old", "new"] as const) {
      const n = Number(await rpc.call("dlg.profile_get_size", ["backend", b.uris[role]]));
      if (Number.isFinite(n)) obs.active[role] = n;
    }
  } catch (err) {
    obs.error = err instanceof Error ? err.message : String(err);
  }
  return obs;
}

/** The dispatcher as `lab status` shows it (native and docker): the mode and each destination with its state flags, or why not. */
export interface DispatcherView {
  mode: RuntimeMode | "unavailable";
  destinations: string[];
  error?: string;
}

export function dispatcherView(o: DispatcherObservation): DispatcherView {
  if (o.error !== undefined) return { mode: "unavailable", destinations: [], error: o.error };
  return { mode: o.mode, destinations: o.destinations.map((d) => `${d.uri} (${d.flags})`) };
}

/** The dialogs up on one backend (dlg.profile_list). Throws the RPC's error; a reply of another shape is an Error naming it. */
export async function activeDialogs(rpc: RpcClient, backendUri: string, profile = "backend"): Promise<ActiveDialog[]> {
  const result = await rpc.call("dlg.profile_list", [profile, backendUri]);
  const dialogs = parseProfileList(result);
  if (dialogs === undefined)
    throw new Error(
      `dlg.profile_list ${profile} ${backendUri}: not a list of dialogs (${JSON.stringify(result).slice(0, 120)})`,
    );
  return dialogs;
}
