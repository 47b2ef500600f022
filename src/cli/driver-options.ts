import type { Command } from "commander";
import type { ConfigFile } from "../config/file.js";
import type { LabFlags } from "../config/lab-config.js";
import { UsageError } from "../core/errors.js";
import { START_ENGINE_ENV } from "../lab/docker/engine.js";
import { IMAGE_SET_ENV, parseImageSet, type ImageSet } from "../lab/docker/images.js";
import { DOCKER_LAB_DIR, type DockerBackends } from "../lab/docker/topology.js";
import type { DriverName, TargetChoice } from "../drivers/driver.js";
import { resolveLab } from "./lab-options.js";

/**
 * `--driver native|docker` and the docker driver's flags for every command that works on a target
 * (lab, verify, migrate, sim, dashboard, apply, rollback, plan, the control commands). A command
 * resolves them once with `targetChoiceFrom` and passes the choice down (src/drivers/driver.ts).
 */
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
    .option(
      "--driver <name>",
      "lab driver: native (Kamailio + SIPp on loopback) or docker (the real-services lab)",
      "native",
    )
    .option(
      "--docker-backends <kind>",
      "docker driver: dispatcher backends are freeswitch (the real PBXs) or sipp (the SIPp UAS containers, with message logs)",
    )
    .option(
      "--docker-dir <dir>",
      "docker driver: the directory with the compose files (default local-lab/real-services)",
    )
    .option(
      "--docker-images <set>",
      `docker driver: local (built here from a Debian base, the default) or seed (the images the legacy lab pulled: kamailio-ci, safarov/freeswitch); env ${IMAGE_SET_ENV}`,
    )
    .option(
      "--docker-start-engine",
      `docker driver: start Debian's dockerd (root) when no engine answers, and stop it at lab down; env ${START_ENGINE_ENV}=1`,
    );
}

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

export function driverFrom(opts: DriverFlags): DriverName {
  const d = opts.driver ?? "native";
  if (d !== "native" && d !== "docker")
    throw new UsageError(`--driver must be native or docker, got ${JSON.stringify(d)}`);
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

export interface TargetChoiceOptions {
  /** the command reads per-call evidence from backend message logs (sim, dashboard): docker uses the SIPp UAS */
  needsEvidence?: boolean;
  /** the config file, when the command has read it already */
  file?: ConfigFile;
}

/**
 * The one resolution of a command's target flags (exit 2 on a bad value, nothing started): the
 * driver, the lab settings (flags over the config file over a running native lab's recorded
 * settings: the config file, lab.json and /proc are read here, once) and the docker driver's own
 * flags. The command passes the choice down; lab, sim, plan and target code take values.
 */
export function targetChoiceFrom(opts: TargetFlags, o: TargetChoiceOptions = {}): TargetChoice {
  const driver = driverFrom(opts);
  const { settings, running } = resolveLab(opts, o.file !== undefined ? { file: o.file } : {});
  if (driver === "native") return { driver, settings, ...(running ? { running } : {}) };
  return {
    driver,
    settings,
    dir: opts.dockerDir ?? DOCKER_LAB_DIR,
    backends: dockerBackendsFrom(opts, o.needsEvidence ?? false),
    images: dockerImagesFrom(opts),
    startEngine: dockerStartEngineFrom(opts),
    // the docker lab's images and FreeSWITCH take longer than the native lab's default
    readyTimeoutMs: opts.readyTimeoutMs !== undefined ? settings.readyTimeoutMs : 120_000,
  };
}
