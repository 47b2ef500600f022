/**
 * Compare what a dispatcher list asks for with what Kamailio reports at runtime (pure).
 * Destinations are compared by set id and URI exactly as written: Kamailio's dispatcher.list
 * RPC echoes each URI as it was read from the file.
 */
import type { RuntimeDestination } from "./runtime.js";
import { entriesOf, type DispatcherList } from "./list.js";

export interface DestinationKey {
  setId: number;
  uri: string;
}

export interface RuntimeDiff {
  ok: boolean;
  /** in the list, not at runtime */
  missing: DestinationKey[];
  /** at runtime, not in the list */
  unexpected: DestinationKey[];
  /** in the list as active (no inactive/disabled flag), but not active at runtime */
  notActive: (DestinationKey & { flags: string })[];
  /**
   * in the list with attrs (e.g. `weight=10`) that Kamailio reports differently: a weighted step
   * whose weights did not load is not the intended profile. Entries without attrs are not compared.
   */
  wrongAttrs: (DestinationKey & { want: string; have: string | undefined })[];
}

const key = (d: DestinationKey): string => `${d.setId} ${d.uri}`;

/** Runtime state flags start with A (active) or T (trying); I and D are inactive/disabled. */
export function runtimeActive(flags: string): boolean {
  return flags.startsWith("A") || flags.startsWith("T");
}

export function diffRuntime(list: DispatcherList, runtime: readonly RuntimeDestination[]): RuntimeDiff {
  const wanted = new Map<string, { d: DestinationKey; active: boolean; attrs: string | undefined }>();
  for (const e of entriesOf(list)) {
    const k = key(e);
    const active = (e.flags & (1 | 4)) === 0;
    const prev = wanted.get(k);
    // Kamailio drops one trailing ';' of the attrs (ds_set_attrs)
    const attrs = e.attrs?.replace(/;$/, "") ?? prev?.attrs;
    wanted.set(k, { d: { setId: e.setId, uri: e.uri }, active: active || (prev?.active ?? false), attrs });
  }
  const have = new Map(runtime.map((r) => [key(r), r] as const));
  const missing = [...wanted.values()].filter((w) => !have.has(key(w.d))).map((w) => w.d);
  const unexpected = runtime.filter((r) => !wanted.has(key(r))).map((r) => ({ setId: r.setId, uri: r.uri }));
  const notActive = [...wanted.values()]
    .filter((w) => w.active && have.has(key(w.d)) && !runtimeActive(have.get(key(w.d))!.flags))
    .map((w) => ({ ...w.d, flags: have.get(key(w.d))!.flags }));
  const wrongAttrs = [...wanted.values()]
    .filter((w) => w.attrs !== undefined && have.has(key(w.d)) && have.get(key(w.d))!.attrs !== w.attrs)
    .map((w) => ({ ...w.d, want: w.attrs!, have: have.get(key(w.d))!.attrs }));
  return {
    ok: missing.length === 0 && unexpected.length === 0 && notActive.length === 0 && wrongAttrs.length === 0,
    missing,
    unexpected,
    notActive,
    wrongAttrs,
  };
}

/** One line for messages: "missing sip:a (set 1); unexpected sip:b (set 1)". */
export function describeDiff(d: RuntimeDiff): string {
  const parts = [
    ...d.missing.map((m) => `missing ${m.uri} (set ${m.setId})`),
    ...d.unexpected.map((m) => `unexpected ${m.uri} (set ${m.setId})`),
    ...d.notActive.map((m) => `not active ${m.uri} (set ${m.setId}, flags ${m.flags})`),
    ...d.wrongAttrs.map(
      (m) =>
        `attrs of ${m.uri} (set ${m.setId}) are ${m.have === undefined ? "none" : JSON.stringify(m.have)}, not ${JSON.stringify(m.want)}`,
    ),
  ];
  return parts.length === 0 ? "runtime matches the list" : parts.join("; ");
}
