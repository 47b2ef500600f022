/**
 * The calls behind a failed gate (pure): on the backend the gate judged, the calls that are bad for
 * its metric. The first of them is where the automatic rollback's reaction time starts (RFC 6076
 * metrics, see metrics.ts):
 *
 *   ser       no 2xx (3xx are left out, as SER leaves them out), a timeout included
 *   isa       408, 500, 503, 504 or no final answer
 *   srd_*     a session request delay above the limit: the threshold's atMost, or for a relative
 *             gate old's value plus maxWorseBy
 *   sdd_*     the same for the session disconnect delay
 *   one_way_calls   a call whose audio failed media-both-ways
 *   rtp_loss        a call that lost packets
 */
import type { BackendRole } from "../core/backend-role.js";
import type { CallRecord } from "../evidence/call-record.js";
import type { GateResult } from "./gate.js";
import { INEFFECTIVE_STATUSES } from "./metrics.js";

/** The backend a gate reads: a threshold's own, new for a relative gate. */
export function gateBackend(r: Pick<GateResult, "gate">): BackendRole {
  return r.gate.kind === "threshold" ? r.gate.backend : "new";
}

/** a delay gate's limit: the threshold's atMost, or old's value plus the allowance */
function limitOf(r: GateResult): number | undefined {
  const g = r.gate;
  return g.kind === "threshold" ? g.atMost : (r.values.old ?? 0) + g.maxWorseBy;
}

const finalOf = (c: CallRecord): number | undefined => (c.timedOut ? undefined : c.finalStatus);
/** no 2xx (3xx left out, as SER leaves them out) */
const badForSer = (c: CallRecord): boolean => {
  const f = finalOf(c);
  return f === undefined || f < 200 || f >= 400;
};
const badForIsa = (c: CallRecord): boolean => {
  const f = finalOf(c);
  return f === undefined || INEFFECTIVE_STATUSES.includes(f);
};
const badForOneWay = (c: CallRecord): boolean => c.media?.judged === true && c.media.oneWay;
const badForLoss = (c: CallRecord): boolean => c.media?.judged === true && c.media.lost > 0;
const srdOf = (c: CallRecord): number | undefined =>
  c.firstProvisionalOrFinalMs === undefined ? undefined : c.firstProvisionalOrFinalMs - c.inviteSentMs;
const sddOf = (c: CallRecord): number | undefined =>
  c.byeSentMs === undefined || c.byeFinalMs === undefined ? undefined : c.byeFinalMs - c.byeSentMs;

/** The calls that count against a failed gate, by INVITE time; [] for a gate that did not fail. */
export function failingCalls(r: GateResult, records: readonly CallRecord[]): CallRecord[] {
  if (r.verdict !== "fail") return [];
  const backend = gateBackend(r);
  const g = r.gate;
  const limit = limitOf(r);
  const over = (d: number | undefined): boolean => d !== undefined && limit !== undefined && d > limit;
  const bad = (c: CallRecord): boolean => {
    switch (g.metric) {
      case "ser":
        return badForSer(c);
      case "isa":
        return badForIsa(c);
      case "srd_p50":
      case "srd_p95":
        return over(srdOf(c));
      case "sdd_p50":
      case "sdd_p95":
        return over(sddOf(c));
      case "one_way_calls":
        return badForOneWay(c);
      case "rtp_loss":
        return badForLoss(c);
    }
  };
  return records.filter((c) => c.backend === backend && bad(c)).sort((a, b) => a.inviteSentMs - b.inviteSentMs);
}

/** The earliest call (by INVITE) that counts against any failed gate: where the reaction time starts. */
export function firstFailingCall(
  results: readonly GateResult[],
  records: readonly CallRecord[],
): CallRecord | undefined {
  return results
    .flatMap((g) => failingCalls(g, records).slice(0, 1))
    .reduce<CallRecord | undefined>((m, c) => (m === undefined || c.inviteSentMs < m.inviteSentMs ? c : m), undefined);
}

/** most points a delay staircase keeps (delays rising call after call that long: see FirstFailingCalls) */
const STAIRCASE_MAX = 4096;

/** The first index of a sorted array whose element fails `before` (every element ahead of it passes). */
function partitionPoint<T>(xs: readonly T[], before: (x: T) => boolean): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(xs[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The calls no earlier call beats: by INVITE time, each with a longer delay than every call before it.
 * The first call whose delay exceeds a limit is always one of them.
 */
class DelayStaircase {
  /** ascending by INVITE time, and so by delay */
  private readonly points: { at: number; delay: number; call: CallRecord }[] = [];

  add(call: CallRecord, delay: number): void {
    const ps = this.points;
    const at = call.inviteSentMs;
    // the first point with a later INVITE
    const lo = partitionPoint(ps, (p) => p.at <= at);
    if (lo > 0 && ps[lo - 1]!.delay >= delay) return;
    let end = lo;
    while (end < ps.length && ps[end]!.delay <= delay) end++;
    ps.splice(lo, end - lo, { at, delay, call });
    if (ps.length > STAIRCASE_MAX) ps.pop();
  }

  /** the earliest call with a delay over `limit` */
  firstOver(limit: number): CallRecord | undefined {
    return this.points[partitionPoint(this.points, (p) => p.delay <= limit)]?.call;
  }
}

/** the earlier of two calls by INVITE (the first one on a tie) */
const earlier = (a: CallRecord | undefined, b: CallRecord | undefined): CallRecord | undefined =>
  a === undefined || (b !== undefined && b.inviteSentMs < a.inviteSentMs) ? b : a;

/**
 * `firstFailingCall` over a window's calls, kept call by call in memory that does not grow with the
 * window: per backend the earliest call bad for SER and for ISA, and for each delay the calls no
 * earlier call beats (a handful; at most STAIRCASE_MAX, past which the longest are let go). The same
 * answer as `firstFailingCall(results, every record added)`.
 */
export class FirstFailingCalls {
  private readonly ser: Partial<Record<BackendRole, CallRecord>> = {};
  private readonly isa: Partial<Record<BackendRole, CallRecord>> = {};
  private readonly oneWay: Partial<Record<BackendRole, CallRecord>> = {};
  private readonly loss: Partial<Record<BackendRole, CallRecord>> = {};
  private readonly srd = { old: new DelayStaircase(), new: new DelayStaircase() };
  private readonly sdd = { old: new DelayStaircase(), new: new DelayStaircase() };

  /** a concluded call (its final answer or timeout; its BYE times when it has them) */
  add(c: CallRecord): void {
    if (badForSer(c)) this.ser[c.backend] = earlier(this.ser[c.backend], c);
    if (badForIsa(c)) this.isa[c.backend] = earlier(this.isa[c.backend], c);
    const srd = srdOf(c);
    if (srd !== undefined) this.srd[c.backend].add(c, srd);
    this.addDisconnect(c);
    this.addMedia(c);
  }

  /** the call's audio was counted after it was added (its record now has `media`) */
  addMedia(c: CallRecord): void {
    if (badForOneWay(c)) this.oneWay[c.backend] = earlier(this.oneWay[c.backend], c);
    if (badForLoss(c)) this.loss[c.backend] = earlier(this.loss[c.backend], c);
  }

  /** the call's BYE was answered after it was added (its record now has both BYE times) */
  addDisconnect(c: CallRecord): void {
    const sdd = sddOf(c);
    if (sdd !== undefined) this.sdd[c.backend].add(c, sdd);
  }

  first(results: readonly GateResult[]): CallRecord | undefined {
    let out: CallRecord | undefined;
    for (const r of results) {
      if (r.verdict !== "fail") continue;
      const b = gateBackend(r);
      const limit = limitOf(r);
      let c: CallRecord | undefined;
      switch (r.gate.metric) {
        case "ser":
          c = this.ser[b];
          break;
        case "isa":
          c = this.isa[b];
          break;
        case "srd_p50":
        case "srd_p95":
          c = limit === undefined ? undefined : this.srd[b].firstOver(limit);
          break;
        case "sdd_p50":
        case "sdd_p95":
          c = limit === undefined ? undefined : this.sdd[b].firstOver(limit);
          break;
        case "one_way_calls":
          c = this.oneWay[b];
          break;
        case "rtp_loss":
          c = this.loss[b];
          break;
      }
      out = earlier(out, c);
    }
    return out;
  }
}
