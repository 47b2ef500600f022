import type { LabSettings } from "../../config/lab-config.js";
import type { ComponentSpec } from "../backend-spec.js";
import {
  prepareFusionpbx,
  preparePostgres,
  probeFusionpbxReady,
  probePostgresReady,
  requireFusionpbxPrograms,
  type FusionpbxPrograms,
} from "./instance.js";

/**
 * `--fusionpbx` as components for native-lab.ts, started after the backends: PostgreSQL first,
 * then each slot's FusionPBX web server. native-lab.ts records, waits for and stops them like the
 * backends (own process groups, found by their command line naming the lab dir).
 */
export function requireServicePrograms(s: LabSettings): FusionpbxPrograms | undefined {
  return requireFusionpbxPrograms(s);
}

export async function serviceSpecs(s: LabSettings, programs: FusionpbxPrograms | undefined): Promise<ComponentSpec[]> {
  if (programs === undefined) return [];
  const pg = await preparePostgres(s, programs);
  const specs: ComponentSpec[] = [
    {
      role: "postgres",
      comm: "postgres",
      ...pg,
      label: `PostgreSQL (${s.kamailio.address}:${s.fusionpbx.postgresPort}/tcp)`,
      address: s.kamailio.address,
      port: s.fusionpbx.postgresPort,
      proto: "tcp",
      probeReady: () => probePostgresReady(s, programs.pgBin),
    },
  ];
  for (const role of ["old", "new"] as const) {
    const web = prepareFusionpbx(s, role, programs);
    specs.push({
      role: `fusionpbx-${role}`,
      comm: "php",
      ...web,
      label: `${role} FusionPBX (${s[role].address}:${s.fusionpbx[role].httpPort}/tcp, ${programs.trees[role]})`,
      address: s[role].address,
      port: s.fusionpbx[role].httpPort,
      proto: "tcp",
      probeReady: () => probeFusionpbxReady(s, role),
    });
  }
  return specs;
}

/** The ports `--fusionpbx` binds (for the port-in-use check before start). */
export function servicePorts(s: LabSettings): { proto: "tcp"; address: string; port: number }[] {
  if (!s.fusionpbx.enabled) return [];
  return [
    { proto: "tcp", address: s.kamailio.address, port: s.fusionpbx.postgresPort },
    { proto: "tcp", address: s.old.address, port: s.fusionpbx.old.httpPort },
    { proto: "tcp", address: s.new.address, port: s.fusionpbx.new.httpPort },
  ];
}
