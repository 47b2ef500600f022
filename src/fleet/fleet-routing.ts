/**
 * A plan's routing on a fleet (the plan runner's `Routing`): every step and every rollback is one
 * all-or-nothing fleetApply over the nodes, under the apply locks the run holds for each node; a
 * failed gate's take-out disables new with `dispatcher.set_state` on every node at once, and the
 * rollback that follows sees each node's taken-out destinations with the flags they had. A rollback
 * to the list before the plan puts back each node's own list as the plan's first step read it.
 * The last step's per-node table (or its failure) and the last take-out are kept for the run's record.
 */
import type { ApplyLock } from "../apply/apply-lock.js";
import { profileFromText, type ApplyOutcome } from "../apply/apply.js";
import { BEFORE_PLAN_LABEL, type Routing, type RoutingApplyOptions } from "../apply/routing.js";
import { takeNewOutOfSelection, type TakeOutResult, type TakenOut } from "../apply/take-out.js";
import { diffRuntime } from "../dispatcher/diff.js";
import { isProfileMode, type DispatcherProfile } from "../dispatcher/profile.js";
import type { RetryPolicy } from "../kamailio/dispatcher-rpc.js";
import { fleetApply, FleetRestoredError, FleetSplitError, type FleetMember } from "./fleet-apply.js";
import type { FleetFailure, FleetOutcome } from "./fleet-report.js";

/** One step (or rollback) on the fleet as the run records it. */
export type FleetStepRecord = ({ ok: true } & Omit<FleetOutcome, "ok">) | ({ ok: false } & FleetFailure);

/** One node's take-out. */
export interface NodeTakeOut {
  name: string;
  ok: boolean;
  /** ms from the take-out's start to this node's runtime read back without new */
  durationMs: number;
  reason?: string;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class FleetRouting implements Routing {
  readonly location: string;
  /** each node's list as the plan's first apply read it */
  private beforePlan: Map<string, string | undefined> | undefined;
  /** what the last take-out disabled, per node */
  private readonly taken = new Map<string, TakenOut[]>();
  /** the last step or rollback on the fleet */
  last: FleetStepRecord | undefined;
  /** the step the fleet was last put on (verified) */
  private current: string | undefined;
  lastTakeOut: NodeTakeOut[] | undefined;

  constructor(
    private readonly members: readonly FleetMember[],
    /** every node's apply lock, held for the run */
    private readonly locks: readonly ApplyLock[],
    private readonly command: string,
  ) {
    this.location = `the lists of ${members.map((m) => m.name).join(", ")}`;
  }

  private desired(profile: DispatcherProfile): DispatcherProfile | ((m: FleetMember) => DispatcherProfile) {
    const before = this.beforePlan;
    if (profile.label !== BEFORE_PLAN_LABEL || before === undefined) return profile;
    return (m) => {
      const text = before.get(m.name);
      return text === undefined
        ? profile
        : profileFromText(BEFORE_PLAN_LABEL, text, `${m.target.dispatcherList.location} (before the plan)`);
    };
  }

  async apply(profile: DispatcherProfile, o: RoutingApplyOptions): Promise<ApplyOutcome> {
    const t0 = performance.now();
    const lead = this.members[0]!;
    try {
      const out = await fleetApply(this.members, this.desired(profile), {
        command: this.command,
        locks: this.locks,
        retry: o.retry,
        ...(this.taken.size > 0 ? { takenOut: this.taken } : {}),
        ...(this.current !== undefined ? { currentLabel: this.current } : {}),
      });
      this.current = out.label;
      this.taken.clear();
      const { details, timings, ...table } = out;
      this.last = table;
      this.beforePlan ??= new Map(details.map((d) => [d.name, d.previousText]));
      const d = details[0]!;
      // the reload that answered last: when the whole fleet routed by the new list
      const lastNode = out.nodes.reduce((a, b) => ((b.routingAt ?? 0) > (a.routingAt ?? 0) ? b : a));
      emit(
        o,
        profile,
        true,
        performance.now() - t0,
        d.runtime.map((r) => r.uri),
      );
      return {
        ok: true,
        label: out.label,
        changed: out.changed,
        profileText: d.appliedText,
        appliedText: d.appliedText,
        previousText: d.previousText,
        runtimeBefore: d.runtimeBefore,
        reload: lastNode.reload,
        runtime: d.runtime,
        diff: diffRuntime(profileFor(profile, lead, this.desired(profile)).list, d.runtime),
        timings,
      };
    } catch (err) {
      if (err instanceof FleetRestoredError || err instanceof FleetSplitError) {
        this.last = { ok: false, ...err.failure };
        this.taken.clear();
      } else {
        // refused before anything was written (drift, a node not answering): no table of this step
        this.last = undefined;
      }
      emit(o, profile, false, performance.now() - t0, []);
      throw err;
    }
  }

  /** new out of selection on every node at once; ok only when it worked on every node */
  async takeOut(policy: RetryPolicy): Promise<TakeOutResult> {
    const t0 = performance.now();
    const results = await Promise.all(
      this.members.map(async (m) => {
        try {
          return await takeNewOutOfSelection(m.target, policy);
        } catch (err) {
          return { ok: false as const, reason: message(err), durationMs: performance.now() - t0 };
        }
      }),
    );
    this.taken.clear();
    results.forEach((r, i) => {
      if (r.ok) this.taken.set(this.members[i]!.name, r.taken);
    });
    this.lastTakeOut = results.map((r, i) => ({
      name: this.members[i]!.name,
      ok: r.ok,
      durationMs: r.durationMs,
      ...(r.ok ? {} : { reason: r.reason }),
    }));
    const failed = results.map((r, i) => ({ r, name: this.members[i]!.name })).filter((x) => !x.r.ok);
    const durationMs = performance.now() - t0;
    if (failed.length > 0)
      return {
        ok: false,
        reason: failed.map((f) => `node ${f.name}: ${f.r.ok ? "" : f.r.reason}`).join("; "),
        durationMs,
      };
    const ok = results as Extract<TakeOutResult, { ok: true }>[];
    return {
      ok: true,
      taken: ok[0]!.taken,
      sentAtMs: Math.min(...ok.map((r) => r.sentAtMs)),
      // traffic to new stopped once the last node read back without it
      stoppedAtMs: Math.max(...ok.map((r) => r.stoppedAtMs)),
      durationMs,
      runtime: ok[0]!.runtime,
    };
  }
}

function profileFor(
  profile: DispatcherProfile,
  lead: FleetMember,
  desired: DispatcherProfile | ((m: FleetMember) => DispatcherProfile),
): DispatcherProfile {
  return typeof desired === "function" ? desired(lead) : profile;
}

function emit(
  o: RoutingApplyOptions,
  profile: DispatcherProfile,
  ok: boolean,
  durationMs: number,
  runtime: string[],
): void {
  o.events.emit({
    kind: "apply",
    at: Date.now(),
    label: profile.label,
    ...(isProfileMode(profile.label) ? { mode: profile.label } : {}),
    ok,
    durationMs,
    runtime,
  });
}
