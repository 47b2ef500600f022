/**
 * Dispatcher profiles (pure): the destinations of one migration state, built from the old and new
 * backend URIs and the set id, rendered to dispatcher.list text.
 *   old  -> old only        both -> old and new        new -> new only
 */
import { UsageError } from "../core/errors.js";
import { entriesOf, makeList, renderDispatcherList, type DispatcherEntry, type DispatcherList } from "./list.js";
import { checkDestination, type SipPolicy } from "../sip/sip-policy.js";
import { sameHostPort, type SipUri } from "../sip/sip-uri.js";
import type { DispatcherAlgorithm } from "./weights.js";

export const PROFILE_MODES = ["old", "both", "new"] as const;
export type ProfileMode = (typeof PROFILE_MODES)[number];

export function isProfileMode(s: string): s is ProfileMode {
  return (PROFILE_MODES as readonly string[]).includes(s);
}

/** Throws UsageError (exit 2) for anything but old|both|new. */
export function parseProfileMode(s: string | undefined, flag = "--mode"): ProfileMode {
  if (s === undefined) throw new UsageError(`${flag} is required: one of ${PROFILE_MODES.join(", ")}`);
  if (!isProfileMode(s)) {
    throw new UsageError(
      `${flag} ${JSON.stringify(s)} is not a dispatcher mode; use one of ${PROFILE_MODES.join(", ")}`,
    );
  }
  return s;
}

export interface ProfileInputs {
  setId: number;
  oldUri: string;
  newUri: string;
  /** the target's SIP policy: both URIs must be IPs inside it */
  policy: SipPolicy;
  /**
   * each backend's line as the operator's list writes it (a production target): its URI spelling,
   * flags, priority and attrs are kept in every profile; a weighted step sets only `weight=`
   */
  asWritten?: Record<"old" | "new", DestinationTemplate>;
}

/** A destination line's fields besides the set id. */
export interface DestinationTemplate {
  uri: string;
  flags: number;
  priority: number;
  attrs: string | undefined;
}

/** `attrs` with its `weight=` set to `weight` (added when absent); unchanged when `weight` is undefined. */
export function withWeightAttr(attrs: string | undefined, weight: number | undefined): string | undefined {
  if (weight === undefined) return attrs;
  const pairs = (attrs ?? "").split(";").filter((p) => p !== "" && p.split("=")[0]!.trim().toLowerCase() !== "weight");
  pairs.push(`weight=${weight}`);
  return pairs.join(";");
}

/** One backend's entry in a profile: the operator's line when the target has one, else `setid uri 0 0`. */
function backendEntry(p: ProfileInputs, role: "old" | "new", weight: number | undefined): DispatcherEntry {
  const w = p.asWritten?.[role];
  const uri = w?.uri ?? (role === "old" ? p.oldUri : p.newUri);
  return {
    setId: p.setId,
    uri,
    flags: w?.flags ?? 0,
    priority: w?.priority ?? 0,
    attrs: withWeightAttr(w?.attrs, weight),
  };
}

/** What an apply should leave in Kamailio: the list text and the destinations it must contain. */
export interface DispatcherProfile {
  /** "old" | "both" | "new", or e.g. "backup" for a rollback to a saved list */
  label: string;
  list: DispatcherList;
  /** where a list that was not built here came from (a saved file), for messages */
  source?: string;
}

function isSetId(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 999_999_999;
}

/** The one message for two URIs that are one endpoint (whatever their spelling). */
export function sameDestinationProblem(a: string, b: string): string {
  return `old and new backends are the same destination (${a} and ${b}); a migration needs two different PBXs`;
}

/**
 * The problems of a profile's inputs (pure): set id, both URIs valid and inside the policy, old and
 * new distinct as endpoints. Empty when they are fine; `canonical` holds the URIs' one spelling.
 */
export function profileInputProblems(p: ProfileInputs): {
  problems: string[];
  canonical: { oldUri: string; newUri: string };
} {
  const problems: string[] = [];
  if (!isSetId(p.setId)) problems.push(`set id ${p.setId} is not a non-negative integer`);
  const oldR = checkDestination(p.policy, p.oldUri);
  const newR = checkDestination(p.policy, p.newUri);
  if (!oldR.ok) problems.push(`old backend: ${oldR.error}`);
  if (!newR.ok) problems.push(`new backend: ${newR.error}`);
  if (oldR.ok && newR.ok && sameHostPort(oldR.uri, newR.uri)) problems.push(sameDestinationProblem(p.oldUri, p.newUri));
  return { problems, canonical: { oldUri: oldR.ok ? oldR.text : p.oldUri, newUri: newR.ok ? newR.text : p.newUri } };
}

/**
 * Validate the inputs of a profile (see profileInputProblems) and return them in canonical form.
 * Throws UsageError naming every problem; nothing has been touched when it does.
 */
export function validateProfileInputs(p: ProfileInputs): ProfileInputs {
  const { problems, canonical } = profileInputProblems(p);
  if (problems.length > 0) {
    throw new UsageError(`invalid dispatcher profile input (${problems[0]}); nothing was changed`, problems.slice(1));
  }
  return { ...p, ...canonical };
}

/**
 * A list that was not built from a mode (a saved rollback point) checked with the rules a profile
 * obeys: every entry in the target's set, every URI inside the policy, no endpoint twice.
 * Returns one problem per offending line ("line 4: ..."); empty when the list is fine.
 */
export function listProblems(list: DispatcherList, setId: number, policy: SipPolicy): string[] {
  const problems: string[] = [];
  const seen: { uri: SipUri; text: string; line: number }[] = [];
  list.lines.forEach((l, i) => {
    if (l.kind !== "entry") return;
    const line = i + 1;
    const e = l.entry;
    if (e.setId !== setId) problems.push(`line ${line}: set ${e.setId} is not this target's dispatcher set (${setId})`);
    const r = checkDestination(policy, e.uri);
    if (!r.ok) {
      problems.push(`line ${line}: ${r.error}`);
      return;
    }
    const twin = seen.find((s) => sameHostPort(s.uri, r.uri));
    if (twin) problems.push(`line ${line}: ${e.uri} is the same destination as ${twin.text} on line ${twin.line}`);
    else seen.push({ uri: r.uri, text: e.uri, line });
  });
  if (entriesOf(list).length === 0) problems.push("it has no destinations (Kamailio would route nothing)");
  return problems;
}

export function profileEntries(
  mode: ProfileMode,
  p: ProfileInputs,
  algorithm: DispatcherAlgorithm = 4,
): DispatcherEntry[] {
  // algorithm 9 reads each destination's weight; without one, every call goes to a single destination
  const weight = mode === "both" && algorithm === 9 ? 50 : undefined;
  switch (mode) {
    case "old":
      return [backendEntry(p, "old", weight)];
    case "both":
      return [backendEntry(p, "old", weight), backendEntry(p, "new", weight)];
    case "new":
      return [backendEntry(p, "new", weight)];
  }
}

/**
 * Build the profile for a mode (validates first). Under the weight-based algorithm (9) `both` is
 * 50/50 by `weight=` attrs; under round-robin (4, the default) it is byte for byte the seed's.
 */
export function buildProfile(
  mode: ProfileMode,
  inputs: ProfileInputs,
  algorithm: DispatcherAlgorithm = 4,
): DispatcherProfile {
  const p = validateProfileInputs(inputs);
  const header = [
    `pbx-cutover profile: ${mode}`,
    `set ${p.setId}: old ${p.oldUri}, new ${p.newUri}`,
    ...(mode === "both" && algorithm === 9
      ? ["dispatcher algorithm 9: of every 100 calls after a reload, 50 to old and 50 to new, shuffled"]
      : []),
    "line format: setid destination flags priority [attrs]",
  ];
  return { label: mode, list: makeList(header, profileEntries(mode, p, algorithm)) };
}

export function renderProfile(profile: DispatcherProfile): string {
  return renderDispatcherList(profile.list);
}

/** The destinations (set id + URI) a list puts into Kamailio, deduplicated, in file order. */
export function destinationsOf(list: DispatcherList): { setId: number; uri: string }[] {
  const seen = new Set<string>();
  const out: { setId: number; uri: string }[] = [];
  for (const e of entriesOf(list)) {
    const k = `${e.setId} ${e.uri}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push({ setId: e.setId, uri: e.uri });
    }
  }
  return out;
}

/** The label of a weighted step's profile, e.g. `new=10%`. */
export function weightLabel(weightNew: number): string {
  return `new=${weightNew}%`;
}

/**
 * The profile for a plan step: the new backend's weight 0-100 under the set's ds_select_dst
 * algorithm (see weights.ts). 0 is profile `old`, 100 is `new` (no weight 0 is ever written: on the
 * destination Kamailio indexes first it would send every call there); with round-robin (4) 50 is
 * `both`, byte for byte; with weight-based (9) 1-99 is both destinations with `weight=` attrs that
 * sum to 100. Any other weight under round-robin is a UsageError (exit 2).
 */
export function buildStepProfile(
  weightNew: number,
  p: ProfileInputs,
  algorithm: DispatcherAlgorithm,
): DispatcherProfile {
  if (!Number.isInteger(weightNew) || weightNew < 0 || weightNew > 100) {
    throw new UsageError(`weight ${weightNew} is not an integer from 0 to 100`);
  }
  if (weightNew === 0) return buildProfile("old", p);
  if (weightNew === 100) return buildProfile("new", p);
  if (algorithm === 4) {
    if (weightNew === 50) return buildProfile("both", p);
    throw new UsageError(
      `weight ${weightNew} needs Kamailio's weight-based dispatcher (algorithm 9); round-robin (4) only splits 0, 50 or 100`,
      ["start the lab with --dispatcher-alg 9, or use steps of 0, 50 and 100"],
    );
  }
  const q = validateProfileInputs(p);
  const header = [
    `pbx-cutover profile: ${weightLabel(weightNew)}`,
    `set ${q.setId}: old ${q.oldUri}, new ${q.newUri}`,
    `dispatcher algorithm 9: of every 100 calls after a reload, ${100 - weightNew} to old and ${weightNew} to new, shuffled`,
    "line format: setid destination flags priority [attrs]",
  ];
  return {
    label: weightLabel(weightNew),
    list: makeList(header, [backendEntry(q, "old", 100 - weightNew), backendEntry(q, "new", weightNew)]),
  };
}
