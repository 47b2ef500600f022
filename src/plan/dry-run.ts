/**
 * A plan's dry run (pure): every step with its hold and gates, the dispatcher list it would write
 * and every action the verified apply would take for it (RPCs and the one file write), as text and
 * as JSON. Nothing here reads or writes anything; the caller passes the target's description.
 */
import { UsageError } from "../core/errors.js";
import { backupPaths } from "../apply/apply.js";
import type { Target } from "../target/target.js";
import { buildStepProfile, renderProfile, type DispatcherProfile, type ProfileInputs } from "../dispatcher/profile.js";
import {
  DISPATCHER_ALGORITHM_NAMES,
  splitBound,
  type CallRange,
  type DispatcherAlgorithm,
} from "../dispatcher/weights.js";
import { gateName } from "../gates/gate.js";
import { stepLabel, type Hold, type Plan, type PlanRequirement, type PlanStep } from "./plan.js";
import type { SipPolicy } from "../sip/sip-policy.js";

export interface DryRunTarget {
  /** native | docker | ... */
  driver: string;
  setId: number;
  oldUri: string;
  newUri: string;
  /** where the dispatcher list lives (a path, or e.g. "real-kamailio:/etc/kamailio/dispatcher.list") */
  listLocation: string;
  /** how the RPC is reached, e.g. "http://127.0.0.1:15061/RPC" */
  rpc: string;
  /** where the previous list is saved before a write */
  backupDir: string;
  algorithm: DispatcherAlgorithm;
  /** the target's SIP policy: a dry run refuses what the apply would refuse */
  sipPolicy: SipPolicy;
  /** each backend's line as the operator's list writes it (a production target) */
  asWritten?: ProfileInputs["asWritten"];
}

export type PlannedAction =
  | { kind: "rpc"; method: "dispatcher.list" | "dispatcher.reload"; why: string }
  | { kind: "write"; path: string; why: string };

export interface DryRunStep {
  index: number;
  label: string;
  weightNew: number;
  hold: Hold;
  gates: string[];
  onInconclusive: PlanStep["onInconclusive"];
  maxExtensions: number;
  /** the calls to new the algorithm guarantees over the hold's minCalls (when it has one) */
  split: (CallRange & { calls: number }) | undefined;
  /** the dispatcher list text the step would write */
  list: string;
  /** in order; when the file and runtime already hold the list, only the first is taken */
  actions: PlannedAction[];
  /** a fleet: the actions on each node (the step lands on every node or on none) */
  nodes?: { name: string; actions: PlannedAction[] }[];
  /** what a failed gate (or an inconclusive one under onInconclusive=fail) would apply */
  onFailure: string;
}

/** One node of a fleet as the dry run sees it: where its list lives and how its RPC is reached. */
export interface DryRunNode {
  name: string;
  listLocation: string;
  rpc: string;
  backupDir: string;
}

export interface DryRun {
  plan: string;
  /** the first node's, on a fleet */
  target: DryRunTarget;
  /** a fleet: every node (the first is `target`'s) */
  fleet?: DryRunNode[];
  steps: DryRunStep[];
  /** what must hold before the first step (a plan's `requires`) */
  requires: PlanRequirement[];
}

/** Refuse (exit 2) steps the target's algorithm cannot split, naming every one. */
export function checkPlanForAlgorithm(plan: Plan, algorithm: DispatcherAlgorithm): void {
  if (algorithm === 9) return;
  const bad = plan.steps.map((s, i) => ({ s, i })).filter(({ s }) => ![0, 50, 100].includes(s.weightNew));
  if (bad.length > 0) {
    throw new UsageError(
      `${plan.source}: ${bad.map(({ s, i }) => `step ${i + 1} (weight ${s.weightNew})`).join(", ")} needs Kamailio's weight-based ` +
        `dispatcher (algorithm 9); this target uses round-robin (4), which only splits 0, 50 and 100; nothing was changed`,
      ["start the lab with --dispatcher-alg 9, or use steps of 0, 50 and 100"],
    );
  }
}

/** A Target as the dry run sees it (its apply's writes, RPCs and backups). */
export function dryRunTargetOf(target: Target, algorithm: DispatcherAlgorithm): DryRunTarget {
  return {
    driver: target.driver,
    setId: target.setId,
    oldUri: target.backends.old.uri,
    newUri: target.backends.new.uri,
    listLocation: target.dispatcherList.location,
    rpc: target.rpc.endpoint,
    backupDir: backupPaths(target).dir,
    algorithm,
    sipPolicy: target.sipPolicy,
    ...(target.asWritten ? { asWritten: target.asWritten } : {}),
  };
}

export function stepProfile(step: Pick<PlanStep, "weightNew">, t: DryRunTarget): DispatcherProfile {
  return buildStepProfile(
    step.weightNew,
    {
      setId: t.setId,
      oldUri: t.oldUri,
      newUri: t.newUri,
      policy: t.sipPolicy,
      ...(t.asWritten ? { asWritten: t.asWritten } : {}),
    },
    t.algorithm,
  );
}

/** A fleet's node as the dry run sees it. */
export function dryRunNodeOf(name: string, target: Target): DryRunNode {
  return {
    name,
    listLocation: target.dispatcherList.location,
    rpc: target.rpc.endpoint,
    backupDir: backupPaths(target).dir,
  };
}

function applyActions(t: Pick<DryRunTarget, "listLocation" | "backupDir">): PlannedAction[] {
  return [
    {
      kind: "rpc",
      method: "dispatcher.list",
      why: "read what Kamailio runs now (with the list file: the rollback point)",
    },
    {
      kind: "write",
      path: t.listLocation,
      why: `atomically (temp file + rename); the previous list is kept in ${t.backupDir}`,
    },
    {
      kind: "rpc",
      method: "dispatcher.reload",
      why: "judged by its reply; `500 Ongoing reload` is retried until reload_delta has passed",
    },
    {
      kind: "rpc",
      method: "dispatcher.list",
      why: "verify: the runtime holds exactly this list (destinations, active, attrs/weights)",
    },
  ];
}

export function buildDryRun(plan: Plan, t: DryRunTarget, fleet?: readonly DryRunNode[]): DryRun {
  checkPlanForAlgorithm(plan, t.algorithm);
  const back = fleet ? "put every node back on" : "put back";
  const steps = plan.steps.map((s, i): DryRunStep => {
    const label = stepLabel(s, t.algorithm === 4);
    const calls = s.hold.minCalls;
    const prev = i === 0 ? undefined : plan.steps[i - 1]!;
    return {
      index: i + 1,
      label,
      weightNew: s.weightNew,
      hold: s.hold,
      gates: s.gates.map(gateName),
      onInconclusive: s.onInconclusive,
      maxExtensions: s.maxExtensions,
      split:
        calls === undefined
          ? undefined
          : { calls, ...splitBound({ algorithm: t.algorithm, weightNew: s.weightNew, calls }) },
      list: renderProfile(stepProfile(s, t)),
      actions: applyActions(t),
      ...(fleet ? { nodes: fleet.map((n) => ({ name: n.name, actions: applyActions(n) })) } : {}),
      onFailure:
        prev === undefined
          ? `${back} the list that ran before the plan (the same verified apply), keep the evidence, exit 1`
          : `${fleet ? "put every node back on" : "apply"} step ${i} (${stepLabel(prev, t.algorithm === 4)})${fleet ? "" : " again"}, the last good step (the same verified apply), keep the evidence, exit 1`,
    };
  });
  return {
    plan: plan.source,
    target: t,
    ...(fleet ? { fleet: [...fleet] } : {}),
    steps,
    requires: plan.requires ?? [],
  };
}

function holdText(h: Hold): string {
  const parts = [
    ...(h.durationS !== undefined ? [`${h.durationS} s`] : []),
    ...(h.minCalls !== undefined ? [`${h.minCalls} calls`] : []),
  ];
  return parts.length === 0 ? "none" : `at least ${parts.join(" and ")}`;
}

/** The dry run as the operator reads it. */
export function renderDryRun(d: DryRun): string {
  const t = d.target;
  const out = [
    "pbx-cutover plan --dry-run: nothing is written, reloaded or started",
    `plan: ${d.plan}, ${d.steps.length} step${d.steps.length === 1 ? "" : "s"}: ${d.steps.map((s) => s.label).join(" -> ")}`,
    d.fleet
      ? `target: ${t.driver}; a fleet of ${d.fleet.length} nodes (${d.fleet.map((n) => n.name).join(", ")}), each step on every node or on none; dispatcher set ${t.setId}; algorithm ${t.algorithm} (${DISPATCHER_ALGORITHM_NAMES[t.algorithm]})`
      : `target: ${t.driver}; dispatcher set ${t.setId} in ${t.listLocation}; Kamailio RPC ${t.rpc}; algorithm ${t.algorithm} (${DISPATCHER_ALGORITHM_NAMES[t.algorithm]})`,
    ...(d.fleet ?? []).map((n) => `  node ${n.name}: list ${n.listLocation}; Kamailio RPC ${n.rpc}`),
    `backends: old ${t.oldUri}, new ${t.newUri}`,
    ...(d.requires.length > 0
      ? [`before the first step: ${d.requires.join(", ")} must hold (else exit 1, nothing changed)`]
      : []),
  ];
  for (const s of d.steps) {
    out.push("", `step ${s.index}/${d.steps.length}: ${s.label} (new backend weight ${s.weightNew})`);
    out.push(`  hold: ${holdText(s.hold)}`);
    out.push(`  gates: ${s.gates.length === 0 ? "none" : ""}`.trimEnd());
    for (const g of s.gates) out.push(`    - ${g}`);
    if (s.gates.length > 0) {
      const extend =
        s.onInconclusive === "extend"
          ? ` (at most ${s.maxExtensions} time${s.maxExtensions === 1 ? "" : "s"}, then fail)`
          : "";
      out.push(`  if the gates cannot decide: ${s.onInconclusive}${extend}`);
    }
    if (s.split) {
      out.push(
        `  split over the hold's ${s.split.calls} calls: ${s.split.min === s.split.max ? `exactly ${s.split.min}` : `${s.split.min} to ${s.split.max}`} to new`,
      );
    }
    if (s.gates.length > 0) out.push(`  if a gate fails: ${s.onFailure}`);
    out.push(`  dispatcher list it would write:`);
    for (const line of s.list.replace(/\n$/, "").split("\n")) out.push(`    | ${line}`);
    out.push(...actionLines(s));
  }
  return out.join("\n") + "\n";
}

/** what a step would do: on the one node, or on each node of a fleet (every node's list read first, then written, reloaded, read back) */
function actionLines(s: DryRunStep): string[] {
  const line = (a: PlannedAction, i: number, pad: string): string =>
    `${pad}${i + 1}. ${a.kind === "rpc" ? `RPC ${a.method}` : `write ${a.path}`}: ${a.why}`;
  if (s.nodes === undefined)
    return [
      `  what it would do (nothing after the first read when file and runtime already hold this list):`,
      ...s.actions.map((a, i) => line(a, i, "    ")),
    ];
  return [
    `  what it would do on each node, all or nothing (every node checked first; a node that fails puts every node back):`,
    ...s.nodes.flatMap((n) => [`    node ${n.name}:`, ...n.actions.map((a, i) => line(a, i, "      "))]),
  ];
}
