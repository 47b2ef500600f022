/**
 * How Kamailio 5.6.3's dispatcher spreads new calls over a set (pure): a model of the selection
 * code in src/modules/dispatcher/dispatch.c (tag 5.6.3), and the split it guarantees.
 *
 * Algorithm 4 (round-robin): one counter per set, `last`, in shared memory under the set's lock;
 * reset to 0 by every reload. Destination `dlist[last]` is used, then `last = (used + 1) % nr`.
 *
 * Algorithm 9 (weight): `dp_init_weights` fills an array of 100 slots when the set is (re)loaded:
 *   - destinations are taken in Kamailio's index order (`dlist`, the order `dispatcher.list` RPC
 *     reports): highest priority first; among equal priorities the LAST line of the file first
 *     (add_dest2list keeps a stable ascending list, reindex_dests copies it backwards);
 *   - each destination gets `weight` slots in that order (weight attr 1-100; anything else, 0
 *     included, is logged "weight N not in 1-100 range" and counts as 0, the destination stays);
 *   - slots beyond 100 are dropped (sum > 100: the destinations indexed last lose share);
 *   - a sum < 100 gives the remaining slots to the destination indexed last (the file's first line
 *     among equal priorities);
 *   - if `dlist[0]` has weight 0 nothing is filled: the zeroed array sends EVERY call to `dlist[0]`;
 *   - the 100 slots are then shuffled (Fisher-Yates with random(), seeded from /dev/urandom).
 *   Selection: `wlist[wlast]`, `wlast = (wlast + 1) % 100`: one counter per set in shared memory
 *   under the set's lock, shared by every worker (children), reset to 0 with a fresh shuffle by
 *   every reload. An inactive destination is skipped to the next active index (not modelled: the
 *   lab's destinations are active, probing is off).
 */
import { entriesOf, type DispatcherList } from "./list.js";

export const DISPATCHER_ALGORITHMS = [4, 9] as const;
export type DispatcherAlgorithm = (typeof DISPATCHER_ALGORITHMS)[number];
export const DISPATCHER_ALGORITHM_NAMES: Record<DispatcherAlgorithm, string> = { 4: "round-robin", 9: "weight-based" };

export function isDispatcherAlgorithm(n: number): n is DispatcherAlgorithm {
  return (DISPATCHER_ALGORITHMS as readonly number[]).includes(n);
}

/** The `weight` attribute as Kamailio 5.6.3 reads it (ds_set_attrs): 1-100, else 0. */
export function weightAttr(attrs: string | undefined): number {
  if (attrs === undefined) return 0;
  let weight = 0;
  for (const pair of attrs.split(";")) {
    const eq = pair.indexOf("=");
    const name = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    if (name.toLowerCase() !== "weight") continue;
    // str2sint: optional sign and leading digits; anything else reads as 0
    const m = /^([+-]?\d+)/.exec(eq < 0 ? "" : pair.slice(eq + 1));
    const v = m ? Number(m[1]) : 0;
    weight = v >= 1 && v <= 100 ? v : 0;
  }
  return weight;
}

export interface IndexedDestination {
  uri: string;
  priority: number;
  weight: number;
}

/** A set's destinations in Kamailio's index order (dlist): priority descending, later lines first. */
export function kamailioIndexOrder(list: DispatcherList, setId: number): IndexedDestination[] {
  return entriesOf(list)
    .map((e, line) => ({ e, line }))
    .filter(({ e }) => e.setId === setId)
    .sort((a, b) => b.e.priority - a.e.priority || b.line - a.line)
    .map(({ e }) => ({ uri: e.uri, priority: e.priority, weight: weightAttr(e.attrs) }));
}

/**
 * How many of the 100 slots of one algorithm-9 cycle each URI gets (dp_init_weights), in index
 * order. A URI listed twice gets both entries' slots.
 */
export function weightSlots(list: DispatcherList, setId: number): Map<string, number> {
  const dests = kamailioIndexOrder(list, setId);
  const slots = new Map<string, number>(dests.map((d) => [d.uri, 0]));
  if (dests.length === 0) return slots;
  const add = (uri: string, n: number): void => void slots.set(uri, (slots.get(uri) ?? 0) + n);
  if (dests[0]!.weight === 0) {
    add(dests[0]!.uri, 100);
    return slots;
  }
  let filled = 0;
  for (const d of dests) {
    const n = Math.min(d.weight, 100 - filled);
    add(d.uri, n);
    filled += n;
  }
  if (filled < 100) add(dests[dests.length - 1]!.uri, 100 - filled);
  return slots;
}

/** An inclusive range of calls. */
export interface CallRange {
  min: number;
  max: number;
}

export interface SplitBoundInput {
  algorithm: DispatcherAlgorithm;
  /**
   * The new backend's share: for algorithm 9 its slots per cycle of 100 (0-100); for algorithm 4
   * 0 (old only), 50 (old and new, one each) or 100 (new only).
   */
  weightNew: number;
  /** calls placed through the set since the step's reload */
  calls: number;
  /**
   * other requests that went through ds_select_dst on the same set in the same time (OPTIONS
   * relayed by the proxy, someone else's calls, an INVITE retransmission that raced its own
   * transaction): each takes a slot. Default 0.
   */
  otherSelections?: number;
}

/**
 * The range of `calls` consecutive calls that land on new, as the algorithm guarantees it, whatever
 * the shuffle and wherever in the cycle the window starts.
 *
 * Algorithm 9: the selections form a periodic sequence with period 100 holding exactly w = weightNew
 * slots for new. Write N = 100q + r: any N consecutive selections hold exactly q*w plus the new slots
 * of r consecutive (cyclic) slots of one shuffled cycle, which can be anything from
 * max(0, r - (100 - w)) (new's slots crowded out of the window) to min(r, w). So
 *   new ∈ [q*w + max(0, r - (100 - w)), q*w + min(r, w)].
 * Algorithm 4 with two destinations: strict alternation, so new ∈ [floor(N/2), ceil(N/2)].
 * Workers (children) do not enter: both counters are per set in shared memory, under a lock.
 * With k other selections interleaved, the N calls are N of N + k consecutive selections: new's
 * count is the bound for N + k less up to k, clipped to [0, N].
 */
export function splitBound(input: SplitBoundInput): CallRange {
  const { algorithm, weightNew, calls } = input;
  const other = input.otherSelections ?? 0;
  if (!Number.isInteger(calls) || calls < 0) throw new RangeError(`calls must be a non-negative integer, got ${calls}`);
  if (!Number.isInteger(other) || other < 0)
    throw new RangeError(`otherSelections must be a non-negative integer, got ${other}`);
  if (!Number.isInteger(weightNew) || weightNew < 0 || weightNew > 100) {
    throw new RangeError(`weightNew must be an integer 0-100, got ${weightNew}`);
  }
  const total = calls + other;
  let range: CallRange;
  if (algorithm === 4) {
    if (weightNew !== 0 && weightNew !== 50 && weightNew !== 100) {
      throw new RangeError(
        `round-robin (algorithm 4) splits 0, 50 or 100, not ${weightNew}: weighted steps need algorithm 9`,
      );
    }
    range =
      weightNew === 0
        ? { min: 0, max: 0 }
        : weightNew === 100
          ? { min: total, max: total }
          : { min: Math.floor(total / 2), max: Math.ceil(total / 2) };
  } else {
    const q = Math.floor(total / 100);
    const r = total % 100;
    range = { min: q * weightNew + Math.max(0, r - (100 - weightNew)), max: q * weightNew + Math.min(r, weightNew) };
  }
  return { min: Math.max(0, range.min - other), max: Math.min(calls, range.max) };
}
