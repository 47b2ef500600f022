/**
 * A step's split check (pure): the calls the window routed to new must lie within the range the
 * dispatcher algorithm guarantees for that many calls (src/dispatcher/weights.ts, splitBound).
 */
import { splitBound, type CallRange, type DispatcherAlgorithm } from "../dispatcher/weights.js";

/**
 * Selections the split check allows out of order at each window edge: with several Kamailio workers
 * the order INVITEs are received in (the window's clock) and the order ds_select_dst picks in can
 * differ by a call at the start and at the end of the window.
 */
export const EDGE_SELECTIONS = 2;

export interface SplitCheck {
  verdict: "pass" | "fail";
  /** calls routed in the window, and of them to new */
  calls: number;
  toNew: number;
  bound: CallRange;
  otherSelections: number;
  /** "new 21 of 200 calls (bound 20-20 at new=10%, algorithm 9)" */
  detail: string;
}

export function splitCheck(i: {
  algorithm: DispatcherAlgorithm;
  weightNew: number;
  toOld: number;
  toNew: number;
  otherSelections: number;
}): SplitCheck {
  const calls = i.toOld + i.toNew;
  const bound = splitBound({
    algorithm: i.algorithm,
    weightNew: i.weightNew,
    calls,
    otherSelections: i.otherSelections,
  });
  const ok = i.toNew >= bound.min && i.toNew <= bound.max;
  return {
    verdict: ok ? "pass" : "fail",
    calls,
    toNew: i.toNew,
    bound,
    otherSelections: i.otherSelections,
    detail:
      `split: new ${i.toNew} of ${calls} calls ${ok ? "within" : "OUTSIDE"} the bound ${bound.min}-${bound.max} at new=${i.weightNew}% ` +
      `(algorithm ${i.algorithm}${i.otherSelections > 0 ? `, allowing ${i.otherSelections} selections out of order at the window's edges` : ""})`,
  };
}

/**
 * A fleet's split check (pure): each node cycles through its own list (its own counter and, for
 * algorithm 9, its own shuffle), so the fleet's calls to new lie within the sum of each node's bound
 * for the calls that node routed, each node allowed `otherSelections` at its window's edges. One
 * bound over the fleet's total would treat the nodes as one cycle: far too narrow for algorithm 9.
 */
export function fleetSplitCheck(i: {
  algorithm: DispatcherAlgorithm;
  weightNew: number;
  nodes: readonly { toOld: number; toNew: number }[];
  otherSelections: number;
}): SplitCheck {
  const each = i.nodes.map((n) =>
    splitBound({
      algorithm: i.algorithm,
      weightNew: i.weightNew,
      calls: n.toOld + n.toNew,
      otherSelections: i.otherSelections,
    }),
  );
  const bound = { min: each.reduce((s, b) => s + b.min, 0), max: each.reduce((s, b) => s + b.max, 0) };
  const calls = i.nodes.reduce((s, n) => s + n.toOld + n.toNew, 0);
  const toNew = i.nodes.reduce((s, n) => s + n.toNew, 0);
  const ok = toNew >= bound.min && toNew <= bound.max;
  return {
    verdict: ok ? "pass" : "fail",
    calls,
    toNew,
    bound,
    otherSelections: i.otherSelections * i.nodes.length,
    detail:
      `split: new ${toNew} of ${calls} calls ${ok ? "within" : "OUTSIDE"} the bound ${bound.min}-${bound.max} at new=${i.weightNew}% ` +
      `(the sum of ${i.nodes.length} nodes' bounds, each cycling through its own list; algorithm ${i.algorithm}` +
      `${i.otherSelections > 0 ? `, allowing ${i.otherSelections} selections out of order at each node's window edges` : ""})`,
  };
}
