import type { Command } from "commander";
import { UsageError } from "../core/errors.js";
import { labSettingsFrom } from "../cli/lab-options.js";
import type { LabFlags } from "../config/lab-config.js";
import type { VersionSource } from "../verify/probes.js";
import type { VerifySection } from "../verify/verify-config.js";
import { runArgv } from "../lab/docker/docker-cli.js";
import { dockerEventSocket, dockerFusionpbxUrls, dockerStateDir } from "../lab/docker/docker-lab.js";
import { requireEngine, START_ENGINE_ENV } from "../lab/docker/engine.js";
import { IMAGE_SET_ENV, parseImageSet, type ImageSet } from "../lab/docker/images.js";
import { dockerTarget } from "./docker-target.js";
import { dockerVersionSources } from "../lab/docker/lab-verify.js";
import { DOCKER_LAB_DIR, DOCKER_LAB_POLICY, type DockerBackends } from "../lab/docker/topology.js";
import { nativeFreeswitchVersionSources, withNativeFreeswitchDefaults } from "../lab/freeswitch/lab-verify.js";
import { nativeFusionpbxVersionSources, withNativeFusionpbxDefaults } from "../lab/fusionpbx/lab-verify.js";
import { LAB_LOOPBACK_POLICY, type SipPolicy } from "../sip/sip-policy.js";
import { nativeTarget } from "./native-target.js";
import type { Target } from "./target.js";

/**
 * `--driver native|docker` for every command that works on a target (lab, verify, migrate, sim,
 * dashboard). Commands call addDriverOptions(cmd) and targetFrom(opts); they never look at a driver.
 */
export type DriverName = "native" | "docker";

export interface DriverFlags {
  driver?: string | undefined;
  dockerBackends?: string | undefined;
  dockerDir?: string | undefined;
  dockerImages?: string | undefined;
  dockerStartEngine?: boolean | undefined;
}

export type TargetFlags = LabFlags & DriverFlags & { config?: string | undefined };

export function addDriverOptions(cmd: Command): Command {
  return cmd
    .option("--driver <name>", "lab driver: native (Kamailio + SIPp on loopback) or docker (the real-services lab)", "native")
    .option(
      "--docker-backends <kind>",
      "docker driver: dispatcher backends are freeswitch (the real PBXs) or sipp (the SIPp UAS containers, with message logs)",
    )
    .option("--docker-dir <dir>", "docker driver: the directory with the compose files (default local-lab/real-services)")
    .option("--docker-images <set>", `docker driver: local (built here from a Debian base, the default) or seed (the seed's pulled images); env ${IMAGE_SET_ENV}`)
    .option("--docker-start-engine", `docker driver: start Debian's dockerd (root) when no engine answers, and stop it at lab down; env ${START_ENGINE_ENV}=1`);
}

/** Which image set: the flag, else the env setting, else local (exit 2 on anything else). */
export function dockerImagesFrom(opts: DriverFlags, env: NodeJS.ProcessEnv = process.env): ImageSet {
  try {
    return parseImageSet(opts.dockerImages, "--docker-images") ?? parseImageSet(env[IMAGE_SET_ENV], IMAGE_SET_ENV) ?? "local";
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

export function driverFrom(opts: DriverFlags): DriverName {
  const d = opts.driver ?? "native";
  if (d !== "native" && d !== "docker") throw new UsageError(`--driver must be native or docker, got ${JSON.stringify(d)}`);
  return d;
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

export interface TargetOptions {
  /** the command reads per-call evidence from backend message logs (sim, dashboard): docker uses the SIPp UAS */
  needsEvidence?: boolean;
}

/**
 * The Target for these flags. Validates first (exit 2), then for docker checks that Docker answers
 * (exit 3 with what to do). The caller owns the Target: call close() when done.
 */
export async function targetFrom(opts: TargetFlags, o: TargetOptions = {}): Promise<Target> {
  const driver = driverFrom(opts);
  if (driver === "native") return nativeTarget(labSettingsFrom(opts));
  const backends = dockerBackendsFrom(opts, o.needsEvidence ?? false);
  const dir = opts.dockerDir ?? DOCKER_LAB_DIR;
  dockerImagesFrom(opts);
  // asked to start an engine: the command's LabControl.ensureUp starts it (when it starts the lab)
  if (!dockerStartEngineFrom(opts)) await requireEngine(runArgv, { start: false, stateDir: dockerStateDir(dir) });
  return dockerTarget(dir, backends);
}

/** The SIP policy of the target these flags select (known before anything is contacted). */
export function sipPolicyFor(opts: DriverFlags): SipPolicy {
  return driverFrom(opts) === "docker" ? DOCKER_LAB_POLICY : LAB_LOOPBACK_POLICY;
}

/** Extra version sources a driver offers to `verify` (docker: inside the containers; native FreeSWITCH: its binaries). */
export function versionSourcesFor(opts: TargetFlags): VersionSource[] {
  if (driverFrom(opts) === "docker") return dockerVersionSources(runArgv, dockerImagesFrom(opts));
  const labDir = labSettingsFrom(opts).labDir;
  return [...nativeFreeswitchVersionSources(labDir), ...nativeFusionpbxVersionSources(labDir)];
}

/**
/**
 * Driver defaults for `verify`'s config: each FreeSWITCH's event socket, from the lab's own secret
 * (native: the lab directory; docker: the compose directory's .state/, reached over the lab network),
 * unless the config names one; on docker each FusionPBX's published web UI; a native lab with
 * `--fusionpbx`: each FusionPBX URL.
 */
export function withDriverVerifyDefaults(config: VerifySection, opts: TargetFlags): VerifySection {
  if (driverFrom(opts) !== "docker") {
    const labDir = labSettingsFrom(opts).labDir;
    return withNativeFusionpbxDefaults(withNativeFreeswitchDefaults(config, labDir), labDir);
  }
  const urls = dockerFusionpbxUrls();
  const out: VerifySection = { ...config };
  for (const role of ["old", "new"] as const) {
    out[role] = { ...config[role], fusionpbxUrl: config[role].fusionpbxUrl ?? urls[role] };
    if (dockerBackendsFrom(opts, false) !== "freeswitch") continue;
    const es = config[role].eventSocket ? undefined : dockerEventSocket(opts.dockerDir ?? DOCKER_LAB_DIR, role);
    if (es) out[role] = { ...out[role], eventSocket: es };
  }
  return out;
}
