/**
 * The live part of `migrate --traffic RATE`: the HEP capture on the lab's collector address (every
 * call judged from what Kamailio mirrored), the background SIPp calls, and the steps' live gates
 * (live-gates.ts). Started after the probes and before the first step; `finish` stops the calls,
 * reads the last mirrored messages, counts what the failing backend received while the rollback was
 * under way, and writes the numbers into results. Both the calls and the capture are also owned by
 * the run's Scope, so Ctrl-C or a failure stops them.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { EnvironmentError } from "../core/errors.js";
import type { Scope } from "../core/scope.js";
import type { MigrateResults } from "./migrate-report.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import type { GateSpec } from "../gates/gate.js";
import { DEFAULT_CAPTURE_MAX_MB, kamailioMirrors, startHepCapture, type HepCapture } from "../hep/capture.js";
import { endpointKey } from "../hep/evidence.js";
import type { HepForwardTarget } from "../hep/forward-target.js";
import type { Target } from "../target/target.js";
import type { BackendRole } from "../core/backend-role.js";
import { reactionSegments, reactionText } from "../plan/reaction.js";
import type { PlanOutcome } from "../plan/runner.js";
import {
  startBackgroundTraffic,
  TRAFFIC_CALL_TIMEOUT_MS,
  TRAFFIC_FILES,
  TRAFFIC_MEDIA_HOLD_MS,
  type BackgroundTraffic,
} from "./background-traffic.js";
import { openLineLog } from "../files/atomic-write.js";
import { delay } from "../core/scope.js";
import { startMediaCapture, type MediaCapture, type MediaCaptureSummary } from "../media/capture.js";
import { LiveMedia } from "../media/live.js";
import { audioOf, mediaRow, pbxRtpOf, type CallMedia } from "../media/rtp.js";
import { addRelayCounts } from "../media/relay-counts.js";
import type { NgAddress } from "../rtpengine/ng.js";
import type { LabSettings } from "../config/lab-config.js";
import { watchPbxChannels, type PbxEvidence } from "../evidence/pbx-watch.js";
import { mediaScenarioFile } from "../media/scenario-file.js";
import { callsDuring, LiveGates, type LiveGatesOptions } from "./live-gates.js";
import { FleetGates, type StepGates } from "./fleet-gates.js";
import { CALL_RECORDS_FILE, openCallRecordLog, readCallRecords } from "../evidence/call-record-log.js";
import { phaseOfWeight, TrafficCallEvents } from "./traffic-calls.js";
import type { RunEvents } from "../events/run-events.js";
import { hepView } from "../hep/evidence-source.js";
import { RateCounter } from "../hep/rate-counter.js";
import { startRateSampler } from "../hep/rate-events.js";
import { pcapKeptText } from "../hep/pcap.js";

/** the background caller's rotated logs SIPp left in the run folder (`<scenario>_<pid>_messages_<time>.<n>.log`) */
function rotatedLogs(runDir: string, scenario: string | undefined): string[] {
  if (scenario === undefined) return [];
  const prefix = `${path.basename(scenario, path.extname(scenario))}_`;
  try {
    return readdirSync(runDir)
      .filter((f) => f.startsWith(prefix) && f.endsWith(".log"))
      .sort();
  } catch {
    return [];
  }
}

/** the probe caller's files in the run folder */
export const PROBE_FILES = {
  messageLog: "probe.uac.log",
  statFile: "probe.uac.stat.csv",
  errorFile: "probe.uac.errors.log",
} as const;

/** a call of the capture's evidence first seen this long ago is dropped, ended or not (ours last 100 ms) */
const EVIDENCE_MAX_AGE_MS = 120_000;

export interface TrafficSettings {
  /**
   * the tool's own background calls (--traffic on the native lab); absent: the steps are judged on
   * every call the target mirrors (a production node's real traffic)
   */
  calls?: {
    rate: number;
    sippBin: string;
    /** the UAC scenario (assets/sipp/uac-call.xml) */
    scenario: string;
    /**
     * the calls stream audio both ways, the caller's RTP captured with this dumpcap (media.pcap) and
     * judged per call; with the lab's media relay, its ng control (each call's counters); on a lab of
     * real FreeSWITCH, that lab's settings (each call's counters from its PBX's hangup event)
     */
    media?: { dumpcapBin: string; relay?: NgAddress; pbx?: LabSettings };
  };
  /**
   * `--probe RATE --probe-uri URI` on a target: the tool's own synthetic calls through the node,
   * labelled by their Call-ID prefix and counted apart from the users' calls (live-gates.ts)
   */
  probe?: {
    rate: number;
    sippBin: string;
    scenario: string;
    /** the URI's user part: what the calls dial */
    service: string;
    uri: string;
    /**
     * the nodes the calls go through, each with its own SIPp bound to the address this host reaches
     * the node from: the target's one (name ""), or every node of a fleet in the fleet's order
     */
    via: readonly { name: string; localAddress: string }[];
  };
  /** where the target's Kamailio mirrors (lab settings `hep`, or the target file's collector) */
  hep: { address: string; port: number };
  /** capture.pcap and its segments together at most this many MB (--capture-max-mb; 0: no cap) */
  captureMaxMb?: number;
  /** --hep-forward: every datagram the collector receives (every node's, on a fleet) relayed unchanged */
  forward?: HepForwardTarget;
}

export interface TrafficRun {
  capture: HepCapture;
  gates: StepGates;
  calls: BackgroundTraffic | undefined;
  /** step i was applied: its window opens (gates) and the calls routed from now on are its phase's */
  open(i: number): void;
  /** media on: wait (at most the hold and 3 s) for the audio of the calls step i's window has answered so far */
  settleMedia(i: number): Promise<void>;
  /** stop the calls, settle, record the numbers (the reaction's calls when a gate rolled back) */
  finish(reaction: NonNullable<PlanOutcome["rollback"]>["reaction"], results: MigrateResults): Promise<void>;
}

const pick = (c: { routed: number; failed: number }): { routed: number; failed: number } => ({
  routed: c.routed,
  failed: c.failed,
});

export async function startTrafficRun(
  t: TrafficSettings,
  target: Target,
  steps: readonly { weightNew: number; gateSpecs: readonly GateSpec[] }[],
  algorithm: DispatcherAlgorithm,
  runDir: string,
  scope: Scope,
  events: RunEvents,
  log: (line: string) => void,
  /** a fleet: every node's Target (the first is `target`); each call is judged with its node's too */
  fleet?: readonly { name: string; target: Target }[],
): Promise<TrafficRun> {
  const nodes = fleet ?? [{ name: "", target }];
  await requireMirroring(nodes, t.calls !== undefined);
  const proxies = nodes.map((n) => endpointKey(n.target.proxy));
  const backends = { old: endpointKey(target.backends.old), new: endpointKey(target.backends.new) };
  const runTag = randomBytes(3).toString("hex");
  const callIdPrefix = t.calls ? `pbxc-${runTag}-traffic` : undefined;
  const probePrefix = t.probe ? `pbxc-${runTag}-probe` : undefined;
  // every call of the run as it ends (the evidence and the gates keep only the calls still open)
  const records = openCallRecordLog(path.join(runDir, CALL_RECORDS_FILE));
  scope.defer("call records", () => records.close());
  /** calls over, let go of once the packet that ended them went through every reader */
  const over: string[] = [];
  const letGo = (): void => {
    const nowUs = Date.now() * 1000;
    for (const id of over.splice(0)) {
      capture.evidence.forget(id, nowUs);
      callEvents.forget(id);
    }
  };
  const gatesOptions: LiveGatesOptions = {
    call: (id) => capture.evidence.calls.get(id),
    onRecord: (r) => records.append(r),
    onOver: (id) => over.push(id),
    // evidence lost at the collector makes a window's verdict inconclusive (read when a verdict is taken)
    kernelDrops: () => capture.summary().kernelDrops,
    backends,
    callIdPrefix,
    probeCallIdPrefix: probePrefix,
    timeoutMs: TRAFFIC_CALL_TIMEOUT_MS,
    algorithm,
    steps: steps.map((s) => ({ weightNew: s.weightNew, gates: s.gateSpecs })),
    ...(t.calls?.media ? { media: true } : {}),
  };
  const gates = stepGatesFor(gatesOptions, fleet);
  // the calls and the per-backend rates on the run's stream, as a sim's (the web view and report.html show them)
  const callEvents = new TrafficCallEvents({
    backends,
    callIdPrefix: callIdPrefix ?? "",
    timeoutMs: TRAFFIC_CALL_TIMEOUT_MS,
  });
  const rates = new RateCounter(hepView(proxies, backends), Date.now());
  // every mirrored message reaches the live gates as it is decoded (they evaluate on each answer)
  const capture = await startHepCapture({
    address: t.hep.address,
    port: t.hep.port,
    proxy: proxies,
    pcapPath: path.join(runDir, "capture.pcap"),
    ...(t.captureMaxMb !== undefined ? { captureMaxMb: t.captureMaxMb } : {}),
    ...(t.forward ? { forward: t.forward } : {}),
    onPacket: (p, head, c) => {
      gates.observe(c);
      rates.add(p, head);
      for (const e of callEvents.observe(c, Date.now())) events.emit(e);
      if (over.length > 0) letGo();
    },
  });
  scope.defer("hep capture", () => capture.stop().then(() => undefined));
  if (t.forward) log(forwardText(t.forward, `${t.hep.address}:${capture.port}`, fleet));
  // timeouts and calls that never ended, also between steps
  const sweep = every(1000, scope, "evidence sweep", () => {
    gates.age();
    for (const id of capture.evidence.expireCreatedBefore((Date.now() - EVIDENCE_MAX_AGE_MS) * 1000)) over.push(id);
    letGo();
  });
  scope.defer("hep rates", startRateSampler(rates, events));
  // media: the caller's RTP captured from before the first call, each call counted after its BYE
  const media = t.calls?.media ? await startTrafficMedia(t, target, runDir, scope, gates, log) : undefined;
  const scenario = media?.scenario ?? t.calls?.scenario;
  const hepAt = `${t.hep.address}:${capture.port}`;
  const calls = startUsersUac({ t, target, runDir, scope, scenario, media, callIdPrefix, proxies, hepAt, log });
  const probes = t.probe && probePrefix ? startProbes(t.probe, probePrefix, nodes, runDir, scope, log) : [];
  return {
    capture,
    gates,
    calls,
    open(i) {
      gates.open(i);
      callEvents.phase = phaseOfWeight(steps[i]!.weightNew);
    },
    async settleMedia(i) {
      if (!media) return;
      const owed = gates.mediaOwed(i);
      const deadline = performance.now() + TRAFFIC_MEDIA_HOLD_MS + 3000;
      while (gates.stillOwed(i, owed) > 0 && performance.now() < deadline) await delay(50, scope.signal);
    },
    async finish(reaction, results) {
      const [exit, ...probeExits] = await Promise.all([calls?.stop(), ...probes.map((p) => p.uac.stop())]);
      if (media) await media.stop();
      await capture.settle(100, 3000);
      clearInterval(sweep);
      gates.flush();
      letGo();
      records.close();
      const hep = capture.summary();
      if (hep.pcap.kept.dropped.files > 0) log(`capture: ${pcapKeptText(hep.pcap.kept)}`);
      if (t.forward) log(`hep forward: ${hep.forwarded} datagrams relayed, ${hep.forwardErrors} failed`);
      results.traffic = trafficResults(t, runDir, scenario, callIdPrefix, calls, exit, hep, callEvents.routedTo, media);
      if (t.probe && probePrefix !== undefined && probes.length > 0)
        results.traffic.probe = probeResults(
          t.probe,
          probePrefix,
          probes.map((p, i) => ({ ...p, exit: probeExits[i]?.description ?? "" })),
          gates,
        );
      results.steps.forEach((p, i) => {
        const v = gates.verdicts.get(i);
        if (v) p.gates = v;
        const byNode = gates.nodeVerdicts?.(i);
        if (byNode) p.gatesByNode = byNode;
      });
      if (reaction && results.rollback) await recordReaction(reaction, results.rollback, records.path, log);
    },
  };
}

/** The gates judge what Kamailio mirrors: a node that does not mirror is exit 3 before anything changes. */
async function requireMirroring(nodes: readonly { target: Target }[], ownCalls: boolean): Promise<void> {
  const silent = (
    await Promise.all(nodes.map(async (n) => ((await kamailioMirrors(n.target.rpc)) === true ? undefined : n)))
  ).filter((n) => n !== undefined);
  if (silent.length === 0) return;
  throw new EnvironmentError(
    `${ownCalls ? "--traffic judges" : "the plan's gates judge"} every call from what Kamailio mirrors (HEP), but ${silent.map((n) => n.target.rpc.endpoint).join(" and ")} ${silent.length === 1 ? "does" : "do"} not mirror; nothing was changed`,
    ["switch it on (`siptrace.status on` over the RPC, or restart the lab with --hep-mirror on)"],
  );
}

interface TrafficMedia {
  capture: MediaCapture;
  live: LiveMedia;
  /** the UAC scenario with the RTP actions in it */
  scenario: string;
  files: { pcap: string; streamLog: string; uacLog: string };
  /** the calls counted with the PBX's own counters, with the relay's, and not judged (after a capture fault) */
  counted: { pbx: number; relay: number; notJudged: number };
  /** the event sockets subscribed (a lab of real FreeSWITCH) */
  pbx: PbxEvidence | undefined;
  /** stop polling and capturing, then count the calls still owed */
  stop(): Promise<void>;
  /** once stopped: what the capture read, kept and dropped */
  summary: MediaCaptureSummary | undefined;
}

/** how long a counted call waits for its PBX's hangup event (it comes within ms of the BYE) */
const PBX_HANGUP_WAIT_MS = 1000;

/** The caller's RTP captured (dumpcap on the proxy's address) and counted call by call into the gates. */
async function startTrafficMedia(
  t: TrafficSettings,
  target: Target,
  runDir: string,
  scope: Scope,
  gates: StepGates,
  log: (line: string) => void,
): Promise<TrafficMedia> {
  const calls = t.calls!;
  const captureMaxMb = t.captureMaxMb ?? DEFAULT_CAPTURE_MAX_MB;
  const files = {
    pcap: path.join(runDir, TRAFFIC_FILES.mediaPcap),
    streamLog: path.join(runDir, TRAFFIC_FILES.mediaLog),
    uacLog: path.join(runDir, TRAFFIC_FILES.messageLog),
  };
  const media = calls.media!;
  // a lab of real FreeSWITCH: each call's own counters from its PBX, subscribed before the first call
  // a long run: each call's PBX account is kept until its row is written (bounded)
  const pbx = media.pbx ? await watchPbxChannels(media.pbx, runDir, scope, log, true) : undefined;
  const scenario = await mediaScenarioFile(calls.scenario, runDir);
  const rows = openLineLog(path.join(runDir, TRAFFIC_FILES.mediaCalls));
  scope.defer("media rows", () => rows.close());
  const counted = { pbx: 0, relay: 0, notJudged: 0 };
  // each counted call gets the other vantage points' counters before it is judged
  const judge = async (c: CallMedia): Promise<void> => {
    if (media.relay) await addRelayCounts(media.relay, [c]);
    if (pbx) {
      const of = (b: BackendRole) => pbx.call(b, c.callId);
      await pbx.until(
        () => of("old")?.complete === true || of("new")?.complete === true,
        PBX_HANGUP_WAIT_MS,
        scope.signal,
      );
      const r = pbxRtpOf(of);
      if (r) c.pbx = r;
    }
    if (c.pbx) counted.pbx++;
    if (c.relay) counted.relay++;
    // a capture that broke off holds only part of this call's packets: no verdict on it
    if (capture.fault !== undefined) {
      counted.notJudged++;
      return;
    }
    gates.observeMedia(c.callId, audioOf(c));
    rows.append(JSON.stringify({ callId: c.callId, ...mediaRow(c) }));
    pbx?.release(c.callId);
  };
  const judging = new Set<Promise<void>>();
  const live = new LiveMedia(files, TRAFFIC_MEDIA_HOLD_MS, (c) => {
    const p: Promise<void> = judge(c)
      .catch((e: unknown) => log(`media: ${c.callId}: ${(e as Error).message}`))
      .finally(() => judging.delete(p));
    judging.add(p);
  });
  scope.defer("media message log", () => live.close());
  // every packet captured is counted as it is read; media.pcap keeps what the cap allows
  const capture = await startMediaCapture({
    bin: media.dumpcapBin,
    address: target.proxy.address,
    file: files.pcap,
    cwd: runDir,
    signal: scope.signal,
    ...(captureMaxMb > 0 ? { maxBytes: captureMaxMb * 1024 * 1024 } : {}),
    onPacket: (p) => live.addPacket(p),
    onFault: (why) =>
      log(
        `media: the capture broke off (${why}): calls counted from now on are not judged (their audio is not all there)`,
      ),
  });
  scope.defer("media capture", async () => void (await capture.stop()));
  let polling: Promise<void> = Promise.resolve();
  const poll = (final = false): Promise<void> =>
    (polling = polling
      .then(() => live.poll(final))
      .catch((e: unknown) => {
        log(`media: ${(e as Error).message}`);
      }));
  const timer = every(200, scope, "media poll", () => void poll());
  const handle: TrafficMedia = {
    capture,
    live,
    scenario,
    files,
    counted,
    pbx,
    summary: undefined,
    async stop() {
      clearInterval(timer);
      const s = await capture.stop();
      handle.summary = s;
      await poll(true);
      if (s.kept.dropped.files > 0) log(`media: ${pcapKeptText(s.kept)}`);
      if (s.dropped)
        log(
          `media: dumpcap dropped ${s.dropped} packets (the tool read its stream too slowly): those calls' audio counted short`,
        );
      if (s.fault && !capture.fault) log(`media: ${s.fault}`);
      await live.close();
      await Promise.all([...judging]);
    },
  };
  return handle;
}

/** The probe calls' totals, summed over the steps' verdicts (a fleet: each node's too). */
function probeResults(
  probe: NonNullable<TrafficSettings["probe"]>,
  callIdPrefix: string,
  probes: readonly (ProbeUac & { exit: string })[],
  gates: StepGates,
): NonNullable<NonNullable<MigrateResults["traffic"]>["probe"]> {
  const routed = { old: 0, new: 0 };
  const byNode: Record<string, { total: number; old: number; new: number }> = {};
  for (const [step, v] of gates.verdicts) {
    routed.old += v.probe?.routed.old ?? 0;
    routed.new += v.probe?.routed.new ?? 0;
    for (const [name, n] of Object.entries(gates.nodeVerdicts?.(step) ?? {})) {
      const b = (byNode[name] ??= { total: 0, old: 0, new: 0 });
      b.old += n.probe?.routed.old ?? 0;
      b.new += n.probe?.routed.new ?? 0;
      b.total = b.old + b.new;
    }
  }
  const fleet = probes.length > 1 || probes[0]?.name !== "";
  return {
    rate: probe.rate,
    uri: probe.uri,
    callIdPrefix,
    argv: probes[0]!.uac.argv,
    files: probes.flatMap((p) => [p.names.messageLog, p.names.statFile, p.names.errorFile]),
    exit: fleet ? probes.map((p) => `${p.name}: ${p.exit}`).join("; ") : probes[0]!.exit,
    calls: { total: routed.old + routed.new, ...routed },
    ...(fleet ? { byNode } : {}),
  };
}

/** What the failing backend received from its first failing call until routing was restored (and until traffic stopped). */
async function recordReaction(
  reaction: NonNullable<NonNullable<PlanOutcome["rollback"]>["reaction"]>,
  rollback: NonNullable<MigrateResults["rollback"]>,
  recordsPath: string,
  log: (line: string) => void,
): Promise<void> {
  // what the failing backend received from its first failing call until routing was restored
  const during = await callsDuring(
    readCallRecords(recordsPath),
    "new",
    reaction.firstFailingCallMs,
    reaction.restoredAtMs,
  );
  const segments = reaction.chain ? reactionSegments(reaction.chain) : undefined;
  const stopped = reaction.stoppedAtMs;
  const split =
    stopped === undefined
      ? undefined
      : {
          untilStopped: pick(
            await callsDuring(readCallRecords(recordsPath), "new", reaction.firstFailingCallMs, stopped),
          ),
          afterStopped: pick(
            await callsDuring(readCallRecords(recordsPath), "new", stopped + 0.001, reaction.restoredAtMs),
          ),
        };
  rollback.reaction = {
    ...reaction,
    backend: "new",
    ...during,
    ...(split ?? {}),
    ...(segments ? { segments } : {}),
  };
  if (stopped !== undefined && split)
    log(
      `traffic to new stopped ${(stopped - reaction.firstFailingCallMs).toFixed(0)} ms after the first failing call's INVITE ` +
        `(new out of selection); new received ${split.untilStopped.routed} call(s) until then and ${split.afterStopped.routed} after`,
    );
  log(
    `reaction: ${reaction.reactionMs.toFixed(0)} ms from the first failing call's INVITE to the restored runtime; ` +
      `new received ${during.routed} call(s) in that time, ${during.failed} of them failed${during.unanswered > 0 ? `, ${during.unanswered} had no final answer` : ""}`,
  );
  if (segments) log(`reaction, link by link: ${reactionText(segments)}`);
}

/** --traffic's SIPp UAC for the whole plan, stopped with the run's scope; without it, says which calls are judged. */
function startUsersUac(u: {
  t: TrafficSettings;
  target: Target;
  runDir: string;
  scope: Scope;
  scenario: string | undefined;
  media: TrafficMedia | undefined;
  callIdPrefix: string | undefined;
  /** every node's SIP socket, for the log line */
  proxies: readonly string[];
  /** the collector's address, for the log line */
  hepAt: string;
  log: (line: string) => void;
}): BackgroundTraffic | undefined {
  const { t, target, runDir, scope, scenario, media, callIdPrefix, log } = u;
  const proxy = u.proxies.join(", ");
  const calls =
    t.calls && callIdPrefix !== undefined && scenario !== undefined
      ? startBackgroundTraffic({
          sippBin: t.calls.sippBin,
          scenario,
          target,
          runDir,
          rate: t.calls.rate,
          callIdPrefix,
          signal: scope.signal,
          ...(media ? { media: { port: media.capture.port, logFile: media.files.streamLog } } : {}),
        })
      : undefined;
  if (calls) {
    scope.defer("background traffic", () => calls.stop().then(() => undefined));
    log(
      `traffic: ${t.calls!.rate} calls/s through ${proxy} (SIPp pid ${calls.pid}, Call-IDs ${callIdPrefix}-*), judged from HEP on ${u.hepAt}` +
        (media
          ? `; audio both ways (${TRAFFIC_MEDIA_HOLD_MS} ms calls), the caller's RTP in ${TRAFFIC_FILES.mediaPcap}`
          : "; no audio (--media off)"),
    );
  } else {
    log(`traffic: the calls ${proxy} mirrors, judged from HEP on ${u.hepAt}`);
  }
  return calls;
}

/** one node's probe caller */
interface ProbeUac {
  /** the node's name in the fleet; "" for a single target */
  name: string;
  uac: BackgroundTraffic;
  /** its files' names in the run folder */
  names: { messageLog: string; statFile: string; errorFile: string };
}

/**
 * --probe's calls: one SIPp per node they go through (bound to the address this host reaches that
 * node from, dialing the user at that node), each stopped with the run's scope. On a fleet each
 * node's Call-IDs and files carry its name; the gates count them apart by the common prefix and
 * attribute each call to its node by the SIP socket it went through.
 */
function startProbes(
  probe: NonNullable<TrafficSettings["probe"]>,
  probePrefix: string,
  nodes: readonly { name: string; target: Target }[],
  runDir: string,
  scope: Scope,
  log: (line: string) => void,
): ProbeUac[] {
  return probe.via.map((v) => {
    const target = (nodes.find((n) => n.name === v.name) ?? nodes[0]!).target;
    const prefix = v.name === "" ? probePrefix : `${probePrefix}-${v.name}`;
    const names =
      v.name === ""
        ? PROBE_FILES
        : {
            messageLog: `probe.${v.name}.uac.log`,
            statFile: `probe.${v.name}.uac.stat.csv`,
            errorFile: `probe.${v.name}.uac.errors.log`,
          };
    const uac = startBackgroundTraffic({
      sippBin: probe.sippBin,
      scenario: probe.scenario,
      target,
      runDir,
      rate: probe.rate,
      callIdPrefix: prefix,
      signal: scope.signal,
      service: probe.service,
      localAddress: v.localAddress,
      fileNames: names,
    });
    scope.defer(`probe calls${v.name === "" ? "" : ` ${v.name}`}`, () => uac.stop().then(() => undefined));
    const proxy = endpointKey(target.proxy);
    const dialing = v.name === "" ? probe.uri : `sip:${probe.service}@${proxy}`;
    log(
      `probe: ${probe.rate} calls/s dialing ${dialing} through ${v.name === "" ? proxy : `${v.name} ${proxy}`} (SIPp pid ${uac.pid}, Call-IDs ${prefix}-*), counted apart from the users' calls`,
    );
    return { name: v.name, uac, names };
  });
}

/** results.json's traffic: the calls placed, the files kept, the capture and the media counted. */
function trafficResults(
  t: TrafficSettings,
  runDir: string,
  scenario: string | undefined,
  callIdPrefix: string | undefined,
  calls: BackgroundTraffic | undefined,
  exit: Awaited<ReturnType<BackgroundTraffic["stop"]>> | undefined,
  hep: ReturnType<HepCapture["summary"]>,
  routedTo: { old: number; new: number },
  media: TrafficMedia | undefined,
): NonNullable<MigrateResults["traffic"]> {
  return {
    rate: t.calls?.rate ?? 0,
    argv: calls?.argv ?? [],
    callIdPrefix,
    files: calls
      ? [
          TRAFFIC_FILES.messageLog,
          TRAFFIC_FILES.statFile,
          TRAFFIC_FILES.errorFile,
          ...rotatedLogs(runDir, scenario),
          ...hep.pcap.kept.files,
          CALL_RECORDS_FILE,
          ...(media
            ? [
                TRAFFIC_FILES.mediaLog,
                ...(media.summary?.kept.files ?? [TRAFFIC_FILES.mediaPcap]),
                TRAFFIC_FILES.mediaCalls,
              ]
            : []),
        ]
      : [...hep.pcap.kept.files, CALL_RECORDS_FILE],
    exit: exit ? exit.description : "no calls placed by the tool",
    hep,
    calls: { total: routedTo.old + routedTo.new, ...routedTo },
    media: media
      ? {
          on: true,
          holdMs: TRAFFIC_MEDIA_HOLD_MS,
          pcap: TRAFFIC_FILES.mediaPcap,
          callsCounted: media.live.total,
          ...(media.pbx ? { pbxCounted: media.counted.pbx, eventSockets: media.pbx.summary() } : {}),
          ...(t.calls?.media?.relay ? { relayCounted: media.counted.relay } : {}),
          ...(media.summary
            ? {
                packetsCaptured: media.summary.records,
                kept: media.summary.kept,
                ...(media.summary.dropped !== undefined ? { captureDropped: media.summary.dropped } : {}),
                ...(media.summary.fault !== undefined
                  ? { captureFault: media.summary.fault, callsNotJudged: media.counted.notJudged }
                  : {}),
              }
            : {}),
        }
      : { on: false },
  };
}

/** A fleet's gates judge each node's calls too; one target's, its calls. */
function stepGatesFor(o: LiveGatesOptions, fleet: readonly { name: string; target: Target }[] | undefined): StepGates {
  if (!fleet) return new LiveGates(o);
  return new FleetGates(
    o,
    fleet.map((n) => ({ name: n.name, proxy: endpointKey(n.target.proxy) })),
  );
}

/** --hep-forward's line: what is relayed (every node's mirroring, on a fleet), and where to */
function forwardText(to: HepForwardTarget, at: string, fleet: readonly { name: string }[] | undefined): string {
  const from = fleet ? `nodes ${fleet.map((n) => n.name).join(", ")}` : "Kamailio";
  return `hep forward: every datagram mirrored to ${at} (${from}) relayed unchanged to ${to.host}:${to.port}`;
}

/** A timer that does not keep the process up and stops with the scope. */
function every(ms: number, scope: Scope, name: string, tick: () => void): NodeJS.Timeout {
  const timer = setInterval(tick, ms);
  timer.unref();
  scope.defer(name, () => clearInterval(timer));
  return timer;
}
