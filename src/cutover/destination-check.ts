/**
 * Does every destination a step sends new calls to answer? Asked before each step of a cutover is
 * applied and after its last step: a SIP OPTIONS to each destination (the migrate probe), and, where
 * Kamailio probes that destination itself (dispatcher flag P), Kamailio's own verdict: a destination
 * it marked inactive (I) or disabled (D) receives no calls, whatever our OPTIONS saw.
 * `judgeDestinations` decides (pure); `checkDestinations` asks.
 */
import type { BackendProbe } from "./migrate-report.js";
import type { GateRow } from "../events/run-events.js";
import { readRuntime } from "../kamailio/dispatcher-rpc.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import type { Target } from "../target/target.js";
import type { BackendRole } from "../core/backend-role.js";

export interface DestinationCheck {
  ok: boolean;
  /** one line per destination: what answered, or why it does not count as answering */
  lines: string[];
  /** the destinations that do not answer */
  down: { role: BackendRole; uri: string }[];
  /** the check as a gate row (the report and `status` show it beside the step's gates) */
  row: GateRow;
}

/** "new backend sip:..." */
export const destinationName = (d: { role: BackendRole; uri: string }): string => `${d.role} backend ${d.uri}`;

/** The backends a step with this weight sends new calls to. */
export function destinationsOf(weightNew: number): BackendRole[] {
  return [...(weightNew < 100 ? (["old"] as const) : []), ...(weightNew > 0 ? (["new"] as const) : [])];
}

/**
 * Kamailio's probe state of a destination (its `dispatcher.list` flags): undefined when Kamailio does
 * not probe it (second flag X) or does not list it; otherwise why it is down, or "" when it is active.
 */
export function kamailioProbeProblem(flags: string | undefined): string | undefined {
  if (flags === undefined || flags[1] !== "P") return undefined;
  if (flags[0] === "I") return `Kamailio's own probing marks it inactive (${flags})`;
  if (flags[0] === "D") return `Kamailio marks it disabled (${flags})`;
  return "";
}

/** The verdict on the probes of a step's destinations and Kamailio's flags for them (by URI). */
export function judgeDestinations(
  probes: readonly BackendProbe[],
  flagsByUri: ReadonlyMap<string, string>,
): DestinationCheck {
  const lines: string[] = [];
  const down: DestinationCheck["down"] = [];
  for (const p of probes) {
    const name = destinationName(p);
    const options = p.probe.reachable
      ? `answers SIP OPTIONS (${p.probe.status ?? "?"}${p.probe.rttMs !== undefined ? ` in ${p.probe.rttMs.toFixed(1)} ms` : ""})`
      : `does not answer SIP OPTIONS (${p.probe.error ?? "no final response"})`;
    const kam = kamailioProbeProblem(flagsByUri.get(p.uri));
    const problem = !p.probe.reachable || (kam !== undefined && kam !== "");
    if (problem) down.push({ role: p.role, uri: p.uri });
    lines.push(`${name} ${options}${kam ? `; ${kam}` : kam === "" ? "; Kamailio's probing marks it active" : ""}`);
  }
  const ok = down.length === 0;
  return {
    ok,
    lines,
    down,
    row: {
      name: "destinations answer",
      verdict: ok ? "pass" : "fail",
      detail: lines.join("; "),
      values: {},
      samples: {},
    },
  };
}

/**
 * Probe the destinations of a step with weight `weightNew` (with `probe`, e.g. migrate's SIP OPTIONS)
 * and read Kamailio's flags for them. Kamailio's state that cannot be read counts as not probing (the
 * apply that follows reads the runtime back and fails on its own if the RPC is gone).
 */
export async function checkDestinations(
  target: Target,
  weightNew: number,
  probe: (target: Target, role: BackendRole) => Promise<BackendProbe>,
): Promise<DestinationCheck> {
  const [probes, runtime] = await Promise.all([
    Promise.all(destinationsOf(weightNew).map((r) => probe(target, r))),
    readRuntime(target.rpc).catch((): RuntimeDestination[] => []),
  ]);
  const flags = new Map(runtime.filter((d) => d.setId === target.setId).map((d) => [d.uri, d.flags]));
  return judgeDestinations(probes, flags);
}
