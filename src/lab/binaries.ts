import { accessSync, constants } from "node:fs";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";

export type BinaryName = "kamailio" | "kamcmd" | "sipp" | "php" | "unshare" | "dumpcap" | "rtpengine";

const envOverride: Record<BinaryName, string> = {
  kamailio: "PBX_CUTOVER_KAMAILIO",
  kamcmd: "PBX_CUTOVER_KAMCMD",
  sipp: "PBX_CUTOVER_SIPP",
  php: "PBX_CUTOVER_PHP",
  unshare: "PBX_CUTOVER_UNSHARE",
  dumpcap: "PBX_CUTOVER_DUMPCAP",
  rtpengine: "PBX_CUTOVER_RTPENGINE",
};

const debianPackage: Record<BinaryName, string> = {
  kamailio: "kamailio",
  kamcmd: "kamailio",
  sipp: "sip-tester",
  // FusionPBX's runtime (`lab up --fusionpbx`); `make real-services` installs them as root
  php: "php-cli php-pgsql php-xml php-curl php-mbstring",
  unshare: "util-linux",
  // sim's media capture (the caller's RTP on loopback)
  dumpcap: "wireshark-common",
  // the lab's media relay (`lab up --media-relay rtpengine`)
  rtpengine: "rtpengine-daemon",
};

/** The apt-get line that installs what is missing. */
export function installCommand(names: readonly BinaryName[]): string {
  const pkgs = [...new Set(names.map((n) => debianPackage[n]))];
  return `sudo apt-get update && sudo apt-get install -y ${pkgs.join(" ")}`;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Locate a binary: an explicit env override (PBX_CUTOVER_KAMAILIO, ...) wins; otherwise PATH,
 * then /usr/sbin and /usr/local/sbin (Debian installs kamailio there, outside a normal user's PATH).
 */
export function findBinary(name: BinaryName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env[envOverride[name]];
  if (override !== undefined && override !== "") return executable(override) ? override : undefined;
  const dirs = [...(env["PATH"] ?? "").split(path.delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin"];
  for (const dir of dirs) {
    const p = path.join(dir, name);
    if (executable(p)) return p;
  }
  return undefined;
}

/** Resolve all of `names`, or fail with exit 3 and the install command. */
export function requireBinaries<N extends BinaryName>(
  names: readonly N[],
  env: NodeJS.ProcessEnv = process.env,
): Record<N, string> {
  const found = {} as Record<N, string>;
  const missing: N[] = [];
  for (const n of names) {
    const p = findBinary(n, env);
    if (p === undefined) missing.push(n);
    else found[n] = p;
  }
  if (missing.length > 0) {
    const how = missing
      .map((n) => (env[envOverride[n]] ? `${n} (${envOverride[n]}=${env[envOverride[n]]} is not executable)` : n))
      .join(", ");
    throw new EnvironmentError(`required program not found: ${how}; nothing was started`, [
      `install it with: ${installCommand(missing)}`,
      `or point ${missing.map((n) => envOverride[n]).join(" / ")} at the binary`,
    ]);
  }
  return found;
}
