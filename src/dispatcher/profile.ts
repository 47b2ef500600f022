/**
 * Dispatcher profiles (pure): the destinations of one migration state, built from the old and new
 * backend URIs and the set id, rendered to dispatcher.list text.
 *   old  -> old only        both -> old and new        new -> new only
 */
import { UsageError } from "../cli/errors.js";
import { entriesOf, makeList, renderDispatcherList, type DispatcherEntry, type DispatcherList } from "./list.js";
import { parseSipUri, sameHostPort } from "./sip-uri.js";
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
    throw new UsageError(`${flag} ${JSON.stringify(s)} is not a dispatcher mode; use one of ${PROFILE_MODES.join(", ")}`);
  }
  return s;
}

export interface ProfileInputs {
  setId: number;
  oldUri: string;
  newUri: string;
}

/** What an apply should leave in Kamailio: the list text and the destinations it must contain. */
export interface DispatcherProfile {
  /** "old" | "both" | "new", or e.g. "backup" for a rollback to a saved list */
  label: string;
  list: DispatcherList;
}

/**
 * Validate the inputs of a profile: set id, both URIs valid, and old and new distinct.
 * Throws UsageError naming every problem; nothing has been touched when it does.
 */
export function validateProfileInputs(p: ProfileInputs): void {
  const problems: string[] = [];
  if (!Number.isInteger(p.setId) || p.setId < 0 || p.setId > 999_999_999) {
    problems.push(`set id ${p.setId} is not a non-negative integer`);
  }
  const oldR = parseSipUri(p.oldUri);
  const newR = parseSipUri(p.newUri);
  if (!oldR.ok) problems.push(`old backend: ${oldR.error}`);
  if (!newR.ok) problems.push(`new backend: ${newR.error}`);
  if (oldR.ok && newR.ok && sameHostPort(oldR.uri, newR.uri)) {
    problems.push(
      `old and new backends are the same destination (${p.oldUri} and ${p.newUri}); a migration needs two different PBXs`,
    );
  }
  if (problems.length > 0) {
    throw new UsageError("invalid dispatcher profile input; nothing was changed", problems);
  }
}

export function profileEntries(mode: ProfileMode, p: ProfileInputs): DispatcherEntry[] {
  const entry = (uri: string): DispatcherEntry => ({ setId: p.setId, uri, flags: 0, priority: 0, attrs: undefined });
  switch (mode) {
    case "old":
      return [entry(p.oldUri)];
    case "both":
      return [entry(p.oldUri), entry(p.newUri)];
    case "new":
      return [entry(p.newUri)];
  }
}

/** Build the profile for a mode (validates first). */
export function buildProfile(mode: ProfileMode, p: ProfileInputs): DispatcherProfile {
  validateProfileInputs(p);
  const header = [
    `pbx-cutover profile: ${mode}`,
    `set ${p.setId}: old ${p.oldUri}, new ${p.newUri}`,
    "line format: setid destination flags priority [attrs]",
  ];
  return { label: mode, list: makeList(header, profileEntries(mode, p)) };
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
export function buildStepProfile(weightNew: number, p: ProfileInputs, algorithm: DispatcherAlgorithm): DispatcherProfile {
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
  validateProfileInputs(p);
  const entry = (uri: string, weight: number): DispatcherEntry => ({ setId: p.setId, uri, flags: 0, priority: 0, attrs: `weight=${weight}` });
  const header = [
    `pbx-cutover profile: ${weightLabel(weightNew)}`,
    `set ${p.setId}: old ${p.oldUri}, new ${p.newUri}`,
    `dispatcher algorithm 9: of every 100 calls after a reload, ${100 - weightNew} to old and ${weightNew} to new, shuffled`,
    "line format: setid destination flags priority [attrs]",
  ];
  return { label: weightLabel(weightNew), list: makeList(header, [entry(p.oldUri, 100 - weightNew), entry(p.newUri, weightNew)]) };
}
