import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { EnvironmentError, UsageError } from "../cli/errors.js";
import { abortable, delay, type Scope } from "../cli/scope.js";
import type { LabSettings } from "../config/lab-config.js";
import { buildProfile, renderProfile } from "../dispatcher/profile.js";
import { loadKamailioTemplate, renderKamailioConfig } from "../kamailio/config-template.js";
import { HttpJsonRpcClient, type RpcClient } from "../kamailio/rpc.js";
import { modeOf, parseDispatcherListResult, type RuntimeMode } from "../kamailio/runtime.js";
import { backendPorts, backendSpecs, backendVersion, requireBackendPrograms, stopGraceMs, type BackendSpec } from "./backend-spec.js";
import { requireBinaries } from "./binaries.js";
import {
  backendUri,
  kamailioArgv,
  labPaths,
  type BackendRole,
  type ComponentRole,
} from "./layout.js";
import { describePortInUse, findPortOwner, isTcpFree, isUdpFree, type PortInUse } from "./ports.js";
import { isAlive, spawnDetached, stopGroup, tailLines } from "./process.js";
import { readLabState, removeLabState, writeLabState, type ComponentState, type LabState } from "./state.js";
import { ensureDir } from "../files/ensure-dir.js";

const execFileP = promisify(execFile);
const KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

export function rpcClientFor(s: LabSettings, timeoutMs = 2000): RpcClient {
  return new HttpJsonRpcClient(s.kamailio.address, s.kamailio.rpcPort, timeoutMs);
}

async function portsInUse(s: LabSettings): Promise<PortInUse[]> {
  const checks: { proto: "udp" | "tcp"; address: string; port: number }[] = [
    { proto: "udp", address: s.kamailio.address, port: s.kamailio.sipPort },
    { proto: "tcp", address: s.kamailio.address, port: s.kamailio.rpcPort },
    ...backendPorts(s, "old"),
    ...backendPorts(s, "new"),
  ];
  const free = await Promise.all(
    checks.map((c) => (c.proto === "udp" ? isUdpFree(c.address, c.port) : isTcpFree(c.address, c.port))),
  );
  return checks
    .filter((_c, i) => !free[i])
    .map((c) => ({ ...c, owner: findPortOwner(c.proto, c.address, c.port) }));
}

export interface UpResult {
  state: LabState;
  alreadyRunning: boolean;
  readyMs: number;
  /** roles found dead in a previous lab of this lab dir: the rest was stopped and the lab started afresh */
  replacedDead?: ComponentRole[];
}

/** Is every component of a recorded lab alive? */
function componentsAlive(state: LabState): boolean {
  return state.components.every((c) => isAlive(c.pid, c.comm));
}

/**
 * Start Kamailio and the two SIPp backends and return when all three are ready (RPC answers,
 * both backends answer OPTIONS). On failure or interrupt everything started is stopped.
 */
export async function labUp(s: LabSettings, scope: Scope): Promise<UpResult> {
  const started = performance.now();
  const p = labPaths(s.labDir);
  const existing = readLabState(p);
  if (existing && componentsAlive(existing)) {
    return { state: existing, alreadyRunning: true, readyMs: 0 };
  }
  // stale: a component died; stop the rest and start afresh (and say so)
  const replacedDead = existing ? existing.components.filter((c) => !isAlive(c.pid, c.comm)).map((c) => c.role) : undefined;
  if (existing) await stopComponents(existing);
  const bins = requireBinaries(s.backends === "sipp" ? ["kamailio", "sipp"] : ["kamailio"]);
  const trees = requireBackendPrograms(s);
  const busy = await portsInUse(s);
  if (busy.length > 0) {
    throw new EnvironmentError(`${busy.map(describePortInUse).join("; ")}; nothing was started`, [
      "stop whatever holds it, or pick other ports (--sip-port, --rpc-port, --old-port, --new-port" +
        (s.backends === "freeswitch" ? ", --old-esl-port, --new-esl-port)" : ")"),
    ]);
  }

  try {
    ensureDir(p.labDir);
  } catch (err) {
    throw new UsageError(`cannot create the lab directory ${p.labDir}: ${(err as Error).message}; nothing was started`, [
      "pass a writable --lab-dir",
    ]);
  }
  rmSync(p.ctlSocket, { force: true });
  for (const role of ["old", "new"] as const) {
    for (const f of Object.values(p.backend(role))) rmSync(f, { force: true });
  }
  rmSync(p.kamailioLog, { force: true });
  writeFileSync(
    p.kamailioConfig,
    renderKamailioConfig(loadKamailioTemplate(), {
      sipAddr: s.kamailio.address,
      sipPort: s.kamailio.sipPort,
      rpcPort: s.kamailio.rpcPort,
      children: s.kamailio.children,
      reloadDelta: s.kamailio.reloadDelta,
      setId: s.kamailio.setId,
      ctlSocket: p.ctlSocket,
      dispatcherList: p.dispatcherList,
      modulePath: KAMAILIO_MODULES,
      dispatcherAlg: s.kamailio.dispatcherAlg,
      hepAddr: s.hep.address,
      hepPort: s.hep.port,
    }),
  );
  // initial profile: old only
  writeFileSync(
    p.dispatcherList,
    renderProfile(buildProfile("old", { setId: s.kamailio.setId, oldUri: backendUri(s, "old"), newUri: backendUri(s, "new") })),
  );

  const specs = await backendSpecs(s, p, { sipp: "sipp" in bins ? bins.sipp : undefined, trees });
  const components: ComponentState[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(components.map((c) => stopGroup(c.pid, stopGraceMs(c.comm))));
  };
  scope.defer("lab components", stopAll);

  const kArgv = kamailioArgv(bins.kamailio, s, p);
  components.push({
    role: "kamailio",
    pid: spawnDetached(kArgv, p.kamailioLog, p.labDir),
    comm: "kamailio",
    address: s.kamailio.address,
    port: s.kamailio.sipPort,
    log: p.kamailioLog,
    argv: kArgv,
  });
  for (const b of specs) {
    components.push({
      role: b.role,
      pid: spawnDetached(b.argv, b.log, p.labDir),
      comm: b.comm,
      address: s[b.role].address,
      port: s[b.role].port,
      log: b.log,
      argv: b.argv,
    });
  }
  const state: LabState = {
    version: 1,
    driver: "native",
    startedAt: new Date().toISOString(),
    settings: s,
    components,
  };
  // recorded before readiness, so `lab down` can clean up even if this process is killed
  writeLabState(p, state);
  scope.defer("lab state", () => removeLabState(p));

  const rpc = rpcClientFor(s, 500);
  try {
    await abortable(
      scope.signal,
      Promise.all(components.map((c) => waitReady(c, s, rpc, scope.signal, specs.find((b) => b.role === c.role)))),
    );
  } finally {
    rpc.close();
  }
  // ready: the lab outlives this command
  scope.release("lab state");
  scope.release("lab components");
  return { state, alreadyRunning: false, readyMs: performance.now() - started, ...(replacedDead ? { replacedDead } : {}) };
}

async function waitReady(c: ComponentState, s: LabSettings, rpc: RpcClient, signal: AbortSignal, spec: BackendSpec | undefined): Promise<void> {
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
        [`last lines of ${c.log}:`, ...tailLines(c.log).map((l) => `  ${l}`), ...(spec?.extraLogs ?? []).flatMap((f) => [`last lines of ${f}:`, ...tailLines(f, 8).map((l) => `  ${l}`)])],
      );
    }
    await delay(wait, signal);
    wait = Math.min(wait * 2, 50);
  }
}

function describe(c: ComponentState, spec: BackendSpec | undefined): string {
  return spec?.label ?? `kamailio (${c.address}:${c.port}/udp)`;
}

async function stopComponents(state: LabState): Promise<{ role: ComponentRole; pid: number; result: string }[]> {
  const stop = async (c: ComponentState): Promise<{ role: ComponentRole; pid: number; result: string }> => {
    const leaderOk = isAlive(c.pid, c.comm) || !isAlive(c.pid);
    const result = leaderOk ? await stopGroup(c.pid, stopGraceMs(c.comm)) : "absent (pid reused by another program; left alone)";
    return { role: c.role, pid: c.pid, result };
  };
  // reverse start order: the backends first (together: FreeSWITCH takes seconds each), then the proxy
  const reversed = [...state.components].reverse();
  const backends = await Promise.all(reversed.filter((c) => c.role !== "kamailio").map(stop));
  const proxy: { role: ComponentRole; pid: number; result: string }[] = [];
  for (const c of reversed.filter((c) => c.role === "kamailio")) proxy.push(await stop(c));
  return [...backends, ...proxy];
}

export interface DownResult {
  wasRunning: boolean;
  stopped: { role: ComponentRole; pid: number; result: string }[];
}

/** Stop everything the lab started (whole process groups), remove sockets and state. Idempotent. */
export async function labDown(labDir: string): Promise<DownResult> {
  const p = labPaths(labDir);
  const state = readLabState(p);
  if (!state) return { wasRunning: false, stopped: [] };
  const stopped = await stopComponents(state);
  rmSync(p.ctlSocket, { force: true });
  removeLabState(p);
  return { wasRunning: true, stopped };
}

export interface ComponentStatus {
  role: ComponentRole;
  address: string;
  pid: number;
  alive: boolean;
  version: string;
}

export interface LabStatus {
  running: boolean;
  labDir: string;
  components: ComponentStatus[];
  dispatcher: { mode: RuntimeMode | "unavailable"; destinations: string[]; error?: string };
  activeCalls: Partial<Record<BackendRole, number>>;
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

export async function labStatus(labDir: string): Promise<LabStatus> {
  const p = labPaths(labDir);
  const state = readLabState(p);
  if (!state) {
    return { running: false, labDir, components: [], dispatcher: { mode: "unavailable", destinations: [] }, activeCalls: {} };
  }
  const s = state.settings;
  const components = await Promise.all(
    state.components.map(async (c) => ({
      role: c.role,
      address: `${c.address}:${c.port}/udp`,
      pid: c.pid,
      alive: isAlive(c.pid, c.comm),
      version: (c.role === "kamailio" ? undefined : await backendVersion(s, c.role)) ?? (await binaryVersion([c.argv[0]!, "-v"])),
    })),
  );
  const rpc = rpcClientFor(s, 1000);
  let dispatcher: LabStatus["dispatcher"];
  const activeCalls: LabStatus["activeCalls"] = {};
  try {
    const dests = parseDispatcherListResult(await rpc.call("dispatcher.list"));
    dispatcher = {
      mode: modeOf(dests, s.kamailio.setId, backendUri(s, "old"), backendUri(s, "new")),
      destinations: dests.filter((d) => d.setId === s.kamailio.setId).map((d) => `${d.uri} (${d.flags})`),
    };
    for (const role of ["old", "new"] as const) {
      const n = await rpc.call("dlg.profile_get_size", ["backend", backendUri(s, role)]);
      activeCalls[role] = Number(n);
    }
  } catch (err) {
    dispatcher = { mode: "unavailable", destinations: [], error: (err as Error).message };
  } finally {
    rpc.close();
  }
  return { running: components.every((c) => c.alive), labDir, components, dispatcher, activeCalls };
}
