/**
 * A fleet step as data and text (pure): the skew (the window in which the fleet routed by different
 * lists), the per-node table an operator reads, and the JSON of --json.
 */
import type { ReloadReport } from "../kamailio/dispatcher-rpc.js";

export type FleetStage = "check" | "write" | "reload" | "verify";

export interface NodeStep {
  name: string;
  /** where its durable list lives */
  location: string;
  /** what happened to it on this step */
  result: "applied" | "unchanged" | "failed" | "stopped";
  /** the stage it failed at (result failed) */
  failedAt?: FleetStage;
  reason?: string;
  reload?: ReloadReport;
  /** epoch ms: the accepted reload's request sent and its reply received (Kamailio swapped lists in between) */
  reloadSentAt?: number;
  routingAt?: number;
  /** Kamailio's destinations after the step (or after the restore) */
  runtime?: string[];
  restore?: { verified: boolean; detail: string; runtime: string[] | undefined };
  /** what the node routes by at the end: the step's label, the last good step's, or "unknown" */
  routing: string;
}

export interface FleetOutcome {
  ok: true;
  label: string;
  /** false when every node already held the step (nothing written, no reload) */
  changed: boolean;
  nodes: NodeStep[];
  skew: FleetSkew | undefined;
  totalMs: number;
}

export interface FleetFailure {
  label: string;
  /** the last good step every node was put back on */
  previousLabel: string;
  /** the first failure: which node, at what stage */
  cause: { node: string; stage: FleetStage; reason: string };
  nodes: NodeStep[];
  /** every node verified back on the last good step */
  consistent: boolean;
}

export interface FleetSkew {
  /** between the first and the last node's accepted reload reply (each confirmed by its read-back) */
  skewMs: number;
  /** upper bound of the mixed window: from the first accepted reload sent to the last reply */
  boundMs: number;
  first: string;
  last: string;
}

/** The skew of the nodes that were switched (undefined with none). */
export function computeSkew(
  nodes: readonly Pick<NodeStep, "name" | "reloadSentAt" | "routingAt">[],
): FleetSkew | undefined {
  const timed = nodes.filter(
    (n): n is typeof n & { routingAt: number; reloadSentAt: number } =>
      n.routingAt !== undefined && n.reloadSentAt !== undefined,
  );
  if (timed.length === 0) return undefined;
  const byRouting = [...timed].sort((a, b) => a.routingAt - b.routingAt);
  const first = byRouting[0]!;
  const last = byRouting[byRouting.length - 1]!;
  const sent = Math.min(...timed.map((n) => n.reloadSentAt));
  return {
    skewMs: last.routingAt - first.routingAt,
    boundMs: last.routingAt - sent,
    first: first.name,
    last: last.name,
  };
}

const ms = (x: number): string => `${x.toFixed(1)} ms`;

function what(n: NodeStep): string {
  if (n.result === "failed") return `failed at ${n.failedAt}: ${n.reason}`;
  if (n.result === "applied") return n.restore ? "applied, then put back" : "applied and verified";
  if (n.result === "unchanged") return "already on it";
  return n.restore ? "not switched" : "not reached";
}

/** One line per node: what happened, what it routes by now and its runtime. */
export function routingLines(nodes: readonly NodeStep[]): string[] {
  const width = Math.max(...nodes.map((n) => n.name.length));
  return nodes.map((n) => {
    const runtime = n.restore ? n.restore.runtime : n.runtime;
    const restore = n.restore
      ? `; restore ${n.restore.verified ? "verified" : "NOT verified"} (${n.restore.detail})`
      : "";
    return `node ${n.name.padEnd(width)}  routes by ${n.routing}  runtime ${runtime?.join(", ") || "(unknown)"}  [${what(n)}${restore}]`;
  });
}

/** The human output of a fleet step that passed. */
export function formatFleetOutcome(verb: string, o: FleetOutcome): string {
  if (!o.changed)
    return [
      `${verb} ${o.label} on ${o.nodes.length} nodes: already active on every node (nothing written, no reload)`,
      ...routingLines(o.nodes).map((l) => `  ${l}`),
    ].join("\n");
  const skew = o.skew
    ? `skew ${ms(o.skew.skewMs)} (${o.skew.first} first, ${o.skew.last} last; mixed at most ${ms(o.skew.boundMs)})`
    : "skew unknown";
  return [
    `${verb} ${o.label} on ${o.nodes.length} nodes: every node verified in ${ms(o.totalMs)}; ${skew}`,
    ...routingLines(o.nodes).map((l) => `  ${l}`),
  ].join("\n");
}

const rounded = (_k: string, v: unknown): unknown =>
  typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v;

/** A fleet step (passed or failed) as JSON for --json. */
export function fleetJson(x: FleetOutcome | ({ ok: false } & FleetFailure)): string {
  return JSON.stringify(x, rounded, 2);
}
