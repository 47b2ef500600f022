import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { EnvironmentError } from "../../core/errors.js";
import { delay, type Scope } from "../../core/scope.js";
import { ensureDir } from "../../files/ensure-dir.js";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import { RPC_SECRET_CFG, writeRpcSecret } from "../../kamailio/rpc-secret.js";
import { loadKamailioTemplate } from "../../kamailio/config-template.js";
import { dispatcherView, observeDispatcher, type DispatcherView } from "../../observe/runtime.js";
import { eslApi } from "../../freeswitch/event-socket.js";
import { freeswitchPaths, renderFreeswitchConfig } from "../freeswitch/config.js";
import { findPortOwner, isTcpFree, isUdpFree } from "../../os/ports.js";
import { probeFusionpbxPage } from "../../verify/fusionpbx-page.js";
import { composeDownArgv, composeUpArgv, labContainersArgv, type ComposeSelection } from "./argv.js";
import { runArgv, runArgvWith } from "../../os/run-argv.js";
import { dockerInitialDispatcherList, dockerKamailioConfig } from "./docker-files.js";
import { dockerTarget } from "./docker-target.js";
import { dockerdStartedByUs, requireEngine, stopDockerd, type Engine } from "./engine.js";
import { ensureLocalImages, type BuiltImage } from "./image-build.js";
import type { ImageSet } from "./images.js";
import type { ArgvRunner } from "../../kamailio/kamcmd-rpc.js";
import {
  CONTAINERS,
  HOST_DIRS,
  IN_CONTAINER,
  NETWORK,
  PORT_ENV,
  hostPort,
  hostSipPort,
  type DockerBackends,
} from "./topology.js";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * `lab up / down / status --driver docker` on a real Docker engine: the engine (found, or started
 * when asked), the images (built locally when their inputs changed, or the seed's pulled ones),
 * the files the containers mount, `compose up`, and readiness (Kamailio answers kamcmd, each
 * FreeSWITCH's event socket answers and its SIP profile runs). The SIPp containers
 * (docker-compose.calls.yml) come up too when the backends are `sipp`.
 */
export interface DockerLabOptions {
  dir: string;
  backends: DockerBackends;
  readyTimeoutMs: number;
  images: ImageSet;
  /** start Debian's dockerd when no engine answers (root), and stop it at `lab down` */
  startEngine: boolean;
  run?: ArgvRunner;
}

export interface DockerLabUp {
  readyMs: number;
  argv: string[];
  engine: Engine;
  images: BuiltImage[];
  /** the lab's containers were all running already */
  alreadyRunning: boolean;
  /** some of its containers were running (someone's lab: not the caller's to stop) */
  partlyRunning: boolean;
}

function tail(text: string, n = 8): string[] {
  return text
    .trim()
    .split("\n")
    .slice(-n)
    .map((l) => `  ${l}`);
}

export function dockerStateDir(dir: string): string {
  return path.join(dir, HOST_DIRS.state);
}

function selection(o: Pick<DockerLabOptions, "backends" | "images">, calls = o.backends === "sipp"): ComposeSelection {
  return { calls, images: o.images };
}

/** The host ports the lab publishes, each free or exit 3 naming who holds it (nothing started yet). */
async function requirePortsFree(): Promise<void> {
  const checks: [proto: "udp" | "tcp", port: number, what: string, free: (a: string, p: number) => Promise<boolean>][] =
    [
      ["udp", hostSipPort(), "Kamailio's SIP port", isUdpFree],
      ["tcp", hostPort("fusionpbxOld"), "the old FusionPBX's web UI", isTcpFree],
      ["tcp", hostPort("fusionpbxNew"), "the new FusionPBX's web UI", isTcpFree],
    ];
  for (const [proto, port, what, free] of checks) {
    if (await free("127.0.0.1", port)) continue;
    const owner = findPortOwner(proto, "127.0.0.1", port);
    throw new EnvironmentError(
      `127.0.0.1:${port}/${proto} (${what}, published by the docker lab) is in use${owner ? ` by ${owner.comm} (pid ${owner.pid})` : ""}; nothing was started`,
      [
        `stop whatever holds it (a native lab on the same port: pbx-cutover lab down), or publish another port: ${PORT_ENV[portKey(proto, port)]}=<port>`,
      ],
    );
  }
}

function portKey(proto: "udp" | "tcp", port: number): "kamailioSip" | "fusionpbxOld" | "fusionpbxNew" {
  if (proto === "udp") return "kamailioSip";
  return port === hostPort("fusionpbxOld") ? "fusionpbxOld" : "fusionpbxNew";
}

/** The FusionPBX databases' password: new every start (the volumes go at `lab down`), 0600 in the state dir, passed to compose in its environment. */
function writeDbSecret(stateDir: string): string {
  const pw = randomBytes(16).toString("hex");
  writeFileAtomic(path.join(stateDir, "fusionpbx-db.secret"), pw + "\n", { mode: FileMode.private });
  return pw;
}

/** The FusionPBX web UIs on their published loopback ports. */
export function dockerFusionpbxUrls(env: NodeJS.ProcessEnv = process.env): Record<BackendRole, string> {
  return {
    old: `http://127.0.0.1:${hostPort("fusionpbxOld", env)}/`,
    new: `http://127.0.0.1:${hostPort("fusionpbxNew", env)}/`,
  };
}

/** Each FreeSWITCH's run directory in the state dir: its freeswitch.xml and event-socket secret (both 0600). */
function writeFreeswitchFiles(stateDir: string): void {
  for (const role of ["old", "new"] as const) {
    const host = freeswitchPaths(stateDir, role);
    const inContainer = freeswitchPaths(IN_CONTAINER.freeswitchLabDir, role);
    for (const d of host.dirs) ensureDir(d);
    const password = randomBytes(16).toString("hex");
    writeFileAtomic(host.secretFile, password + "\n", { mode: FileMode.private });
    writeFileAtomic(
      host.configFile,
      renderFreeswitchConfig({
        role,
        sipAddress: NETWORK.freeswitch[role],
        sipPort: IN_CONTAINER.freeswitchSipPort,
        eventSocketAddress: NETWORK.freeswitch[role],
        eventSocketPort: IN_CONTAINER.freeswitchEventSocketPort,
        eventSocketPassword: password,
        eventSocketAcl: "localnet.auto",
        rtpStart: 16384,
        rtpEnd: 16483,
        logFile: inContainer.logFile,
      }),
      { mode: FileMode.private },
    );
  }
}

/** The seed images' event socket password is the compose file's default (ClueCon): recorded for the probes. */
function writeSeedSecrets(stateDir: string): void {
  for (const role of ["old", "new"] as const) {
    const host = freeswitchPaths(stateDir, role);
    ensureDir(host.base);
    writeFileAtomic(host.secretFile, "ClueCon\n", { mode: FileMode.private });
  }
}

/** A FreeSWITCH container's event socket (from the host, over the lab network) and its password. */
export function dockerEventSocket(
  dir: string,
  role: BackendRole,
): { host: string; port: number; password: string } | undefined {
  const secret = freeswitchPaths(dockerStateDir(dir), role).secretFile;
  if (!existsSync(secret)) return undefined;
  return {
    host: NETWORK.freeswitch[role],
    port: IN_CONTAINER.freeswitchEventSocketPort,
    password: readFileSync(secret, "utf8").trim(),
  };
}

async function probeReady(dir: string, o: DockerLabOptions, run: ArgvRunner): Promise<void> {
  const target = dockerTarget(dir, o.backends, run);
  try {
    await target.rpc.call("core.version");
  } finally {
    target.close();
  }
  if (o.backends === "freeswitch") {
    for (const role of ["old", "new"] as const) {
      const es = dockerEventSocket(dir, role);
      if (!es) throw new Error(`no event-socket secret for the ${role} FreeSWITCH`);
      const status = await eslApi({ host: es.host, port: es.port }, es.password, "sofia status", 1500);
      if (!/\bRUNNING\b/.test(status))
        throw new Error(`${CONTAINERS.freeswitch[role]}: its SIP profile is not running yet`);
    }
  }
  const urls = dockerFusionpbxUrls();
  for (const role of ["old", "new"] as const) {
    // as the native lab: `/` leads to FusionPBX's installer or login page
    const r = await probeFusionpbxPage(urls[role], 2000);
    if (!r.reachable)
      throw new Error(`${CONTAINERS.fusionpbx[role]}: ${urls[role]} does not answer (${r.error ?? "?"})`);
    if (r.page !== "installer" && r.page !== "login")
      throw new Error(
        `${CONTAINERS.fusionpbx[role]}: GET / answered ${r.chain}, not FusionPBX's installer or login page`,
      );
  }
}

export async function dockerLabUp(o: DockerLabOptions, scope: Scope): Promise<DockerLabUp> {
  const run = o.run ?? runArgv;
  const started = performance.now();
  const stateDir = dockerStateDir(o.dir);
  ensureDir(stateDir);
  const engine = await requireEngine(run, { start: o.startEngine, stateDir });
  if (engine.startedPid !== undefined) scope.defer("dockerd", () => stopDockerd(stateDir).then(() => undefined));
  const before = await labContainers(run);
  const wanted = [
    CONTAINERS.kamailio,
    CONTAINERS.freeswitch.old,
    CONTAINERS.freeswitch.new,
    CONTAINERS.fusionpbx.old,
    CONTAINERS.fusionpbx.new,
    CONTAINERS.fusionpbxDb.old,
    CONTAINERS.fusionpbxDb.new,
    ...(o.backends === "sipp" ? [CONTAINERS.sippUas.old, CONTAINERS.sippUas.new, CONTAINERS.sippUac] : []),
  ];
  const running = new Set(before.filter((c) => c.state === "running").map((c) => c.name));
  const alreadyRunning = wanted.every((n) => running.has(n));
  if (before.length === 0) await requirePortsFree();

  const images = o.images === "local" ? await ensureLocalImages(run, scope, stateDir) : [];

  // the project's Kamailio config and the initial profile `old`, into the mounted directory
  const kdir = path.join(o.dir, HOST_DIRS.kamailio);
  ensureDir(kdir);
  ensureDir(path.join(o.dir, HOST_DIRS.sippLogs));
  if (!alreadyRunning) {
    // the secret its JSON-RPC checks (the container's address is reachable by every local user); the tool itself uses kamcmd
    writeRpcSecret(path.join(kdir, RPC_SECRET_CFG));
    writeFileAtomic(path.join(kdir, "kamailio.cfg"), dockerKamailioConfig(loadKamailioTemplate(), o.images), {
      mode: FileMode.public,
    });
    writeFileAtomic(path.join(kdir, "dispatcher.list"), dockerInitialDispatcherList(o.backends), {
      mode: FileMode.public,
      fsync: true,
    });
    if (o.images === "local") writeFreeswitchFiles(stateDir);
    else writeSeedSecrets(stateDir);
  }

  const sel = selection(o);
  const argv = composeUpArgv(engine.compose, o.dir, sel);
  if (!alreadyRunning) {
    scope.defer("docker compose down", async () => {
      await run(composeDownArgv(engine.compose, o.dir, selection(o, true)), 180_000).catch(() => undefined);
    });
    const up = await runArgvWith({ FUSIONPBX_DB_PASSWORD: writeDbSecret(stateDir) })(argv, 10 * 60_000);
    if (up.code !== 0) {
      throw new EnvironmentError(
        `\`${argv.join(" ")}\` failed (exit ${up.code}); the lab was taken down again`,
        tail(up.stderr || up.stdout),
      );
    }
  }
  const deadline = performance.now() + o.readyTimeoutMs;
  let last = "";
  for (;;) {
    try {
      await probeReady(o.dir, o, run);
      break;
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > deadline) {
      const dead = (await labContainers(run)).filter((c) => c.state !== "running");
      throw new EnvironmentError(
        `the docker lab was not ready within ${o.readyTimeoutMs} ms (${last}); the lab was taken down again`,
        [...dead.map((c) => `  ${c.name}: ${c.status}`), `  logs: docker logs ${CONTAINERS.kamailio}`],
      );
    }
    await delay(250, scope.signal);
  }
  scope.release("docker compose down");
  scope.release("dockerd");
  return {
    readyMs: performance.now() - started,
    argv,
    engine,
    images,
    alreadyRunning,
    partlyRunning: running.size > 0,
  };
}

export interface DockerLabDown {
  argv: string[] | undefined;
  dockerd: "stopped" | "none" | "not ours";
}

export async function dockerLabDown(
  o: Omit<DockerLabOptions, "readyTimeoutMs" | "startEngine">,
): Promise<DockerLabDown> {
  const run = o.run ?? runArgv;
  const stateDir = dockerStateDir(o.dir);
  let argv: string[] | undefined;
  const engine = await requireEngine(run, { start: false, stateDir }).catch((err: unknown) => {
    // no engine: nothing of the lab can be running; a dockerd record left behind is cleared below
    if (dockerdStartedByUs(stateDir)) throw err;
    return undefined;
  });
  if (engine) {
    // every file, so the SIPp containers go too whichever way the lab was started
    argv = composeDownArgv(engine.compose, o.dir, selection(o, true));
    const r = await run(argv, 300_000);
    if (r.code !== 0)
      throw new EnvironmentError(`\`${argv.join(" ")}\` failed (exit ${r.code})`, tail(r.stderr || r.stdout));
  }
  // leave the mounted directory as committed: the initial profile `old` with the FreeSWITCH backends
  if (existsSync(path.join(o.dir, HOST_DIRS.kamailio))) {
    writeFileAtomic(
      path.join(o.dir, HOST_DIRS.kamailio, "dispatcher.list"),
      dockerInitialDispatcherList("freeswitch"),
      { mode: FileMode.public, fsync: true },
    );
  }
  const dockerd = await stopDockerd(stateDir);
  return { argv, dockerd };
}

export interface DockerContainer {
  name: string;
  service: string;
  state: string;
  status: string;
  image: string;
}

export interface DockerLabStatus {
  engine: string;
  containers: DockerContainer[];
  dispatcher: DispatcherView;
}

async function labContainers(run: ArgvRunner): Promise<DockerContainer[]> {
  const ps = await run(labContainersArgv(), 30_000);
  if (ps.code !== 0) throw new EnvironmentError(`docker ps failed (exit ${ps.code})`, tail(ps.stderr));
  return parseDockerPs(ps.stdout);
}

export async function dockerLabStatus(
  o: Omit<DockerLabOptions, "readyTimeoutMs" | "startEngine">,
): Promise<DockerLabStatus> {
  const run = o.run ?? runArgv;
  const engine = await requireEngine(run, { start: false, stateDir: dockerStateDir(o.dir) });
  const containers = await labContainers(run);
  const target = dockerTarget(o.dir, o.backends, run);
  let dispatcher: DispatcherView;
  try {
    dispatcher = dispatcherView(
      await observeDispatcher(target.rpc, {
        setId: target.setId,
        uris: { old: target.backends.old.uri, new: target.backends.new.uri },
      }),
    );
  } finally {
    target.close();
  }
  return { engine: engine.server, containers, dispatcher };
}

/** `docker ps -a --format {{json .}}`: one JSON object per line; the compose service is in Labels. */
export function parseDockerPs(stdout: string): DockerContainer[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      const s = (k: string): string => (typeof o[k] === "string" ? o[k] : "");
      const service = /(?:^|,)com\.docker\.compose\.service=([^,]*)/.exec(s("Labels"))?.[1] ?? "";
      return { name: s("Names"), service, state: s("State"), status: s("Status"), image: s("Image") };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
