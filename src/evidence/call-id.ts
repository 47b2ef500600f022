/**
 * Call-ID tagging (pure): every call the tool places carries its run and its burst in its Call-ID,
 * so any evidence source (a SIPp log, HEP, a PBX's event socket) can tell which run, burst and phase a
 * message belongs to, whenever it arrives, and a message of another run or of a stranger is known as such.
 */
import type { RoutingPhase, SimPhase } from "../events/run-events.js";

/** the SIPp bursts of a simulation: one per plan step (its phase), and the in-flight check's three */
export type BurstLabel = RoutingPhase | "precheck" | "long" | "post";
export const BURST_LABELS: readonly BurstLabel[] = ["old", "both", "new", "precheck", "long", "post"];

/** a weighted step's phase: new1 ... new99 */
const WEIGHTED = /^new([1-9][0-9]?)$/;

export function isBurstLabel(s: string): s is BurstLabel {
  return (BURST_LABELS as readonly string[]).includes(s) || WEIGHTED.test(s);
}

export function phaseOfBurst(b: BurstLabel): SimPhase {
  return b === "precheck" || b === "long" || b === "post" ? "inflight" : b;
}

/** Call-IDs are `pbxc-<run id>-<burst>-<call number>-<pid>@<ip>` (SIPp -cid_str). */
export function callIdTag(runId: string, burst: BurstLabel): string {
  return `pbxc-${runId}-${burst}`;
}

export function parseCallId(callId: string): { runId: string; burst: BurstLabel } | undefined {
  const m = /^pbxc-([0-9a-z]+)-([a-z]+[0-9]*)-\d+-\d+@/.exec(callId);
  if (!m || !isBurstLabel(m[2]!)) return undefined;
  return { runId: m[1]!, burst: m[2] };
}
