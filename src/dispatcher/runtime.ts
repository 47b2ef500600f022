/**
 * Kamailio's runtime dispatcher state as `dispatcher.list` reports it over JSON-RPC (5.6):
 *   { NRSETS, RECORDS: [ { SET: { ID, TARGETS: [ { DEST: { URI, FLAGS, PRIORITY, ATTRS? } } ] } } ] }
 * Pure functions.
 */

export interface RuntimeDestination {
  setId: number;
  uri: string;
  /** dispatcher state flags, e.g. "AP" (active, probing), "AX", "IX" (inactive) */
  flags: string;
  priority: number;
  attrs: string | undefined;
}

/** One line a human reads: each destination with its set and state flags. */
export function formatRuntime(r: readonly RuntimeDestination[]): string {
  return r.length === 0 ? "(no destinations)" : r.map((d) => `${d.uri} [set ${d.setId}, ${d.flags}]`).join(", ");
}

type Json = Record<string, unknown>;

function asObj(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Parse the JSON-RPC result of `dispatcher.list`. Throws on a shape it does not understand. */
export function parseDispatcherListResult(result: unknown): RuntimeDestination[] {
  const root = asObj(result);
  if (root === undefined) throw new Error("dispatcher.list: reply is not an object");
  const records = root["RECORDS"];
  if (records === undefined) return []; // no sets loaded
  if (!Array.isArray(records)) throw new Error("dispatcher.list: RECORDS is not an array");
  const out: RuntimeDestination[] = [];
  for (const rec of records) {
    const set = asObj(asObj(rec)?.["SET"]);
    if (set === undefined) throw new Error("dispatcher.list: record without SET");
    const setId = Number(set["ID"]);
    const targets = set["TARGETS"];
    if (!Array.isArray(targets)) continue;
    for (const t of targets) {
      const dest = asObj(asObj(t)?.["DEST"]);
      if (dest === undefined || typeof dest["URI"] !== "string")
        throw new Error("dispatcher.list: target without DEST.URI");
      const attrs = asObj(dest["ATTRS"]);
      out.push({
        setId,
        uri: dest["URI"],
        flags: typeof dest["FLAGS"] === "string" ? dest["FLAGS"] : "",
        priority: Number(dest["PRIORITY"] ?? 0),
        attrs: attrs && typeof attrs["BODY"] === "string" ? attrs["BODY"] : undefined,
      });
    }
  }
  return out;
}

export type RuntimeMode = "old" | "both" | "new" | "empty" | "unknown";

/** Name the runtime state of one set in terms of the two backends. */
export function modeOf(
  dests: readonly RuntimeDestination[],
  setId: number,
  oldUri: string,
  newUri: string,
): RuntimeMode {
  const uris = dests.filter((d) => d.setId === setId).map((d) => d.uri);
  if (uris.length === 0) return "empty";
  const hasOld = uris.includes(oldUri);
  const hasNew = uris.includes(newUri);
  const others = uris.filter((u) => u !== oldUri && u !== newUri);
  if (others.length > 0) return "unknown";
  if (hasOld && hasNew) return "both";
  return hasOld ? "old" : "new";
}
