/**
 * Call-ID tagging (pure): every call the tool places carries its run and its burst in its Call-ID,
 * so any evidence source (a SIPp log, HEP, a PBX's event socket) can tell which run, burst and phase a
 * message belongs to, whenever it arrives, and a message of another run or of a stranger is known as such.
 */
import type { RoutingPhase, SimPhase } from "../events/run-events.js";

/**
 * the SIPp bursts of a simulation: one per plan step (its phase; a step held again after inconclusive
 * gates places another burst, `<phase>r<k>`: new10r1), and the in-flight check's three
 */
export type BurstLabel = RoutingPhase | `${RoutingPhase}r${number}` | "precheck" | "long" | "post";
export const BURST_LABELS: readonly BurstLabel[] = ["old", "both", "new", "precheck", "long", "post"];

/** a step's burst: its phase (a weighted step's is new1 ... new99), and which round of the step's hold */
const STEP_BURST = /^(old|both|new|new[1-9][0-9]?)(?:r([1-9][0-9]*))?$/;

export function isBurstLabel(s: string): s is BurstLabel {
  return (BURST_LABELS as readonly string[]).includes(s) || STEP_BURST.test(s);
}

/** The burst of a step's hold: its phase for the first, `<phase>r<k>` for the k-th one after it. */
export function stepBurst(phase: RoutingPhase, round: number): BurstLabel {
  return round === 0 ? phase : `${phase}r${round}`;
}

export function phaseOfBurst(b: BurstLabel): SimPhase {
  if (b === "precheck" || b === "long" || b === "post") return "inflight";
  return STEP_BURST.exec(b)![1] as RoutingPhase;
}

/** Call-IDs are `pbxc-<run id>-<burst>-<call number>-<pid>@<ip>` (SIPp -cid_str). */
export function callIdTag(runId: string, burst: BurstLabel): string {
  return `pbxc-${runId}-${burst}`;
}

export function parseCallId(callId: string): { runId: string; burst: BurstLabel } | undefined {
  const m = /^pbxc-([0-9a-z]+)-([a-z0-9]+)-\d+-\d+@/.exec(callId);
  if (!m || !isBurstLabel(m[2]!)) return undefined;
  return { runId: m[1]!, burst: m[2] };
}
