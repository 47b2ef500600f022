/**
 * Kamailio's dialogs as data (pure): the reply of `dlg.profile_list backend <uri>` (Kamailio 5.6.3,
 * dialog module, the lab's per-backend profile set with `set_dlg_profile("backend", "$du")` on each
 * initial INVITE), and what the drain makes of it.
 *
 * Measured on 5.6.3: each dialog is an object with "call-id", "state" (1 unconfirmed, 2 early,
 * 3 confirmed-not-acked, 4 confirmed, 5 deleted), "start_ts" (epoch seconds when it was answered; 0
 * while it is not) and "init_ts" (when the INVITE came); an ended call leaves the list at once (its BYE
 * deletes it); an unknown profile is the RPC error 404 "Profile not found".
 */
import type { DrainCall } from "../events/run-events.js";

export interface ActiveDialog {
  callId: string;
  state: number;
  /** epoch seconds: answered (start_ts), or the INVITE's time (init_ts) for a call not answered yet */
  sinceS: number;
}

/** The dialogs in a `dlg.profile_list` result; undefined when the shape is not that (another RPC transport). */
export function parseProfileList(result: unknown): ActiveDialog[] | undefined {
  if (!Array.isArray(result)) return undefined;
  const out: ActiveDialog[] = [];
  for (const d of result as unknown[]) {
    if (d === null || typeof d !== "object") return undefined;
    const o = d as Record<string, unknown>;
    const callId = o["call-id"];
    if (typeof callId !== "string") return undefined;
    const state = Number(o["state"]);
    // deleted dialogs (state 5) may linger for a moment in the hash table: not active calls
    if (state === 5) continue;
    const start = Number(o["start_ts"]);
    const init = Number(o["init_ts"]);
    out.push({
      callId,
      state: Number.isFinite(state) ? state : 0,
      sinceS: start > 0 ? start : Number.isFinite(init) ? init : 0,
    });
  }
  return out;
}

/** The calls still up, oldest first, with their age at `nowMs`. */
export function drainCalls(dialogs: readonly ActiveDialog[], nowMs: number): DrainCall[] {
  return dialogs
    .map((d) => ({ callId: d.callId, ageS: d.sinceS > 0 ? Math.max(0, Math.round(nowMs / 1000 - d.sinceS)) : 0 }))
    .sort((a, b) => b.ageS - a.ageS || a.callId.localeCompare(b.callId));
}
