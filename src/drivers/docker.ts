import path from "node:path";
import { UsageError } from "../core/errors.js";
import { runArgv } from "../os/run-argv.js";
import {
  dockerEventSocket,
  dockerFusionpbxUrls,
  dockerLabDown,
  dockerLabUp,
  dockerStateDir,
} from "../lab/docker/docker-lab.js";
import { dockerTarget } from "../lab/docker/docker-target.js";
import { requireEngine, START_ENGINE_ENV } from "../lab/docker/engine.js";
import { IMAGE_SET_ENV, parseImageSet, type ImageSet } from "../lab/docker/images.js";
import { dockerVersionSources } from "../lab/docker/lab-verify.js";
import { DOCKER_LAB_DIR, DOCKER_LAB_POLICY, type DockerBackends } from "../lab/docker/topology.js";
import type { VerifySection } from "../config/verify-config.js";
import type { DockerChoice, DriverFlags, DriverKind } from "./driver.js";

/** Which image set: the flag, else the env setting, else local (exit 2 on anything else). */
export function dockerImagesFrom(opts: DriverFlags, env: NodeJS.ProcessEnv = process.env): ImageSet {
  try {
    return (
      parseImageSet(opts.dockerImages, "--docker-images") ?? parseImageSet(env[IMAGE_SET_ENV], IMAGE_SET_ENV) ?? "local"
    );
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; nothing was started`);
  }
}

/** Start dockerd when none answers: the flag, or the env setting (1/true/yes). */
export function dockerStartEngineFrom(opts: DriverFlags, env: NodeJS.ProcessEnv = process.env): boolean {
  if (opts.dockerStartEngine === true) return true;
  const v = env[START_ENGINE_ENV];
  if (v === undefined || v === "" || v === "0" || v === "false" || v === "no") return false;
  if (v === "1" || v === "true" || v === "yes") return true;
  throw new UsageError(`${START_ENGINE_ENV}=${JSON.stringify(v)}: must be 1 or 0; nothing was started`);
}

/** Which docker backends: the flag, else sipp when the command needs per-call evidence, else freeswitch. */
export function dockerBackendsFrom(opts: DriverFlags, needsEvidence: boolean): DockerBackends {
  const b = opts.dockerBackends;
  if (b === undefined) return needsEvidence ? "sipp" : "freeswitch";
  if (b !== "freeswitch" && b !== "sipp") {
    throw new UsageError(`--docker-backends must be freeswitch or sipp, got ${JSON.stringify(b)}`);
  }
  return b;
}

/**
 * The Docker real-services lab: Kamailio and the backends in containers of the compose directory
 * (RPC through `docker exec ... kamcmd`, round-robin); its topology is its own, never a running
 * native lab's.
 */
export const dockerDriver: DriverKind<DockerChoice> = {
  name: "docker",
  adoptsRunningLab: false,
  choose: ({ settings, flags, needsEvidence, env }) => ({
    driver: "docker",
    settings,
    dir: flags.dockerDir ?? DOCKER_LAB_DIR,
    backends: dockerBackendsFrom(flags, needsEvidence),
    images: dockerImagesFrom(flags, env),
    startEngine: dockerStartEngineFrom(flags, env),
    // the docker lab's images and FreeSWITCH take longer than the native lab's default
    readyTimeoutMs: flags.readyTimeoutMs !== undefined ? settings.readyTimeoutMs : 120_000,
  }),
  bind: (c) => ({
    name: "docker",
    sipPolicy: DOCKER_LAB_POLICY,
    dispatcherAlgorithm: 4,
    lockDir: path.resolve(dockerStateDir(c.dir)),
    where: `docker dir ${c.dir}`,
    realPbx: false,
    mirroredCalls: undefined,
    destinationsFrom: undefined,
    echoesMedia: false,
    mediaRelay: undefined,
    placesTraffic: false,
    restartWatchMs: undefined,
    kamailioDownHint:
      "Kamailio does not answer; is the lab up? pbx-cutover lab status --driver docker (start it with pbx-cutover lab up --driver docker)",
    // the engine must answer (exit 3 with what to do), unless the command's LabControl.ensureUp is to start one
    openTarget: async () => {
      if (!c.startEngine) await requireEngine(runArgv, { start: false, stateDir: dockerStateDir(c.dir) });
      return dockerTarget(c.dir, c.backends);
    },
    lab: () => ({
      readyTimeoutMs: c.readyTimeoutMs,
      async ensureUp(scope) {
        const { dir, backends, images, startEngine, readyTimeoutMs } = c;
        const r = await dockerLabUp({ dir, backends, readyTimeoutMs, images, startEngine }, scope);
        if (r.alreadyRunning) return { alreadyRunning: true, startedFromNothing: false, readyMs: 0 };
        return { alreadyRunning: false, startedFromNothing: !r.partlyRunning, readyMs: r.readyMs };
      },
      down: async () => {
        await dockerLabDown({ dir: c.dir, backends: c.backends, images: c.images });
      },
    }),
    // inside the containers: freeswitch -version, FusionPBX's software.php
    versionSources: () => dockerVersionSources(runArgv, c.images),
    withVerifyDefaults: (config) => withDockerVerifyDefaults(config, c),
  }),
};

/**
 * Each FreeSWITCH's event socket from the lab's own secret (the compose directory's .state/, reached
 * over the lab network) and each FusionPBX's published web UI, unless the config names one.
 */
function withDockerVerifyDefaults(config: VerifySection, c: DockerChoice): VerifySection {
  const urls = dockerFusionpbxUrls();
  const out: VerifySection = { ...config };
  for (const role of ["old", "new"] as const) {
    out[role] = { ...config[role], fusionpbxUrl: config[role].fusionpbxUrl ?? urls[role] };
    if (c.backends !== "freeswitch") continue;
    const es = config[role].eventSocket ? undefined : dockerEventSocket(c.dir, role);
    if (es) out[role] = { ...out[role], eventSocket: es };
  }
  return out;
}
