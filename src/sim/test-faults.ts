/**
 * TEST-ONLY fault injection for the end-to-end tests that prove the simulation's assertions can
 * fail. Set PBX_CUTOVER_TEST_FAULT to a comma-separated list of `<action>@<point>`:
 *
 *   actions: stop-backend:old | stop-backend:new   stop that lab backend (its whole process group)
 *            profile:old | profile:both | profile:new  write that dispatcher list and reload it
 *                                                  directly, behind verified apply's back
 *   points:  before-phase:<old|both|new|inflight>  after the previous phase, before this one's apply
 *            during-phase:<old|both|new>           when the phase's first call has been routed
 *            after-cutover                         in-flight check: right after the cutover to new
 *
 * e.g. PBX_CUTOVER_TEST_FAULT=stop-backend:new@before-phase:new. Never set it outside tests: the
 * run prints a warning when it is set.
 */
import { UsageError } from "../cli/errors.js";
import { buildProfile, renderProfile, type ProfileMode } from "../dispatcher/profile.js";
import { labPaths } from "../lab/layout.js";
import { stopGroup } from "../lab/process.js";
import { readLabState } from "../lab/state.js";
import type { Target } from "../lab/target.js";

export const TEST_FAULT_ENV = "PBX_CUTOVER_TEST_FAULT";

export type FaultAction = { kind: "stop-backend"; backend: "old" | "new" } | { kind: "profile"; mode: ProfileMode };
export interface TestFault {
  spec: string;
  action: FaultAction;
  point: string;
}

const POINTS = /^(before-phase:(old|both|new|inflight)|during-phase:(old|both|new)|after-cutover)$/;

export function parseTestFaults(value: string | undefined): TestFault[] {
  if (value === undefined || value.trim() === "") return [];
  return value.split(",").map((spec) => {
    const [a = "", point = ""] = spec.trim().split("@");
    const m = /^(stop-backend|profile):(old|both|new)$/.exec(a);
    if (!m || !POINTS.test(point) || (m[1] === "stop-backend" && m[2] === "both")) {
      throw new UsageError(`${TEST_FAULT_ENV}: cannot understand ${JSON.stringify(spec)}; nothing was started`, [
        "format: <stop-backend:old|stop-backend:new|profile:old|profile:both|profile:new>@<before-phase:P|during-phase:P|after-cutover>",
      ]);
    }
    const action: FaultAction =
      m[1] === "stop-backend" ? { kind: "stop-backend", backend: m[2] as "old" | "new" } : { kind: "profile", mode: m[2] as ProfileMode };
    return { spec: spec.trim(), action, point };
  });
}

/** Carry out a fault on a native lab target. Returns a line for the log. */
export async function injectFault(f: TestFault, target: Target, labDir: string): Promise<string> {
  if (f.action.kind === "stop-backend") {
    const role = f.action.backend;
    const state = readLabState(labPaths(labDir));
    const c = state?.components.find((x) => x.role === role);
    if (!c) return `test fault ${f.spec}: no ${role} backend recorded in ${labDir}; nothing stopped`;
    const r = await stopGroup(c.pid, 1000);
    return `test fault ${f.spec}: stopped the ${role} backend (pid ${c.pid}: ${r})`;
  }
  const text = renderProfile(buildProfile(f.action.mode, { setId: target.setId, oldUri: target.backends.old.uri, newUri: target.backends.new.uri, policy: target.sipPolicy }));
  await target.dispatcherList.writeAtomic(text);
  const reply = await target.rpc.call("dispatcher.reload");
  return `test fault ${f.spec}: dispatcher list set to ${f.action.mode} behind the tool's back (reload: ${JSON.stringify(reply)})`;
}
