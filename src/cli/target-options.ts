import type { Command } from "commander";
import type { ConfigFile } from "../config/file.js";
import type { LabFlags } from "../config/lab-config.js";
import type { DriverFlags, TargetChoice } from "../drivers/driver.js";
import { driverOf } from "../drivers/select.js";
import { START_ENGINE_ENV } from "../lab/docker/engine.js";
import { IMAGE_SET_ENV } from "../lab/docker/images.js";
import { resolveLab } from "./lab-options.js";

export type TargetFlags = LabFlags & DriverFlags & { config?: string | undefined };

/**
 * `--driver native|docker` and the docker driver's flags for every command that works on a target
 * (lab, verify, migrate, sim, dashboard, apply, rollback, plan, the control commands). A command
 * resolves them once with `targetChoiceFrom` and passes the choice down (src/drivers/driver.ts).
 */
export function addDriverOptions(cmd: Command): Command {
  return cmd
    .option(
      "--target <file>",
      "work on a Kamailio the tool did not start, described by a target file (YAML; docs/production.md), instead of a lab",
    )
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
  const kind = driverOf(opts);
  const { settings, running } = resolveLab(opts, {
    runningLab: kind.adoptsRunningLab ? "adopt" : "ignore",
    ...(o.file !== undefined ? { file: o.file } : {}),
  });
  return kind.choose({ settings, running, flags: opts, needsEvidence: o.needsEvidence ?? false, env: process.env });
}
