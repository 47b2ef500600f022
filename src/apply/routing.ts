/**
 * How a plan changes routing: one Target's verified apply and take-out, or a fleet's (src/fleet/),
 * behind one interface, so the plan runner applies and rolls back the same way on one node or many.
 */
import type { DispatcherProfile } from "../dispatcher/profile.js";
import type { RunEvents } from "../events/run-events.js";
import { defaultRetryPolicy, type RetryPolicy } from "../kamailio/dispatcher-rpc.js";
import type { Target } from "../target/target.js";
import type { ApplyLock } from "./apply-lock.js";
import { verifiedApply, type ApplyOutcome } from "./apply.js";
import { takeNewOutOfSelection, type TakeOutResult, type TakenOut } from "./take-out.js";

/** the label of the profile a rollback to the list before the plan applies */
export const BEFORE_PLAN_LABEL = "before-plan";

export interface RoutingApplyOptions {
  /** held by the caller for the whole run */
  lock: ApplyLock;
  retry: Partial<RetryPolicy>;
  events: RunEvents;
  /** what the take-out just before disabled (a rollback after a failed gate) */
  takenOut?: readonly TakenOut[];
}

export interface Routing {
  /** where the durable list lives, for messages ("the list before the plan") */
  readonly location: string;
  /** the verified apply of one profile (all or nothing on a fleet) */
  apply(profile: DispatcherProfile, o: RoutingApplyOptions): Promise<ApplyOutcome>;
  /** new out of selection at once (dispatcher.set_state), before a rollback's reload */
  takeOut(policy: RetryPolicy): Promise<TakeOutResult>;
}

/** One Target's routing: verifiedApply and takeNewOutOfSelection. */
export function targetRouting(target: Target): Routing {
  return {
    location: target.dispatcherList.location,
    apply: (profile, o) =>
      verifiedApply(target, profile, {
        lock: o.lock,
        retry: o.retry,
        events: o.events,
        ...(o.takenOut ? { takenOut: o.takenOut } : {}),
      }),
    takeOut: (policy = defaultRetryPolicy) => takeNewOutOfSelection(target, policy),
  };
}
