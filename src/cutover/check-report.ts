/**
 * `target check` as data (pure): what one node's look found, the command's verdict (exit code and
 * why), and the table. src/target/target-check.ts gathers the facts.
 */
import { ExitCode } from "../core/exit-codes.js";
import { DISPATCHER_ALGORITHM_NAMES, type DispatcherAlgorithm } from "../dispatcher/weights.js";
import type { DestinationRow } from "../target/list-guard.js";

export interface NodeCheck {
  node: string;
  rpc: string;
  reachable: { ok: true; version: string } | { ok: false; error: string; refused: boolean };
  list: { location: string; entries: number } | { location: string; error: string } | undefined;
  /** runtime vs durable list over every set; undefined when either could not be read */
  drift: { ok: boolean; difference: string; durable: string[]; runtime: string[] } | undefined;
  destinations: DestinationRow[];
  /** sets other than the target's found in the durable list */
  otherSets: number[];
  reloadGuard:
    | { state: "active"; deltaS: number | undefined; reply: string }
    | { state: "off"; reply: string }
    | { state: "not probed"; why: string };
  hep:
    | { state: "arrived"; collector: string; afterMs: number }
    | { state: "missing"; collector: string; waitedMs: number; probe: string }
    | { state: "not probed"; why: string };
  dialogProfile:
    | { state: "ok"; name: string; sizes: { uri: string; size: number }[] }
    | { state: "missing"; name: string; reply: string }
    | { state: "not probed"; why: string };
}

/** one backend PBX's event socket as the target file names it: asked what the drain asks */
export type PbxCheck = { role: string; at: string } & (
  { state: "answers"; version: string; channels: number } | { state: "error"; kind: string; error: string }
);

export interface TargetCheck {
  source: string;
  id: string;
  setId: number;
  algorithm: DispatcherAlgorithm;
  old: string;
  new: string;
  nodes: NodeCheck[];
  /** each PBX the target file names an event socket for (none: the drain counts Kamailio's dialogs alone) */
  pbx: PbxCheck[];
}

/** Kamailio's state flags in words: A active, I inactive, D disabled, T trying; P probing, X not probing. */
export function flagsText(flags: string | undefined): string {
  if (flags === undefined) return "not loaded";
  const state =
    { A: "active", I: "inactive", D: "disabled", T: "trying" }[flags[0] ?? ""] ?? `state ${flags[0] ?? "?"}`;
  const probe = flags.includes("P") ? "probing" : flags.includes("X") ? "not probed" : "";
  return `${flags} (${[state, probe].filter(Boolean).join(", ")})`;
}

export interface CheckVerdict {
  exitCode: ExitCode;
  /** one line per problem, most serious first */
  problems: string[];
}

/**
 * The verdict over every node: unreachable or refused = 3; drift = 4; a destination in neither old
 * nor new, or other sets in the list the tool would rewrite = 2 (the target file or the list is not
 * one the tool can work on); HEP not arriving or no dialog profile = 1; a PBX event socket the target
 * file names that does not answer or refuses the password = 3; else 0.
 */
export function checkVerdict(c: TargetCheck): CheckVerdict {
  const by: Record<number, string[]> = { 3: [], 4: [], 2: [], 1: [] };
  for (const n of c.nodes) {
    const at = `node ${n.node}`;
    if (!n.reachable.ok) by[3]!.push(namingNode(at, n.reachable.error));
    if (n.list && "error" in n.list) by[3]!.push(`${at}: cannot read the list at ${n.list.location}: ${n.list.error}`);
    if (n.drift && !n.drift.ok)
      by[4]!.push(
        `${at}: drift: Kamailio's runtime is not its list ${n.list?.location ?? ""}: ${n.drift.difference} ` +
          `(list: ${n.drift.durable.join(", ") || "(empty)"}; runtime: ${n.drift.runtime.join(", ") || "(empty)"})`,
      );
    for (const d of n.destinations.filter((x) => x.role === "unknown"))
      by[2]!.push(
        `${at}: ${d.uri} (set ${c.setId}, ${d.inList ? "in the list" : "at runtime only"}) is in neither dispatcher.old nor dispatcher.new of ${c.source}`,
      );
    if (n.otherSets.length > 0)
      by[2]!.push(
        `${at}: the list also holds set${n.otherSets.length > 1 ? "s" : ""} ${n.otherSets.join(", ")}; pbx-cutover writes the whole list, so for now it works only on a list of set ${c.setId} alone`,
      );
    if (n.hep.state === "missing")
      by[1]!.push(
        `${at}: no HEP from the node reached ${n.hep.collector} within ${n.hep.waitedMs} ms of ${n.hep.probe}; gates need siptrace mirroring there`,
      );
    if (n.dialogProfile.state === "missing")
      by[1]!.push(
        `${at}: dialog profile ${n.dialogProfile.name} does not exist (${n.dialogProfile.reply}); the drain needs it`,
      );
  }
  for (const p of c.pbx)
    if (p.state === "error")
      by[3]!.push(`pbx.${p.role}.eventSocket: ${p.error}; the drain would not see FreeSWITCH ${p.role}'s channels`);
  for (const code of [3, 4, 2, 1] as const)
    if (by[code]!.length > 0) return { exitCode: code, problems: [3, 4, 2, 1].flatMap((k) => by[k]!) };
  return { exitCode: ExitCode.Ok, problems: [] };
}

/** `node X: message`, unless the message names the node already ("node X: ...", "... at node X (url) ...") */
export function namingNode(at: string, message: string): string {
  return message.startsWith(`${at}:`) || message.includes(` ${at} (`) ? message : `${at}: ${message}`;
}

const pad = (s: string): string => s.padEnd(16);

/** The readable table. */
export function renderCheck(c: TargetCheck, v: CheckVerdict): string {
  const out: string[] = [
    `target ${c.id} (${c.source}): set ${c.setId}, algorithm ${c.algorithm} (${DISPATCHER_ALGORITHM_NAMES[c.algorithm]}; from the target file: Kamailio cannot report it)`,
    `  old ${c.old}`,
    `  new ${c.new}`,
  ];
  for (const n of c.nodes) {
    out.push(n.rpc.startsWith(`node ${n.node} `) ? n.rpc : `node ${n.node}: ${n.rpc}`);
    const row = (k: string, text: string): void => void out.push(`  ${pad(k)}${text}`);
    row("reachable", n.reachable.ok ? `yes, ${n.reachable.version}` : `NO: ${n.reachable.error}`);
    if (n.list)
      row(
        "list",
        "error" in n.list
          ? `${n.list.location}: cannot read (${n.list.error})`
          : `${n.list.location}: ${n.list.entries} destination${n.list.entries === 1 ? "" : "s"}`,
      );
    if (n.drift) row("runtime = list", n.drift.ok ? "yes" : `NO (drift): ${n.drift.difference}`);
    n.destinations.forEach((d, i) =>
      row(
        i === 0 ? "destinations" : "",
        `${d.role.padEnd(7)} ${d.uri}  ${d.inList ? "in list" : "NOT in list"}, runtime ${flagsText(d.runtimeFlags)}`,
      ),
    );
    const g = n.reloadGuard;
    row(
      "reload guard",
      g.state === "active"
        ? `active: a reload within ${g.deltaS === undefined ? "reload_delta" : `${g.deltaS} s`} of the last is refused (${g.reply})`
        : g.state === "off"
          ? `off: two reloads in a row were both accepted (${g.reply})`
          : `not probed: ${g.why}`,
    );
    const h = n.hep;
    row(
      "HEP",
      h.state === "arrived"
        ? `arrives at ${h.collector} (${Math.round(h.afterMs)} ms after an OPTIONS through the node)`
        : h.state === "missing"
          ? `NOT arriving at ${h.collector} (waited ${h.waitedMs} ms after ${h.probe})`
          : `not probed: ${h.why}`,
    );
    const p = n.dialogProfile;
    row(
      "dialog profile",
      p.state === "ok"
        ? `${p.name}: ${p.sizes.map((s) => `${s.uri} ${s.size} call${s.size === 1 ? "" : "s"}`).join(", ")}`
        : p.state === "missing"
          ? `${p.name} MISSING (${p.reply})`
          : `not probed: ${p.why}`,
    );
  }
  for (const p of c.pbx)
    out.push(
      `pbx ${p.role}: ${p.at}`,
      `  ${pad("event socket")}${
        p.state === "answers"
          ? `answers, ${p.version}, ${p.channels} channel${p.channels === 1 ? "" : "s"} up`
          : `NO (${p.kind}): ${p.error}`
      }`,
    );
  out.push(
    v.exitCode === ExitCode.Ok
      ? "result: OK"
      : `result: ${v.problems.length} problem${v.problems.length === 1 ? "" : "s"}`,
  );
  for (const p of v.problems) out.push(`  - ${p}`);
  return out.join("\n") + "\n";
}
