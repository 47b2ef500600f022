import type { Command } from "commander";
import { parseIntFlag, type LabSettings } from "../config/lab-config.js";
import { sameDestinationProblem } from "../dispatcher/profile.js";
import { canonicalSipUri, sameHostPort, type SipUri } from "../sip/sip-uri.js";
import type { Driver, TargetChoice } from "../drivers/driver.js";
import type { FleetMember } from "../fleet/fleet-apply.js";
import { driverFor } from "../drivers/select.js";
import type { BackendRole } from "../core/backend-role.js";
import { checkDestination, type SipPolicy } from "../sip/sip-policy.js";
import type { Target } from "../target/target.js";
import { UsageError } from "../core/errors.js";
import { addDriverOptions, type TargetFlags } from "./target-options.js";
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
        .option(
          "--old-uri <uri>",
          "dispatcher destination URI of the old backend (default: the target's, sip:<old-addr>:<old-port> on the native lab)",
        )
        .option("--new-uri <uri>", "dispatcher destination URI of the new backend (default: the target's)")
        .option(
          "--reload-wait-ms <ms>",
          "how long to retry a reload Kamailio refuses with `500 Ongoing reload` (default: max(reload_delta, 5 s) + 1 s)",
        ),
    ),
  );
}

/**
 * --old-uri / --new-uri checked against the target's SIP policy and normalised (one spelling per
 * endpoint). UsageError naming the flag; runs before anything is started or contacted.
 */
export function backendUriFlags(opts: DispatcherFlags, policy: SipPolicy): Partial<Record<BackendRole, SipUriChoice>> {
  const out: Partial<Record<BackendRole, SipUriChoice>> = {};
  for (const [role, flag, raw] of [
    ["old", "--old-uri", opts.oldUri],
    ["new", "--new-uri", opts.newUri],
  ] as const) {
    if (raw === undefined) continue;
    const r = checkDestination(policy, raw);
    if (!r.ok)
      throw new UsageError(`${flag} ${r.error}; nothing was changed`, [
        `pass a sip: URI with an IP inside ${policy.allow.join(", ")}`,
      ]);
    out[role] = { flag, given: raw, text: r.text, uri: r.uri };
  }
  if (out.old && out.new && sameHostPort(out.old.uri, out.new.uri)) {
    throw new UsageError(
      `--old-uri and --new-uri: ${sameDestinationProblem(out.old.given, out.new.given)}; nothing was changed`,
    );
  }
  return out;
}

interface SipUriChoice {
  flag: string;
  given: string;
  text: string;
  uri: SipUri;
}

function refuseUriFlags(opts: DispatcherFlags, driver: Driver): void {
  if (driver.destinationsFrom !== undefined && (opts.oldUri !== undefined || opts.newUri !== undefined)) {
    throw new UsageError(
      `${driver.destinationsFrom} names the old and new destinations; --old-uri / --new-uri cannot be given with --target; nothing was changed`,
    );
  }
}

/** The nodes of a target file that names several (undefined for any other target). */
export async function dispatcherFleet(opts: DispatcherFlags, choice: TargetChoice): Promise<FleetMember[] | undefined> {
  const driver = driverFor(choice);
  if (!driver.openFleet) return undefined;
  refuseUriFlags(opts, driver);
  return driver.openFleet();
}

/** The target of the command's choice (native or docker), with --old-uri / --new-uri validated first, then applied. */
export async function dispatcherTarget(opts: DispatcherFlags, choice: TargetChoice): Promise<Target> {
  const driver = driverFor(choice);
  refuseUriFlags(opts, driver);
  const uris = backendUriFlags(opts, driver.sipPolicy);
  const t = await driver.openTarget();
  for (const role of ["old", "new"] as const) {
    const u = uris[role];
    const other = t.backends[role === "old" ? "new" : "old"];
    const otherUri = canonicalSipUri(other.uri);
    if (u && !uris[other.role] && otherUri.ok && sameHostPort(u.uri, otherUri.uri)) {
      t.close();
      const [a, b] = role === "old" ? [u.given, other.uri] : [other.uri, u.given];
      throw new UsageError(
        `${u.flag} ${JSON.stringify(u.given)}: ${sameDestinationProblem(a, b)}; nothing was changed`,
      );
    }
    if (u)
      t.backends[role] = {
        ...t.backends[role],
        uri: u.text,
        address: u.uri.host,
        port: u.uri.port ?? t.backends[role].port,
      };
  }
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
