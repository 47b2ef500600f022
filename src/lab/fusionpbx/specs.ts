import type { LabSettings } from "../../config/lab-config.js";
import { EnvironmentError } from "../../core/errors.js";
import type { ComponentSpec } from "../backend-spec.js";
import type { BackendRole } from "../../core/backend-role.js";
import {
  installedDomain,
  installFusionpbx,
  readCredentials,
  seedOld,
  type SeedResult,
  type SlotInstall,
} from "./installer.js";
import { loginToFusionpbx } from "./web-session.js";
import {
  prepareFusionpbx,
  preparePostgres,
  fusionpbxUrl,
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

export interface FusionpbxReady extends SlotInstall {
  /** the login with the lab's admin credentials, e.g. "GET /login.php 200, POST ..., GET /core/dashboard/ 200 (Dashboard - FusionPBX)" */
  login: string;
}

/**
 * After the services answer: both FusionPBX slots installed (kept, restored or installed cold,
 * installer.ts), then ready = a login with the lab's admin credentials reaches each dashboard.
 * Throws EnvironmentError (exit 3) naming the slot.
 */
export interface FusionpbxUp {
  slots: FusionpbxReady[];
  /** `--fusionpbx-seed`: the data set loaded into old (or found loaded) */
  seed?: SeedResult;
}

export async function afterServicesReady(
  s: LabSettings,
  programs: FusionpbxPrograms | undefined,
  signal: AbortSignal | undefined,
  say: (line: string) => void,
  seedFile: string | undefined,
): Promise<FusionpbxUp | undefined> {
  if (programs === undefined) return undefined;
  const installs = await installFusionpbx(s, programs, signal, say);
  const seed = seedFile === undefined ? undefined : await seedOld(s, programs, seedFile, signal);
  const slots = await Promise.all(installs.map(async (i) => ({ ...i, login: await requireLogin(s, i.role) })));
  return { slots, ...(seed ? { seed } : {}) };
}

async function requireLogin(s: LabSettings, role: BackendRole): Promise<string> {
  const c = readCredentials(s.labDir);
  if (c === undefined) throw new EnvironmentError(`the lab's FusionPBX credentials are missing in ${s.labDir}`);
  const r = await loginToFusionpbx(fusionpbxUrl(s, role), {
    username: c.username,
    domain: installedDomain(s, role),
    password: c.password,
  });
  if (!r.ok) {
    throw new EnvironmentError(
      `the ${role} FusionPBX is installed but its admin login does not reach the dashboard: ${r.error ?? "?"} (${r.chain})`,
      [`its logs: ${s.labDir}/fusionpbx-${role}/php-errors.log, install.log`],
    );
  }
  return r.chain;
}
