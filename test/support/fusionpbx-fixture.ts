import { existsSync } from "node:fs";
import path from "node:path";
import { realServicesDir } from "../../src/lab/freeswitch/install.js";
import { freeswitchFlags } from "./freeswitch-fixture.js";
import { freeTcpPort } from "./lab-fixture.js";

/** Everything `lab up --backends freeswitch --fusionpbx` runs, from the cache `make real-services` fills. */
const NEEDED = [
  "freeswitch-1.10.3/bin/freeswitch",
  "freeswitch-1.10.12/bin/freeswitch",
  "fusionpbx-5.3.0/index.php",
  "fusionpbx-5.5.7/index.php",
];

/** Why the FusionPBX e2e cannot run here (a skip that says why, never a silent pass), or false. */
export function fusionpbxSkip(): string | false {
  const cache = realServicesDir();
  const missing = NEEDED.filter((f) => !existsSync(path.join(cache, f)));
  return missing.length > 0
    ? `real services not installed in ${cache} (missing ${missing.join(", ")}; run make real-services)`
    : false;
}

/** a cold install of 5.3 takes minutes on a loaded 2-core machine (later labs restore the cached install in seconds) */
export const INSTALL_TIMEOUT_MS = 15 * 60_000;

/** The FreeSWITCH and FusionPBX flags of a lab on free ports, each port distinct. */
export async function fusionpbxFlags(
  opts: { old?: string } = {},
): Promise<{ flags: string[]; http: { old: number; new: number }; pg: number }> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freeTcpPort());
  const [o, n, pg] = [...ports] as [number, number, number];
  return {
    flags: [
      ...(await freeswitchFlags()),
      "--fusionpbx",
      "--old-http-port",
      String(o),
      "--new-http-port",
      String(n),
      "--postgres-port",
      String(pg),
      ...(opts.old ? ["--old-fusionpbx", opts.old] : []),
    ],
    http: { old: o, new: n },
    pg,
  };
}
