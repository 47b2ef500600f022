import type { Command } from "commander";
import { parseIntFlag, type LabSettings } from "../config/lab-config.js";
import { addDriverOptions, targetFrom, type TargetFlags } from "../lab/driver.js";
import type { Target } from "../lab/target.js";
import { UsageError } from "./errors.js";
import { addLabOptions } from "./lab-options.js";

/** Flags of the commands that change the dispatcher (apply, rollback, migrate). */
export interface DispatcherFlags {
  oldUri?: string | undefined;
  newUri?: string | undefined;
  reloadWaitMs?: string | undefined;
  json?: boolean | undefined;
}

export type DispatcherCommandOpts = TargetFlags & DispatcherFlags;

/** The dispatcher flags, the lab flags and --driver. */
export function addDispatcherOptions(cmd: Command): Command {
  return addDriverOptions(
    addLabOptions(
      cmd
        .option("--old-uri <uri>", "dispatcher destination URI of the old backend (default: the target's, sip:<old-addr>:<old-port> on the native lab)")
        .option("--new-uri <uri>", "dispatcher destination URI of the new backend (default: the target's)")
        .option(
          "--reload-wait-ms <ms>",
          "how long to retry a reload Kamailio refuses with `500 Ongoing reload` (default: max(reload_delta, 5 s) + 1 s)",
        ),
    ),
  );
}

/** The target for the flags (native or docker), with --old-uri / --new-uri applied (validated by the apply). */
export async function dispatcherTarget(opts: DispatcherCommandOpts): Promise<Target> {
  const t = await targetFrom(opts);
  if (opts.oldUri !== undefined) t.backends.old = { ...t.backends.old, uri: opts.oldUri };
  if (opts.newUri !== undefined) t.backends.new = { ...t.backends.new, uri: opts.newUri };
  return t;
}

/** Kamailio refuses reloads for reload_delta seconds (its default is 5, whatever the lab sets). */
export function reloadWaitMs(settings: LabSettings, raw: string | undefined): number {
  if (raw !== undefined) {
    const ms = parseIntFlag("--reload-wait-ms", raw);
    if (ms < 0) throw new UsageError(`--reload-wait-ms must be 0 or more, got ${ms}`);
    return ms;
  }
  return Math.max(settings.kamailio.reloadDelta, 5) * 1000 + 1000;
}
