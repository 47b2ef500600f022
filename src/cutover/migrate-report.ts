/**
 * The migrate run's evidence (pure): results.json's shape and summary.md's text.
 * File names are the seed's (local-lab/real-services: run_real_migration_smoke.sh).
 */
import { reactionText, type ReactionSegmentName } from "../plan/reaction.js";
import type { RollbackRecord } from "../plan/runner.js";
import type { ProfileMode } from "../dispatcher/profile.js";
import type { ReloadReport } from "../kamailio/dispatcher-rpc.js";
import type { ApplyTimings } from "../apply/apply.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import type { DrainResult } from "../observe/drain.js";
import type { OptionsResult } from "../sip/options-probe.js";
import type { StepGateRecord } from "./live-gates.js";
import type { HepCaptureSummary } from "../hep/capture.js";
import { pcapKeptText, type PcapKept } from "../hep/pcap.js";
import type { BackendRole } from "../core/backend-role.js";
import type { RestartFinding } from "../observe/restart-watch.js";
import type { FleetStepRecord, NodeTakeOut } from "../fleet/fleet-routing.js";
import { routingLines } from "../fleet/fleet-report.js";

export const migrateFiles = {
  profile: (m: ProfileMode): string => `dispatcher.${m}.list`,
  applied: (m: ProfileMode): string => `applied-${m}.list`,
  /** a plan step's list (--steps / --plan): step index from 1 and the new backend's weight */
  stepProfile: (i: number, w: number): string => `dispatcher.step-${i}-w${w}.list`,
  stepApplied: (i: number, w: number): string => `applied-step-${i}-w${w}.list`,
  /** the file read back after a rollback to step i (undefined: the list before the plan) */
  rollbackApplied: (i: number | undefined): string =>
    `applied-rollback-to-${i === undefined ? "before-plan" : `step-${i}`}.list`,
  kamcmd: "kamcmd-dispatcher.list.txt",
  results: "results.json",
  summary: "summary.md",
} as const;

export type Verdict = "pass" | "fail";

/**
 * results.json's shape: 2 since a migrate's steps are `steps` (each with its `label`, `index`,
 * `weightNew`, `holdS`); schema 1 (no `schemaVersion`) stored them as `phases`, each named by `mode`
 * with an optional `step`.
 */
export const MIGRATE_RESULTS_SCHEMA = 2;

/** One step of the run (the default old -> both -> new, or a plan's) as it ran. */
export interface StepResult {
  /** the step's number, from 1 */
  index: number;
  /** old | both | new, or a plan step's label (new=10%) */
  label: string;
  weightNew: number;
  /** the plan's hold in seconds (0: none given) */
  holdS: number;
  profileFile: string;
  appliedFile: string | undefined;
  verdict: Verdict;
  reason: string | undefined;
  changed: boolean | undefined;
  reload: ReloadReport | undefined;
  runtimeBefore: RuntimeDestination[] | undefined;
  runtime: RuntimeDestination[] | undefined;
  /** when the apply failed and was restored: what runs now */
  restoredRuntime: RuntimeDestination[] | undefined;
  timings: ApplyTimings | undefined;
  /** --traffic: the step window's gates and split, with their numbers */
  gates?: StepGateRecord | undefined;
  /** a fleet: each node's own calls judged with the same gates, by node name */
  gatesByNode?: Record<string, StepGateRecord> | undefined;
  /** a fleet: the step on every node (per-node table, skew), or how it failed and was put back */
  fleet?: FleetStepRecord | undefined;
}

export interface BackendProbe {
  role: BackendRole;
  uri: string;
  address: string;
  port: number;
  probe: OptionsResult;
}

export interface FinalCheck {
  verdict: Verdict;
  file: { oldPresent: boolean; newPresent: boolean };
  runtime: { oldPresent: boolean; newPresent: boolean; destinations: RuntimeDestination[] };
  reason: string | undefined;
}

/**
 * a plan run that put back its last good step: the runner's record (steps from 1; to 0 = the list
 * before the plan), the list read back after it, and under --traffic what the failing backend
 * received between its first failing call's INVITE and the restored runtime
 */
export interface RollbackResult extends Omit<RollbackRecord, "reaction"> {
  appliedFile: string | undefined;
  runtime: RuntimeDestination[] | undefined;
  reaction?:
    | (NonNullable<RollbackRecord["reaction"]> & {
        backend?: BackendRole;
        routed?: number;
        failed?: number;
        unanswered?: number;
        /**
         * with a take-out: what the failing backend received from its first failing call until it was
         * out of selection (untilStopped), and after that until routing was restored (afterStopped: 0
         * when set_state took it out)
         */
        untilStopped?: { routed: number; failed: number };
        afterStopped?: { routed: number; failed: number };
        /** the time between the chain's links (src/plan/reaction.ts) */
        segments?: Partial<Record<ReactionSegmentName, number>> | undefined;
      })
    | undefined;
}

/**
 * The calls the steps were judged on and the HEP capture they were judged from: --traffic's
 * background calls (rate, argv, Call-ID prefix), or on a production target the real calls it mirrors
 * (rate 0, no argv, no prefix)
 */
export interface TrafficResult {
  rate: number;
  argv: string[];
  callIdPrefix: string | undefined;
  files: string[];
  exit: string;
  hep: HepCaptureSummary;
  /** calls whose INVITE Kamailio forwarded, in all and per backend (from HEP) */
  calls: { total: number; old: number; new: number };
  /** the calls' audio: on (each call held holdMs, the caller's RTP in pcap, each call's counts in media-calls.ndjson) or off */
  media?:
    | {
        on: true;
        holdMs: number;
        pcap: string;
        callsCounted: number;
        /** a lab of real FreeSWITCH: the calls counted with their PBX's own counters (its hangup event), and its event sockets */
        pbxCounted?: number;
        eventSockets?: Record<string, unknown>;
        /** the lab's media relay: the calls counted with the relay's own counters (its ng query) */
        relayCounted?: number;
        /** every record the capture read (all counted, whatever media.pcap kept), what media.pcap kept under --capture-max-mb, what dumpcap dropped, why the capture broke off */
        packetsCaptured?: number;
        kept?: PcapKept;
        captureDropped?: number;
        captureFault?: string;
        /** calls counted after the capture broke off (no verdict on their audio) */
        callsNotJudged?: number;
      }
    | { on: false };
  /**
   * `--probe` on a target: the tool's synthetic calls through the node (counted apart; each step's
   * gates record has their numbers under `probe`), and how many of them the steps' windows routed
   */
  probe?: {
    rate: number;
    uri: string;
    callIdPrefix: string;
    argv: string[];
    files: string[];
    exit: string;
    calls: { total: number; old: number; new: number };
    /** a fleet: each node's probe calls (each node has its own caller), routed in the steps' windows */
    byNode?: Record<string, { total: number; old: number; new: number }>;
  };
}

export interface MigrateResults {
  tool: "pbx-cutover migrate";
  schemaVersion: typeof MIGRATE_RESULTS_SCHEMA;
  version: string;
  status: "pass" | "fail";
  exitCode: number;
  error: string | undefined;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  runDir: string;
  target: { driver: string; proxy: string; rpc: string; setId: number; listLocation: string; old: string; new: string };
  lab: { startedByThisRun: boolean; leftRunning: boolean };
  probes: BackendProbe[];
  /** the steps that started, in order */
  steps: StepResult[];
  final: FinalCheck | undefined;
  kamcmd: { argv: string[]; exitCode: number | null; file: string } | undefined;
  warnings: string[];
  /** the target's Kamailio restarted during the run (src/observe/restart-watch.ts): seen when, routing by what */
  restart?: RestartFinding | undefined;
  /** plan runs only (--steps / --plan) */
  plan?: {
    source: string;
    algorithm: number;
    steps: { label: string; weightNew: number; holdS: number; gates: string[] }[];
  };
  rollback?: RollbackResult | undefined;
  traffic?: TrafficResult | undefined;
  /** after a last step of weight 100: did the old backend's calls end (by Kamailio's dialog profile) */
  drain?: DrainResult | undefined;
  /** what operators asked over the control socket and the run did (pause, resume, promote, abort) */
  control?: { at: string; command: string; detail: string; by?: "operator" | "plan" }[] | undefined;
  /**
   * a target file naming several nodes: their names (the first is `target`), the rollback's per-node
   * table and take-out, each node's final state
   */
  fleet?:
    | {
        nodes: string[];
        rollback?: FleetStepRecord | undefined;
        takeOut?: NodeTakeOut[] | undefined;
        final?: Record<string, FinalCheck> | undefined;
      }
    | undefined;
}

const ms = (n: number | undefined): string => (n === undefined ? "-" : `${n.toFixed(1)} ms`);
const dests = (r: readonly RuntimeDestination[] | undefined): string =>
  r === undefined ? "-" : r.length === 0 ? "(none)" : r.map((d) => `\`${d.uri}\` ${d.flags}`).join(", ");

/** summary.md: what ran, each step's verdict and runtime, the final state, where the evidence is. */
export function renderSummary(r: MigrateResults): string {
  return [
    ...summaryHead(r),
    ...backendsSection(r),
    ...stepsSection(r),
    ...planSection(r),
    ...trafficSection(r),
    ...fleetSection(r),
    ...finalSection(r),
    ...filesSection(r),
  ].join("\n");
}

/** a fleet: each step's skew and every node's routing after it, the rollback's table */
function fleetSection(r: MigrateResults): string[] {
  if (r.fleet === undefined) return [];
  const table = (f: FleetStepRecord): string[] => routingLines(f.nodes).map((l) => `    - ${l}`);
  const stepLine = (p: StepResult): string[] => {
    const f = p.fleet;
    if (f === undefined) return [];
    if (!f.ok)
      return [
        `- ${p.label}: failed on node ${f.cause.node} at ${f.cause.stage}; every node put back: ${f.consistent}`,
        ...table(f),
      ];
    const skew = f.skew
      ? `skew ${f.skew.skewMs.toFixed(1)} ms (${f.skew.first} first, ${f.skew.last} last; mixed at most ${f.skew.boundMs.toFixed(1)} ms)`
      : "no reload (already in place)";
    return [`- ${p.label}: ${f.changed ? "applied on every node" : "already on every node"}; ${skew}`, ...table(f)];
  };
  return [
    `## Fleet (${r.fleet.nodes.join(", ")})`,
    "",
    ...r.steps.flatMap(stepLine),
    ...(r.fleet.rollback ? [`- rollback to ${r.fleet.rollback.label}:`, ...table(r.fleet.rollback)] : []),
    ...(r.fleet.takeOut
      ? [
          `- take-out (new out of selection): ${r.fleet.takeOut.map((t) => `${t.name} ${t.ok ? `${t.durationMs.toFixed(0)} ms` : `failed (${t.reason})`}`).join(", ")}`,
        ]
      : []),
    "",
  ];
}

/** the title, the run, the target, the lab, the error */
function summaryHead(r: MigrateResults): string[] {
  return [
    `# pbx-cutover migrate: ${r.status.toUpperCase()}`,
    "",
    `- started ${r.startedAt}, took ${(r.durationMs / 1000).toFixed(2)} s, exit code ${r.exitCode}`,
    `- target: ${r.target.driver} Kamailio at ${r.target.proxy} (RPC ${r.target.rpc}), dispatcher set ${r.target.setId}, list \`${r.target.listLocation}\``,
    `- old backend \`${r.target.old}\`, new backend \`${r.target.new}\``,
    `- lab: ${r.lab.startedByThisRun ? "started by this run" : "was already running"}; ${r.lab.leftRunning ? "left running" : "stopped at the end"}`,
    ...(r.error ? ["", `**Error:** ${r.error}`] : []),
    "",
  ];
}

/** each backend's answer to SIP OPTIONS */
function backendsSection(r: MigrateResults): string[] {
  return [
    "## Backends (SIP OPTIONS)",
    "",
    "| role | URI | status | rtt | server |",
    "| --- | --- | --- | --- | --- |",
    ...r.probes.map(
      (p) =>
        `| ${p.role} | \`${p.uri}\` | ${p.probe.status ?? `unreachable (${p.probe.error ?? "?"})`} | ${ms(p.probe.rttMs)} | ${p.probe.server ?? "-"} |`,
    ),
    "",
  ];
}

/** each step: verdict, reload, runtime after, apply time, files */
function stepsSection(r: MigrateResults): string[] {
  return [
    "## Steps",
    "",
    "| step | verdict | reload | runtime after | apply time | files |",
    "| --- | --- | --- | --- | --- | --- |",
    ...r.steps.map((p) => {
      const reload =
        p.changed === false
          ? "not needed"
          : p.reload
            ? `${p.reload.ok ? "ok" : "failed"}, ${p.reload.attempts} attempt(s)`
            : "-";
      const files = [p.profileFile, p.appliedFile]
        .filter(Boolean)
        .map((f) => `\`${f}\``)
        .join(", ");
      const after = p.verdict === "pass" ? dests(p.runtime) : `restored: ${dests(p.restoredRuntime)}`;
      return `| ${p.label} | ${p.verdict}${p.reason ? `: ${p.reason}` : ""} | ${reload} | ${after} | ${ms(p.timings?.totalMs)} | ${files} |`;
    }),
    "",
  ];
}

/** a plan run: the plan, the operator's requests, the rollback and its reaction */
function planSection(r: MigrateResults): string[] {
  return [
    ...(r.plan
      ? [
          "## Plan",
          "",
          `- ${r.plan.source}, dispatcher algorithm ${r.plan.algorithm}: ${r.plan.steps.map((s) => `${s.label}${s.holdS > 0 ? ` (hold ${s.holdS} s)` : ""}`).join(" -> ")}`,
          ...(r.control ?? []).map(
            (c) => `- ${c.by === "plan" ? "plan" : "operator"}: ${c.command} at ${c.at} (${c.detail})`,
          ),
          ...(r.rollback
            ? [
                `- rollback: step ${r.rollback.from} -> ${r.rollback.toLabel}, ${r.rollback.ok ? `verified in ${ms(r.rollback.durationMs)}` : "**did not complete**"} (${r.rollback.reason})`,
                ...((r.rollback.reloadRefusals ?? 0) > 0
                  ? [
                      `- the rollback's reload waited ${ms(r.rollback.reloadWaitedMs)} on Kamailio's reload guard (${r.rollback.reloadRefusals} x "Ongoing reload", reload_delta)`,
                    ]
                  : []),
                ...(r.rollback.takeOut
                  ? [
                      r.rollback.takeOut.ok
                        ? `- new out of selection first (dispatcher.set_state, not subject to the reload guard) in ${ms(r.rollback.takeOut.durationMs)}` +
                          (r.rollback.reaction?.stopMs !== undefined
                            ? `: traffic to new stopped ${r.rollback.reaction.stopMs.toFixed(0)} ms after the first failing call's INVITE` +
                              (r.rollback.reaction.untilStopped
                                ? ` (new received ${r.rollback.reaction.untilStopped.routed} call(s) until then, ${r.rollback.reaction.afterStopped?.routed ?? 0} after)`
                                : "")
                            : "")
                        : `- new not taken out of selection first: ${r.rollback.takeOut.reason}`,
                    ]
                  : []),
                ...(r.rollback.reaction
                  ? [
                      `- reaction ${r.rollback.reaction.reactionMs.toFixed(0)} ms: first failing call's INVITE ${new Date(r.rollback.reaction.firstFailingCallMs).toISOString()} -> ` +
                        `runtime read back restored ${new Date(r.rollback.reaction.restoredAtMs).toISOString()}` +
                        (r.rollback.reaction.routed !== undefined
                          ? `; ${r.rollback.reaction.backend ?? "new"} received ${r.rollback.reaction.routed} call(s) in that time, ${r.rollback.reaction.failed ?? 0} failed`
                          : ""),
                      ...(r.rollback.reaction.segments
                        ? [`- reaction, link by link: ${reactionText(r.rollback.reaction.segments)}`]
                        : []),
                    ]
                  : []),
                ...(r.rollback.runtime ? [`- runtime after the rollback: ${dests(r.rollback.runtime)}`] : []),
              ]
            : []),
          "",
        ]
      : []),
  ];
}

/** --traffic: the background calls and each step's gates */
function trafficSection(r: MigrateResults): string[] {
  return [
    ...(r.traffic
      ? [
          "## Traffic",
          "",
          `- ${r.traffic.callIdPrefix === undefined ? "the real calls the node mirrors" : `${r.traffic.rate} calls/s of background calls (Call-IDs \`${r.traffic.callIdPrefix}-*\`)`}, judged from HEP: ${r.traffic.hep.calls} calls mirrored, ${r.traffic.hep.packets} packets, kernel drops ${r.traffic.hep.kernelDrops ?? "unknown"}; ${r.traffic.exit}`,
          ...(r.traffic.probe
            ? [
                `- probe calls, counted apart: ${r.traffic.probe.rate} calls/s dialing ${r.traffic.probe.uri} (Call-IDs \`${r.traffic.probe.callIdPrefix}-*\`), ${r.traffic.probe.calls.total} routed in the steps' windows (old ${r.traffic.probe.calls.old}, new ${r.traffic.probe.calls.new})${probeByNodeText(r.traffic.probe.byNode)}; ${r.traffic.probe.exit}`,
              ]
            : []),
          `- files: ${r.traffic.files.map((f) => `\`${f}\``).join(", ")}`,
          `- capture: ${pcapKeptText(r.traffic.hep.pcap.kept)}`,
          r.traffic.media?.on
            ? `- audio: G.711 both ways on every call (held ${r.traffic.media.holdMs} ms), the caller's RTP in \`${r.traffic.media.pcap}\`, ${r.traffic.media.callsCounted} calls counted (\`media-calls.ndjson\`: packets, RFC 3550 loss and jitter per direction)` +
              (r.traffic.media.pbxCounted !== undefined
                ? `; ${r.traffic.media.pbxCounted} with their PBX's own counters (FreeSWITCH's hangup event)`
                : "") +
              (r.traffic.media.relayCounted !== undefined
                ? `; ${r.traffic.media.relayCounted} with the media relay's (rtpengine's ng query)`
                : "")
            : "- audio: off (--media off, or backends that do not send audio back)",
          ...(r.traffic.media?.on ? mediaCaptureLines(r.traffic.media) : []),
          ...r.steps.flatMap((p) =>
            p.gates
              ? [
                  `- ${p.label}: gates **${p.gates.verdict}**${p.gates.early ? " (during the hold)" : ""} on ${p.gates.window.routed.old} calls to old, ${p.gates.window.routed.new} to new: ${p.gates.detail}`,
                  ...(["old", "new"] as const).flatMap((b) => {
                    const m = p.gates!.metrics[b].media;
                    return m
                      ? [
                          `  - ${b}'s audio: ${m.judged} calls judged, ${m.oneWay} one-way, ${m.lost} of ${m.expected} packets lost (${(m.lossPercent ?? 0).toFixed(2)}%)`,
                        ]
                      : [];
                  }),
                ]
              : [],
          ),
          "",
        ]
      : []),
  ];
}

/** the final state, Kamailio's own listing, the drain */
function finalSection(r: MigrateResults): string[] {
  return [
    "## Final state",
    "",
    ...(r.final
      ? [
          `- verdict: **${r.final.verdict}**${r.final.reason ? ` (${r.final.reason})` : ""}`,
          `- file: new ${r.final.file.newPresent ? "present" : "absent"}, old ${r.final.file.oldPresent ? "present" : "absent"}`,
          `- runtime: new ${r.final.runtime.newPresent ? "present" : "absent"}, old ${r.final.runtime.oldPresent ? "present" : "absent"}: ${dests(r.final.runtime.destinations)}`,
        ]
      : ["- not reached"]),
    ...(r.kamcmd
      ? [`- Kamailio's own listing: \`${r.kamcmd.file}\` (\`${r.kamcmd.argv.join(" ")}\`, exit ${r.kamcmd.exitCode})`]
      : []),
    ...(r.drain
      ? [
          "",
          "## Drain (old backend's calls, by Kamailio's dialog profile)",
          "",
          `- **${r.drain.state}**: ${r.drain.detail}`,
          `- ${r.drain.initial} call(s) on \`${r.drain.backendUri}\` at the first look; waited ${(r.drain.waitedMs / 1000).toFixed(1)} s (--drain-timeout ${r.drain.timeoutS} s), ${r.drain.polls} look(s)`,
          ...r.drain.remaining.map((c) => `- still up: \`${c.callId}\`, up ${c.ageS} s`),
        ]
      : []),
  ];
}

/** the warnings and the files of the run folder */
function filesSection(r: MigrateResults): string[] {
  return [
    ...(r.warnings.length > 0 ? ["", "## Warnings", "", ...r.warnings.map((w) => `- ${w}`)] : []),
    "",
    "## Files",
    "",
    ...(r.plan
      ? [
          "- `dispatcher.step-<i>-w<weight>.list`: each step's generated list",
          "- `applied-step-<i>-w<weight>.list`: Kamailio's dispatcher file as read back after the step's verified apply",
          ...(r.rollback?.appliedFile
            ? [`- \`${r.rollback.appliedFile}\`: the file as read back after the rollback`]
            : []),
          "- `events.ndjson`: the run's event stream (step, apply, rollback), one JSON event a line",
        ]
      : [
          "- `dispatcher.{old,both,new}.list`: the generated profiles",
          "- `applied-{old,both,new}.list`: Kamailio's dispatcher file as read back after each verified apply (`applied-new.list` is the cutover proof)",
        ]),
    "- `kamcmd-dispatcher.list.txt`: Kamailio's runtime listing after the migration",
    "- `results.json`: everything above, machine-readable",
    "",
  ];
}

/** a fleet's probe calls per node, for the summary: " (by node: kam1 40 (old 36, new 4), ...)" */
function probeByNodeText(byNode: Record<string, { total: number; old: number; new: number }> | undefined): string {
  if (byNode === undefined) return "";
  const each = Object.entries(byNode).map(([name, n]) => `${name} ${n.total} (old ${n.old}, new ${n.new})`);
  return ` (by node: ${each.join(", ")}; each node its own caller)`;
}

/** what the media capture read (every packet counted), what its file kept under the cap, what was lost */
function mediaCaptureLines(m: {
  packetsCaptured?: number;
  kept?: PcapKept;
  captureDropped?: number;
  captureFault?: string;
}): string[] {
  if (m.packetsCaptured === undefined || m.kept === undefined) return [];
  return [
    `- media capture: ${m.packetsCaptured.toLocaleString("en-US")} packets captured, every one counted; kept ${pcapKeptText(m.kept)}` +
      (m.captureDropped
        ? `; dumpcap dropped ${m.captureDropped.toLocaleString("en-US")} (those calls' audio counted short)`
        : "") +
      (m.captureFault ? `; the capture broke off: ${m.captureFault} (calls counted after it were not judged)` : ""),
  ];
}
