/**
 * What a production target's list must be before the tool writes it (pure): the runtime equal to the
 * durable list (else drift: someone changed one behind the other's back), every destination of the
 * target's set one the target file names as old or new, and no other set in a list the tool rewrites
 * whole. `target check` reports the same findings; a verified apply refuses on them.
 */
import { ApplyRestoredError, UsageError } from "../core/errors.js";
import { describeDiff, diffRuntime } from "../dispatcher/diff.js";
import { entriesOf, parseDispatcherList, type DispatcherList } from "../dispatcher/list.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import { canonicalSipUri, sameHostPort } from "../sip/sip-uri.js";

export type DestinationRole = "old" | "new" | "unknown";

export interface DestinationRow {
  uri: string;
  role: DestinationRole;
  /** in the durable list (file or table) */
  inList: boolean;
  /** Kamailio's state flags at runtime (AX, AP, IP, ...); undefined when not loaded */
  runtimeFlags: string | undefined;
}

/** Which configured destination a URI is (same host and port), or unknown. */
export function roleOf(uri: string, old: string, neu: string): DestinationRole {
  const u = canonicalSipUri(uri);
  if (!u.ok) return "unknown";
  for (const [role, ref] of [
    ["old", old],
    ["new", neu],
  ] as const) {
    const r = canonicalSipUri(ref);
    if (r.ok && sameHostPort(u.uri, r.uri)) return role;
  }
  return "unknown";
}

/** The destinations of the target's set in the durable list and at runtime, each with its role. */
export function destinationRows(
  setId: number,
  listed: readonly { setId: number; uri: string }[],
  runtime: readonly RuntimeDestination[] | undefined,
  old: string,
  neu: string,
): DestinationRow[] {
  const rows = new Map<string, DestinationRow>();
  for (const e of listed.filter((x) => x.setId === setId))
    rows.set(e.uri, { uri: e.uri, role: roleOf(e.uri, old, neu), inList: true, runtimeFlags: undefined });
  for (const r of (runtime ?? []).filter((x) => x.setId === setId)) {
    const row = rows.get(r.uri) ?? {
      uri: r.uri,
      role: roleOf(r.uri, old, neu),
      inList: false,
      runtimeFlags: undefined,
    };
    rows.set(r.uri, { ...row, runtimeFlags: r.flags });
  }
  return [...rows.values()];
}

export interface ListFindings {
  /** runtime vs durable list over every set */
  drift: { ok: boolean; difference: string; durable: string[]; runtime: string[] };
  destinations: DestinationRow[];
  /** sets other than the target's in the durable list */
  otherSets: number[];
}

export function listFindings(
  list: DispatcherList,
  runtime: readonly RuntimeDestination[],
  t: { setId: number; old: string; new: string },
): ListFindings {
  const listed = entriesOf(list);
  const d = diffRuntime(list, runtime);
  return {
    drift: {
      ok: d.ok,
      difference: describeDiff(d),
      durable: listed.map((e) => `${e.uri} (set ${e.setId})`),
      runtime: runtime.map((r) => `${r.uri} (set ${r.setId}, ${r.flags})`),
    },
    destinations: destinationRows(t.setId, listed, runtime, t.old, t.new),
    otherSets: [...new Set(listed.filter((e) => e.setId !== t.setId).map((e) => e.setId))],
  };
}

/** The node's list changed behind the tool's back: nothing was written. Exit 4. */
export class DriftError extends ApplyRestoredError {}

/**
 * Refuse to write a node whose list is not one the tool works on: drift (DriftError, exit 4), a
 * destination in neither old nor new or another set (UsageError, exit 2). Nothing has been written.
 */
export function refuseUnlessClean(
  where: string,
  text: string | undefined,
  runtime: readonly RuntimeDestination[],
  t: { setId: number; old: string; new: string; source: string },
): void {
  let list: DispatcherList;
  try {
    list = parseDispatcherList(text ?? "", where);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; nothing was changed`);
  }
  const f = listFindings(list, runtime, t);
  if (!f.drift.ok) {
    throw new DriftError(
      `drift on ${where}: Kamailio's runtime is not its list (${f.drift.difference}); someone changed one behind the other's back. Nothing was written`,
      [
        `list: ${f.drift.durable.join(", ") || "(empty)"}`,
        `runtime: ${f.drift.runtime.join(", ") || "(empty)"}`,
        "find out who changed it; `pbx-cutover target check --target FILE` shows both sides",
      ],
    );
  }
  const unknown = f.destinations.filter((x) => x.role === "unknown");
  if (unknown.length > 0) {
    throw new UsageError(
      `${where}: ${unknown.map((u) => u.uri).join(", ")} (set ${t.setId}) is in neither dispatcher.old nor dispatcher.new of ${t.source}; nothing was changed`,
    );
  }
  if (f.otherSets.length > 0) {
    throw new UsageError(
      `${where} also holds set ${f.otherSets.join(", ")}; pbx-cutover writes the whole list, so for now it works only on a list of set ${t.setId} alone; nothing was changed`,
    );
  }
}
