import path from "node:path";
import type { LabSettings } from "../config/lab-config.js";
import type { LabState } from "../lab/state.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import type { VersionSource } from "../verify/probes.js";
import type { VerifySection } from "../config/verify-config.js";
import { runArgv } from "../lab/docker/docker-cli.js";
import { dockerEventSocket, dockerFusionpbxUrls, dockerStateDir } from "../lab/docker/docker-lab.js";
import { requireEngine } from "../lab/docker/engine.js";
import type { ImageSet } from "../lab/docker/images.js";
import { dockerVersionSources } from "../lab/docker/lab-verify.js";
import { DOCKER_LAB_POLICY, type DockerBackends } from "../lab/docker/topology.js";
import { nativeFreeswitchVersionSources, withNativeFreeswitchDefaults } from "../lab/freeswitch/lab-verify.js";
import { nativeFusionpbxVersionSources, withNativeFusionpbxDefaults } from "../lab/fusionpbx/lab-verify.js";
import { labPaths } from "../config/lab-paths.js";
import { LAB_LOOPBACK_POLICY, type SipPolicy } from "../sip/sip-policy.js";
import { dockerTarget } from "../lab/docker/docker-target.js";
import { nativeTarget } from "../lab/native-target.js";
import type { Target } from "../target/target.js";

/**
 * Which target a command works on, as values: the command resolves its flags, the config file and
 * the running lab once (`targetChoiceFrom`, src/cli/driver-options.ts) and hands the choice down;
 * nothing here reads a flag or the config file. `openTarget` builds the Target; the driver's extra
 * version sources and verify defaults come from the same choice.
 */
export type DriverName = "native" | "docker";

export interface NativeChoice {
  driver: "native";
  /** flags over the config file over the recorded settings of a lab running in the lab dir */
  settings: LabSettings;
  /** that running lab's state file (its components: what verify reads versions from), read with the settings */
  running?: LabState;
}

export interface DockerChoice {
  driver: "docker";
  /** what the flags and config file say (HEP, knobs of the command); the Docker lab's topology is its own */
  settings: LabSettings;
  /** the directory with the compose files */
  dir: string;
  backends: DockerBackends;
  images: ImageSet;
  /** start Debian's dockerd when no engine answers (LabControl.ensureUp does it) */
  startEngine: boolean;
  readyTimeoutMs: number;
}

export type TargetChoice = NativeChoice | DockerChoice;

/**
 * The Target of a choice. Docker: checks that the engine answers first (exit 3 with what to do),
 * unless the command is to start one. The caller owns the Target: call close() when done.
 */
export async function openTarget(c: TargetChoice): Promise<Target> {
  if (c.driver === "native") return nativeTarget(c.settings);
  // asked to start an engine: the command's LabControl.ensureUp starts it (when it starts the lab)
  if (!c.startEngine) await requireEngine(runArgv, { start: false, stateDir: dockerStateDir(c.dir) });
  return dockerTarget(c.dir, c.backends);
}

/**
 * The ds_select_dst algorithm the choice's Kamailio routes with: the native lab's setting (a running
 * lab's recorded one; a --dispatcher-alg that contradicts it was exit 2 when the settings were
 * resolved), the docker lab's round-robin.
 */
export function dispatcherAlgorithmOf(c: TargetChoice): DispatcherAlgorithm {
  return c.driver === "docker" ? 4 : c.settings.kamailio.dispatcherAlg;
}

/**
 * The directory of the choice's apply lock (`Target.lockPath`), where a running plan leaves the
 * pointer to its control socket: what the control commands look in, without opening a Target.
 */
export function lockDirOf(c: TargetChoice): string {
  return c.driver === "docker" ? path.resolve(dockerStateDir(c.dir)) : path.dirname(labPaths(c.settings.labDir).lock);
}

/** The SIP policy of a driver's target (known before anything is contacted). */
export function sipPolicyOf(driver: DriverName): SipPolicy {
  return driver === "docker" ? DOCKER_LAB_POLICY : LAB_LOOPBACK_POLICY;
}

/** Extra version sources a driver offers to `verify` (docker: inside the containers; native FreeSWITCH: its binaries). */
export function versionSourcesFor(c: TargetChoice): VersionSource[] {
  if (c.driver === "docker") return dockerVersionSources(runArgv, c.images);
  return [...nativeFreeswitchVersionSources(c.running), ...nativeFusionpbxVersionSources(c.running)];
}

/**
 * Driver defaults for `verify`'s config: each FreeSWITCH's event socket, from the lab's own secret
 * (native: the lab directory; docker: the compose directory's .state/, reached over the lab network),
 * unless the config names one; on docker each FusionPBX's published web UI; a native lab with
 * `--fusionpbx`: each FusionPBX URL.
 */
export function withDriverVerifyDefaults(config: VerifySection, c: TargetChoice): VerifySection {
  if (c.driver === "native") {
    return withNativeFusionpbxDefaults(withNativeFreeswitchDefaults(config, c.running), c.running);
  }
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
