import type { Command } from "commander";
import type { LabFlags, LabSettings } from "../config/lab-config.js";
import { nativeTarget, type Target } from "../lab/target.js";

/** Flags of the commands that change the dispatcher (apply, rollback, migrate). */
export interface DispatcherFlags {
  oldUri?: string | undefined;
  newUri?: string | undefined;
  reloadWaitMs?: string | undefined;
  json?: boolean | undefined;
}

export type DispatcherCommandOpts = LabFlags & DispatcherFlags & { config?: string };

export function addDispatcherOptions(cmd: Command): Command {
  return cmd
    .option("--old-uri <uri>", "dispatcher destination URI of the old backend (default sip:<old-addr>:<old-port>)")
    .option("--new-uri <uri>", "dispatcher destination URI of the new backend (default sip:<new-addr>:<new-port>)")
    .option(
      "--reload-wait-ms <ms>",
      "how long to retry a reload Kamailio refuses with `500 Ongoing reload` (default: reload_delta + 1 s, at least 6000)",
    );
}

/** The native lab as a target, with the destination URIs overridden by --old-uri / --new-uri (validated later). */
export function targetFrom(settings: LabSettings, opts: DispatcherFlags): Target {
  const t = nativeTarget(settings);
  if (opts.oldUri !== undefined) t.backends.old = { ...t.backends.old, uri: opts.oldUri };
  if (opts.newUri !== undefined) t.backends.new = { ...t.backends.new, uri: opts.newUri };
  return t;
}

/** Kamailio refuses reloads for reload_delta seconds (its default is 5 even if the lab sets 0). */
export function reloadWaitMs(settings: LabSettings, raw: string | undefined, parse: (flag: string, raw: string) => number): number {
  if (raw !== undefined) return parse("--reload-wait-ms", raw);
  return Math.max(settings.kamailio.reloadDelta, 5) * 1000 + 1000;
}
