import path from "node:path";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { promisify } from "node:util";
import { EnvironmentError } from "../core/errors.js";
import { abortable, delay, type Scope } from "../core/scope.js";
import type { LabSettings } from "../config/lab-config.js";
import { loadKamailioTemplate, renderKamailioConfig } from "../kamailio/config-template.js";
import { HttpJsonRpcClient, type RpcClient } from "../kamailio/rpc.js";
import { dispatcherView, observeRuntime, type DispatcherView } from "../observe/runtime.js";
import {
  backendChannelCounts,
  backendComponent,
  backendPorts,
  backendSpecs,
  backendVersion,
  requireBackendPrograms,
  stopGraceMs,
  stopSignal,
  type ComponentSpec,
} from "./backend-spec.js";
import { postgresStatusText } from "./fusionpbx/instance.js";
import { fusionpbxStatusText } from "./fusionpbx/status.js";
import {
  afterServicesReady,
  requireServicePrograms,
  servicePorts,
  serviceSpecs,
  type FusionpbxUp,
} from "./fusionpbx/specs.js";
import { requireBinaries, type BinaryName } from "./binaries.js";
import { relayPorts, relaySpecs } from "./rtpengine.js";
import { labPaths, type LabPaths } from "../config/lab-paths.js";
import { initialDispatcherList, kamailioConfigValues, portsHint } from "./native-files.js";
import type { BackendRole } from "../core/backend-role.js";
import { backendUri, componentProto, kamailioArgv, type ComponentRole } from "./layout.js";
import { describePortInUse, findPortOwner, isTcpFree, isUdpFree, type PortInUse } from "../os/ports.js";
import { isAlive, spawnDetached, stopGroup, tailLines } from "../os/process.js";
import {
  LabStateCorruptError,
  readLabState,
  removeLabState,
  setAsideCorruptState,
  writeLabState,
  type ComponentState,
  type LabState,
} from "./state.js";
import { ensureUserDir } from "../files/ensure-dir.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { describeProc, findLabProcesses, isFrozen, ownershipOf, startTimeOf } from "../os/ownership.js";
import { readRpcAuthorization, writeRpcSecret } from "../kamailio/rpc-secret.js";
import { stopFound, stopRecorded, type StopReport } from "./lab-stop.js";

const execFileP = promisify(execFile);

/** The lab's JSON-RPC, with the lab's secret (read at each call: a restarted lab has a new one). */
export function rpcClientFor(s: LabSettings, timeoutMs = 2000): RpcClient {
  const secret = labPaths(s.labDir).rpcSecretCfg;
  return new HttpJsonRpcClient(s.kamailio.address, s.kamailio.rpcPort, timeoutMs, {
    authorization: () => readRpcAuthorization(secret),
  });
}

async function portsInUse(s: LabSettings): Promise<PortInUse[]> {
  const checks: { proto: "udp" | "tcp"; address: string; port: number }[] = [
    { proto: "udp", address: s.kamailio.address, port: s.kamailio.sipPort },
    { proto: "tcp", address: s.kamailio.address, port: s.kamailio.rpcPort },
    ...backendPorts(s, "old"),
    ...backendPorts(s, "new"),
    ...servicePorts(s),
    ...relayPorts(s),
  ];
  const free = await Promise.all(
    checks.map((c) => (c.proto === "udp" ? isUdpFree(c.address, c.port) : isTcpFree(c.address, c.port))),
  );
  return checks.filter((_c, i) => !free[i]).map((c) => ({ ...c, owner: findPortOwner(c.proto, c.address, c.port) }));
}

export interface UpResult {
  state: LabState;
  alreadyRunning: boolean;
  /**
   * some component of this lab dir was running before this call (a half-dead lab that was
   * restarted counts): a command that found the lab (partly) running leaves it running after
   */
  wasRunning: boolean;
  readyMs: number;
  /** roles found dead in a previous lab of this lab dir: the rest was stopped and the lab started afresh */
  replacedDead?: ComponentRole[];
  /** `--fusionpbx`: how each slot was installed and its admin login, the data set loaded into old */
  fusionpbx?: FusionpbxUp;
}

export interface UpOptions {
  /**
   * a frozen component (state T): `refuse` (lab up: exit 3, say how to resume it) or `accept` (a
   * command that needs the lab: it is running, not ours to restart or stop; its own probes report
   * what does not answer)
   */
  frozen: "refuse" | "accept";
  /** progress lines of long steps (FusionPBX's install) */
  say?: (line: string) => void;
  /** `--fusionpbx-seed`: an SQL data set loaded into the old FusionPBX once installed */
  fusionpbxSeed?: string;
}

/**
 * Start Kamailio and the two SIPp backends and return when all three are ready (RPC answers,
 * both backends answer OPTIONS). On failure or interrupt everything started is stopped.
 */
export async function labUp(s: LabSettings, scope: Scope, o: UpOptions = { frozen: "refuse" }): Promise<UpResult> {
  const started = performance.now();
  const p = labPaths(s.labDir);
  const found = await reconcileExisting(s, p, o);
  if (found.running) return { state: found.running, alreadyRunning: true, wasRunning: true, readyMs: 0 };
  const needed: BinaryName[] = [
    "kamailio",
    ...(s.backends === "sipp" ? (["sipp"] as const) : []),
    ...(s.mediaRelay.kind === "rtpengine" ? (["rtpengine"] as const) : []),
  ];
  const bins = requireBinaries(needed);
  const trees = requireBackendPrograms(s);
  const services = requireServicePrograms(s);
  const busy = await portsInUse(s);
  if (busy.length > 0) {
    throw new EnvironmentError(`${busy.map(describePortInUse).join("; ")}; nothing was started`, [portsHint(s)]);
  }
  writeLabFiles(s, p);
  const specs: ComponentSpec[] = [
    // the relay first: Kamailio's rtpengine module looks for it as it starts
    ...relaySpecs(s, p, bins.rtpengine),
    ...(await backendSpecs(s, p, { sipp: "sipp" in bins ? bins.sipp : undefined, trees })).map((b) =>
      backendComponent(s, b),
    ),
    ...(await serviceSpecs(s, services)),
  ];
  const state = startComponents(s, p, bins.kamailio, specs, scope);
  await waitAllReady(s, state.components, specs, scope.signal);
  if (s.mediaRelay.kind === "rtpengine") await relayReachedByKamailio(s, scope.signal);
  const fusionpbx = await abortable(
    scope.signal,
    afterServicesReady(s, services, scope.signal, o.say ?? (() => undefined), o.fusionpbxSeed),
  );
  // ready: the lab outlives this command
  scope.release("lab state");
  scope.release("lab components");
  return {
    state,
    alreadyRunning: false,
    wasRunning: found.wasRunning,
    readyMs: performance.now() - started,
    ...(found.replacedDead ? { replacedDead: found.replacedDead } : {}),
    ...(fusionpbx ? { fusionpbx } : {}),
  };
}

/**
 * What a previous lab of this lab dir left: `running` when all of it is ours and running; a stale
 * one (a component died, or its pid now belongs to another program) is stopped, its dead roles
 * named. Refuses (exit 3, nothing touched) a frozen lab when asked to, and processes of this lab
 * dir running without a lab.json; a corrupt lab.json is exit 3.
 */
async function reconcileExisting(
  s: LabSettings,
  p: LabPaths,
  o: UpOptions,
): Promise<{ running?: LabState; wasRunning: boolean; replacedDead?: ComponentRole[] }> {
  const existing = readLabState(p);
  if (!existing) {
    const orphans = findLabProcesses(s.labDir);
    if (orphans.length > 0) {
      throw new EnvironmentError(
        `${s.labDir}/lab.json is missing, but processes of this lab dir are running: ${orphans.map(describeProc).join("; ")}; nothing was started`,
        [`\`pbx-cutover lab down --lab-dir ${s.labDir}\` finds them by their command line and stops them`],
      );
    }
    return { wasRunning: false };
  }
  const judged = existing.components.map((c) => ({ c, o: ownershipOf(c, s.labDir) }));
  const frozen = judged.filter((j) => j.o.kind === "ours" && isFrozen(j.o.proc));
  if (frozen.length > 0 && o.frozen === "refuse") {
    throw new EnvironmentError(
      `the lab in ${s.labDir} is frozen: ${frozen.map((j) => `${j.c.role} pid ${j.c.pid} is stopped (process state T, e.g. SIGSTOP or a debugger)`).join("; ")}; nothing was started or stopped`,
      [
        `resume it with \`kill -CONT -${frozen[0]!.c.pid}\`, or stop the whole lab with \`pbx-cutover lab down --lab-dir ${s.labDir}\``,
      ],
    );
  }
  if (judged.every((j) => j.o.kind === "ours")) return { running: existing, wasRunning: true };
  // stale: stop the rest and start afresh (and say so)
  const report = await stopRecorded(existing, s.labDir);
  if (report.stillRunning.length > 0) throw stillRunningError(s.labDir, report);
  return {
    wasRunning: judged.some((j) => j.o.kind === "ours"),
    replacedDead: judged.filter((j) => j.o.kind !== "ours").map((j) => j.c.role),
  };
}

/**
 * The lab dir's files before anything starts: the backends' logs (empty, mode 0644, never a
 * planted symlink, before SIPp opens them), a new RPC secret, kamailio.cfg, the first list (old only).
 */
function writeLabFiles(s: LabSettings, p: LabPaths): void {
  ensureUserDir(p.labDir, "the lab directory", "--lab-dir");
  rmSync(p.ctlSocket, { force: true });
  for (const role of ["old", "new"] as const) {
    for (const f of Object.values(p.backend(role))) writeFileAtomic(f, "", { mode: FileMode.public });
  }
  rmSync(p.kamailioLog, { force: true });
  writeRpcSecret(p.rpcSecretCfg);
  writeFileAtomic(p.kamailioConfig, renderKamailioConfig(loadKamailioTemplate(), kamailioConfigValues(s, p)), {
    mode: FileMode.public,
  });
  writeFileAtomic(p.dispatcherList, initialDispatcherList(s), { mode: FileMode.public, fsync: true });
}

/**
 * Spawn Kamailio and every component, each in its own process group, and record them in lab.json
 * before readiness (so `lab down` can clean up even if this process is killed). Until the scope
 * releases them, the scope stops them and removes lab.json.
 */
function startComponents(
  s: LabSettings,
  p: LabPaths,
  kamailioBin: string,
  specs: ComponentSpec[],
  scope: Scope,
): LabState {
  const components: ComponentState[] = [];
  scope.defer("lab components", async () => {
    await Promise.all(components.map((c) => stopGroup(c.pid, stopGraceMs(c.comm), stopSignal(c.comm))));
  });
  const spawn = (c: Omit<ComponentState, "pid" | "startTime">): void => {
    const pid = spawnDetached(c.argv, c.log, p.labDir);
    components.push({
      role: c.role,
      pid,
      startTime: startTimeOf(pid),
      comm: c.comm,
      address: c.address,
      port: c.port,
      log: c.log,
      argv: c.argv,
    });
  };
  for (const b of specs.filter((x) => x.role === "rtpengine"))
    spawn({ role: b.role, comm: b.comm, address: b.address, port: b.port, log: b.log, argv: b.argv });
  spawn({
    role: "kamailio",
    comm: "kamailio",
    address: s.kamailio.address,
    port: s.kamailio.sipPort,
    log: p.kamailioLog,
    argv: kamailioArgv(kamailioBin, s, p),
  });
  for (const b of specs.filter((x) => x.role !== "rtpengine"))
    spawn({ role: b.role, comm: b.comm, address: b.address, port: b.port, log: b.log, argv: b.argv });
  const state: LabState = {
    version: 1,
    driver: "native",
    startedAt: new Date().toISOString(),
    settings: s,
    components,
  };
  writeLabState(p, state);
  scope.defer("lab state", () => removeLabState(p));
  return state;
}

/**
 * Kamailio has the relay in use: `rtpengine.ping all` (Kamailio pings it over ng and enables it; one
 * found unreachable as Kamailio started is otherwise left disabled for rtpengine_disable_tout), retried
 * until the ready timeout; exit 3 naming both logs if it never answers.
 */
async function relayReachedByKamailio(s: LabSettings, signal: AbortSignal): Promise<void> {
  const rpc = rpcClientFor(s, 1000);
  const deadline = performance.now() + s.readyTimeoutMs;
  let last = "";
  try {
    for (;;) {
      try {
        await rpc.call("rtpengine.ping", ["all"]);
        return;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (performance.now() > deadline)
        throw new EnvironmentError(
          `Kamailio does not reach the media relay at ${s.kamailio.address}:${s.mediaRelay.ngPort} (rtpengine.ping all: ${last}); nothing is left running`,
          [`see ${labPaths(s.labDir).kamailioLog} and ${path.join(s.labDir, "rtpengine.log")}`],
        );
      await delay(100, signal);
    }
  } finally {
    rpc.close();
  }
}

/** every component ready (Kamailio's RPC, each spec's own probe), or the first that died or timed out */
async function waitAllReady(
  s: LabSettings,
  components: readonly ComponentState[],
  specs: readonly ComponentSpec[],
  signal: AbortSignal,
): Promise<void> {
  const rpc = rpcClientFor(s, 500);
  try {
    await abortable(
      signal,
      Promise.all(
        components.map((c) =>
          waitReady(
            c,
            s,
            rpc,
            signal,
            specs.find((b) => b.role === c.role),
          ),
        ),
      ),
    );
  } finally {
    rpc.close();
  }
}

async function waitReady(
  c: ComponentState,
  s: LabSettings,
  rpc: RpcClient,
  signal: AbortSignal,
  spec: ComponentSpec | undefined,
): Promise<void> {
  const deadline = performance.now() + s.readyTimeoutMs;
  let wait = 5;
  let lastError = "";
  for (;;) {
    if (!isAlive(c.pid)) {
      throw new EnvironmentError(`${describe(c, spec)} exited during start-up; nothing is left running`, [
        `last lines of ${c.log}:`,
        ...tailLines(c.log).map((l) => `  ${l}`),
        ...(spec?.extraLogs ?? []).flatMap((f) => [`last lines of ${f}:`, ...tailLines(f, 5).map((l) => `  ${l}`)]),
      ]);
    }
    try {
      if (spec === undefined) await rpc.call("core.version");
      else await spec.probeReady();
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (performance.now() > deadline) {
      throw new EnvironmentError(
        `${describe(c, spec)} was not ready within ${s.readyTimeoutMs} ms (${lastError}); nothing is left running`,
        [
          `last lines of ${c.log}:`,
          ...tailLines(c.log).map((l) => `  ${l}`),
          ...(spec?.extraLogs ?? []).flatMap((f) => [`last lines of ${f}:`, ...tailLines(f, 8).map((l) => `  ${l}`)]),
        ],
      );
    }
    await delay(wait, signal);
    wait = Math.min(wait * 2, 50);
  }
}

function describe(c: ComponentState, spec: ComponentSpec | undefined): string {
  return spec?.label ?? `kamailio (${c.address}:${c.port}/udp)`;
}

function stillRunningError(labDir: string, r: StopReport): EnvironmentError {
  return new EnvironmentError(
    `could not stop everything of the lab in ${labDir}; still running: ${r.stillRunning.map(describeProc).join("; ")}`,
    [`stop them yourself: kill -KILL ${r.stillRunning.map((p) => p.pid).join(" ")} (as their owner or root)`],
  );
}

export interface DownResult {
  wasRunning: boolean;
  stopped: StopReport["stopped"];
  /** recorded pids that now belong to other programs: left alone */
  notOurs: string[];
  /** lab.json was missing or corrupt and the processes were found by their command line */
  foundByCommandLine: boolean;
  /** a corrupt lab.json moved aside to this path */
  corruptStateMovedTo?: string;
}

/**
 * Stop everything the lab started (whole process groups, only those proven ours), remove sockets
 * and state. Processes are found by lab.json and, when it is missing or corrupt (or the lab dir was
 * deleted), by their command line naming the lab dir. Idempotent. Throws EnvironmentError (exit 3)
 * naming what is still running when something cannot be stopped.
 */
export async function labDown(labDir: string): Promise<DownResult> {
  const p = labPaths(labDir);
  let state: LabState | undefined;
  let corrupt = false;
  try {
    state = readLabState(p);
  } catch (err) {
    if (!(err instanceof LabStateCorruptError)) throw err;
    corrupt = true;
  }
  const recorded: StopReport = state
    ? await stopRecorded(state, labDir)
    : { stopped: [], notOurs: [], notOursPids: [], stillRunning: [] };
  // anything of this lab dir not in lab.json (or no lab.json at all): found by its command line
  const found = await stopFound(labDir, recorded.notOursPids);
  const stillRunning = [...recorded.stillRunning, ...found.stillRunning];
  const stopped = [...recorded.stopped, ...found.stopped];
  if (stillRunning.length > 0)
    throw stillRunningError(labDir, {
      stopped,
      notOurs: recorded.notOurs,
      notOursPids: recorded.notOursPids,
      stillRunning,
    });
  rmSync(p.ctlSocket, { force: true });
  rmSync(p.rpcSecretCfg, { force: true });
  const result: DownResult = {
    wasRunning: state !== undefined || found.stopped.length > 0,
    stopped,
    notOurs: recorded.notOurs,
    foundByCommandLine: found.stopped.length > 0,
  };
  if (state) removeLabState(p);
  if (corrupt) result.corruptStateMovedTo = setAsideCorruptState(p);
  return result;
}

export type ComponentHealth = "alive" | "dead" | "frozen" | "unhealthy" | "not ours";

export interface ComponentStatus {
  role: ComponentRole;
  address: string;
  pid: number;
  /** the recorded process exists and is ours (start time and command line match), frozen or not */
  alive: boolean;
  /** alive and answering: not stopped (state T), Kamailio answers RPC */
  state: ComponentHealth;
  /** why it is not "alive" */
  reason?: string;
  version: string;
}

export interface LabStatus {
  /** every component alive and healthy */
  running: boolean;
  labDir: string;
  components: ComponentStatus[];
  /** what is wrong, one line each (empty when running) */
  problems: string[];
  dispatcher: DispatcherView;
  activeCalls: Partial<Record<BackendRole, number>>;
  /** FreeSWITCH backends only: channels up by each FreeSWITCH's own count (`show channels count`) */
  pbxChannels?: Partial<Record<BackendRole, number>>;
}

async function binaryVersion(argv: string[]): Promise<string> {
  let text: string;
  try {
    const { stdout, stderr } = await execFileP(argv[0]!, argv.slice(1), { timeout: 3000 });
    text = `${stdout}\n${stderr}`;
  } catch (err) {
    // `sipp -v` prints its version and exits non-zero
    const e = err as { stdout?: string; stderr?: string; message: string };
    text = `${e.stdout ?? ""}\n${e.stderr ?? ""}`;
    if (text.trim() === "") return `unknown (${e.message.split("\n")[0]})`;
  }
  {
    const k = /version:\s*(kamailio\s+\S+)/i.exec(text);
    if (k) return k[1]!;
    const sp = /SIPp\s+v?([\w.-]+)/i.exec(text);
    if (sp) return `SIPp ${sp[1]!.replace(/\.$/, "")}`;
    return text.trim().split("\n")[0] ?? "unknown";
  }
}

/** The version cell of `lab status` for a component: asked of the component itself where it can answer. */
async function componentVersion(s: LabSettings, c: ComponentState): Promise<string> {
  switch (c.role) {
    case "kamailio":
      return binaryVersion([c.argv[0]!, "-v"]);
    case "postgres":
      return postgresStatusText(c.argv);
    case "fusionpbx-old":
    case "fusionpbx-new":
      return fusionpbxStatusText(s, c.role === "fusionpbx-old" ? "old" : "new", c.argv);
    case "rtpengine":
      return (await binaryVersion([c.argv[0]!, "--version"])).replace(/^Version:\s*/, "rtpengine ");
    default:
      return (await backendVersion(s, c.role)) ?? (await binaryVersion([c.argv[0]!, "-v"]));
  }
}

export async function labStatus(labDir: string): Promise<LabStatus> {
  const p = labPaths(labDir);
  const state = readLabState(p); // corrupt: exit 3
  if (!state) {
    const orphans = findLabProcesses(labDir);
    return {
      running: false,
      labDir,
      components: [],
      problems:
        orphans.length === 0
          ? []
          : [
              `${p.state} is missing, but processes of this lab dir are running: ${orphans.map(describeProc).join("; ")}; \`pbx-cutover lab down --lab-dir ${labDir}\` stops them`,
            ],
      dispatcher: { mode: "unavailable", destinations: [] },
      activeCalls: {},
    };
  }
  const s = state.settings;
  const RPC_TIMEOUT_MS = 1000;
  const components: ComponentStatus[] = await Promise.all(
    state.components.map(async (c) => {
      const o = ownershipOf(c, labDir);
      const base = {
        role: c.role,
        address: `${c.address}:${c.port}/${componentProto(c.role)}`,
        pid: c.pid,
        version: await componentVersion(s, c),
      };
      if (o.kind === "gone") return { ...base, alive: false, state: "dead" as const, reason: `pid ${c.pid} is gone` };
      if (o.kind === "not-ours") return { ...base, alive: false, state: "not ours" as const, reason: o.why };
      if (isFrozen(o.proc)) {
        return {
          ...base,
          alive: true,
          state: "frozen" as const,
          reason: `pid ${c.pid} is stopped (process state ${o.proc.state}, e.g. SIGSTOP); resume it with kill -CONT -${c.pid}`,
        };
      }
      return { ...base, alive: true, state: "alive" as const };
    }),
  );
  const rpc = rpcClientFor(s, RPC_TIMEOUT_MS);
  let dispatcher: LabStatus["dispatcher"];
  const activeCalls: LabStatus["activeCalls"] = {};
  try {
    const obs = await observeRuntime(rpc, {
      setId: s.kamailio.setId,
      uris: { old: backendUri(s, "old"), new: backendUri(s, "new") },
    });
    Object.assign(activeCalls, obs.active);
    dispatcher = dispatcherView(obs);
    if (obs.error !== undefined) {
      const k = components.find((c) => c.role === "kamailio");
      if (k && k.state === "alive") {
        k.state = "unhealthy";
        k.reason = `its JSON-RPC (${rpc.endpoint}) did not answer: ${obs.error}`;
      }
    }
  } finally {
    rpc.close();
  }
  const problems = components
    .filter((c) => c.state !== "alive")
    .map((c) => `${c.role} is ${c.state}: ${c.reason ?? "?"}`);
  const pbxChannels = await backendChannelCounts(s);
  return {
    running: problems.length === 0,
    labDir,
    components,
    problems,
    dispatcher,
    activeCalls,
    ...(pbxChannels ? { pbxChannels } : {}),
  };
}
