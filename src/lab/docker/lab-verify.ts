import { parseFreeswitchVersion, parseSoftwarePhp } from "../../verify/product-version.js";
import type { VersionSource } from "../../verify/probes.js";
import { freeswitchVersionArgv, fusionpbxSoftwarePhpArgv } from "./argv.js";
import { runArgv } from "../../os/run-argv.js";
import type { ImageSet } from "./images.js";
import type { ArgvRunner } from "../../kamailio/kamcmd-rpc.js";
import { CONTAINERS } from "./topology.js";

/** Versions read inside the containers: each FreeSWITCH binary and FusionPBX's source. */
export function dockerVersionSources(run: ArgvRunner = runArgv, images: ImageSet = "local"): VersionSource[] {
  const exec = async (argv: string[], timeoutMs: number): Promise<string> => {
    const r = await run(argv, timeoutMs);
    if (r.code !== 0)
      throw new Error(`${argv.slice(0, 4).join(" ")}: exit ${r.code}: ${r.stderr.trim().split("\n").pop() ?? ""}`);
    return `${r.stdout}\n${r.stderr}`;
  };
  return (["old", "new"] as const).flatMap((role): VersionSource[] => [
    {
      role,
      component: `${role} FreeSWITCH (binary)`,
      stack: "freeswitch",
      kind: "freeswitch container",
      endpoint: `docker exec ${CONTAINERS.freeswitch[role]}`,
      source: "freeswitch -version",
      read: (t) => exec(freeswitchVersionArgv(role, images), t),
      parse: parseFreeswitchVersion,
    },
    {
      role,
      component: `${role} FusionPBX (source)`,
      stack: "fusionpbx",
      kind: "fusionpbx container",
      endpoint: `docker exec ${CONTAINERS.fusionpbx[role]}`,
      source: "software.php",
      read: (t) => exec(fusionpbxSoftwarePhpArgv(role), t),
      parse: parseSoftwarePhp,
    },
  ]);
}
