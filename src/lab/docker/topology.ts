import path from "node:path";
import { PROJECT_ROOT } from "../../core/assets.js";
import { UsageError } from "../../core/errors.js";
import { RPC_SECRET_CFG } from "../../kamailio/rpc-secret.js";
import { sipPolicy, type SipPolicy } from "../../sip/sip-policy.js";
import { FREESWITCH_TREE_IN_IMAGE, kamailioModulePath, type ImageSet } from "./images.js";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * The Docker real-services lab (the seed's topology and pinned versions) as data. The compose files
 * under local-lab/real-services/ say the same; a static test checks they agree.
 */
export const DOCKER_LAB_DIR = path.join(PROJECT_ROOT, "local-lab", "real-services");

export const COMPOSE_REAL = "docker-compose.real.yml";
export const COMPOSE_CALLS = "docker-compose.calls.yml";
/** on top of the others when the seed's pulled images are picked (PBX_CUTOVER_DOCKER_IMAGES=seed) */
export const COMPOSE_SEED_IMAGES = "docker-compose.seed-images.yml";
/** the compose project (`-p`), so compose v1 and v2 name containers, network and volumes alike */
export const COMPOSE_PROJECT = "pbx-cutover-real";

/** FusionPBX is built from these git tags (the 5.3.0 tag's software.php says 5.3.3). */
export const FUSIONPBX_TAGS = { old: "5.3.0", new: "5.5.7" } as const;

export const CONTAINERS = {
  kamailio: "real-kamailio",
  freeswitch: { old: "real-freeswitch-old", new: "real-freeswitch-new" },
  fusionpbx: { old: "real-fusionpbx-old", new: "real-fusionpbx-new" },
  fusionpbxDb: { old: "real-fusionpbx-old-db", new: "real-fusionpbx-new-db" },
  sippUas: { old: "real-sipp-uas-old", new: "real-sipp-uas-new" },
  sippUac: "real-sipp-uac",
} as const;

/** Host ports the lab publishes (all on 127.0.0.1): the seed's defaults. */
export const HOST_PORTS = { kamailioSip: 15060, fusionpbxOld: 18080, fusionpbxNew: 18081 } as const;

/**
 * The published SIP port: 15060 (the seed's) unless PBX_CUTOVER_DOCKER_SIP_PORT says otherwise (the
 * compose file reads the same variable, e.g. when a native lab holds 15060). Exit 2 on a bad value.
 */
export const SIP_PORT_ENV = "PBX_CUTOVER_DOCKER_SIP_PORT";
/** The env setting for each published port (the compose file reads the same names). */
export const PORT_ENV: Record<keyof typeof HOST_PORTS, string> = {
  kamailioSip: SIP_PORT_ENV,
  fusionpbxOld: "PBX_CUTOVER_DOCKER_FUSIONPBX_OLD_PORT",
  fusionpbxNew: "PBX_CUTOVER_DOCKER_FUSIONPBX_NEW_PORT",
};
export function hostPort(which: keyof typeof HOST_PORTS, env: NodeJS.ProcessEnv = process.env): number {
  const name = PORT_ENV[which];
  const v = env[name];
  if (v === undefined || v === "") return HOST_PORTS[which];
  const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1024 && n <= 65535))
    throw new UsageError(`${name}=${JSON.stringify(v)}: must be a port number 1024-65535; nothing was started`);
  return n;
}
export function hostSipPort(env: NodeJS.ProcessEnv = process.env): number {
  return hostPort("kamailioSip", env);
}

/** Fixed addresses on the lab's bridge network, so dispatcher URIs never depend on DNS. */
export const NETWORK = {
  subnet: "172.28.0.0/24",
  /** the host's address on the lab bridge: the call simulation's UAC and the HEP collector bind here */
  gateway: "172.28.0.1",
  kamailio: "172.28.0.10",
  freeswitch: { old: "172.28.0.20", new: "172.28.0.21" },
  sippUas: { old: "172.28.0.30", new: "172.28.0.31" },
  sippUac: "172.28.0.40",
} as const;

/**
 * The Docker lab's SIP policy: its compose network (where Kamailio's dispatcher reaches the
 * backends, `docker-compose.real.yml`'s subnet) and loopback (the ports it publishes to the host:
 * Kamailio's SIP port, the FusionPBX web UIs). Nothing else, no host names.
 */
export const DOCKER_LAB_POLICY: SipPolicy = sipPolicy("the Docker lab's SIP policy", [NETWORK.subnet, "127.0.0.0/8"]);

/** The HEP collector's port on the bridge's gateway (Kamailio's siptrace duplicate_uri). */
export const DOCKER_HEP_PORT = 9060;

/** Inside the containers. */
export const IN_CONTAINER = {
  kamailioConfigDir: "/etc/kamailio",
  kamailioCtl: "/run/kamailio/kamailio_ctl",
  kamailioSipPort: 5060,
  kamailioRpcPort: 5061,
  freeswitchSipPort: 5060,
  freeswitchEventSocketPort: 8021,
  /** the local images' FreeSWITCH (src/lab/docker/images.ts) */
  freeswitchBinary: `${FREESWITCH_TREE_IN_IMAGE}/bin/freeswitch`,
  /** the local images' FreeSWITCH run directories live under here (freeswitchPaths(<this>, role)), mounted from HOST_DIRS.state */
  freeswitchLabDir: "/var/lib/pbx-cutover",
  sippPort: 5060,
  sippLogDir: "/sipp-logs",
  fusionpbxSoftwarePhp: "/var/www/fusionpbx/core/software/resources/classes/software.php",
} as const;

/** Host directories mounted into the containers (relative to DOCKER_LAB_DIR). */
export const HOST_DIRS = {
  kamailio: "kamailio",
  sippLogs: "sipp-logs",
  /** apply lock and dispatcher backups (not committed) */
  state: ".state",
} as const;

export type DockerBackends = "freeswitch" | "sipp";

/** A backend's SIP URI as Kamailio's dispatcher sees it on the lab network. */
export function dockerBackendUri(kind: DockerBackends, role: BackendRole): string {
  const addr = kind === "freeswitch" ? NETWORK.freeswitch[role] : NETWORK.sippUas[role];
  const port = kind === "freeswitch" ? IN_CONTAINER.freeswitchSipPort : IN_CONTAINER.sippPort;
  return `sip:${addr}:${port}`;
}

/** The SIPp UAS message log, on the host (the container writes it into the mounted directory). */
export function sippMessageLog(labDir: string, role: BackendRole): string {
  return path.join(labDir, HOST_DIRS.sippLogs, `uas-${role}.messages.log`);
}

/** Values for assets/kamailio/kamailio.cfg.tmpl in the Kamailio container (Debian's layout, or kamailio/kamailio-ci's Alpine one). */
export function dockerKamailioConfigValues(images: ImageSet = "local") {
  return {
    sipAddr: NETWORK.kamailio,
    sipPort: IN_CONTAINER.kamailioSipPort,
    rpcPort: IN_CONTAINER.kamailioRpcPort,
    children: 2,
    reloadDelta: 0,
    setId: 1,
    ctlSocket: IN_CONTAINER.kamailioCtl,
    rpcSecretCfg: `${IN_CONTAINER.kamailioConfigDir}/${RPC_SECRET_CFG}`,
    dispatcherList: `${IN_CONTAINER.kamailioConfigDir}/dispatcher.list`,
    modulePath: kamailioModulePath(images),
    // HEP to the host's address on the lab bridge, where `sim` / `dashboard` run their collector
    hepAddr: NETWORK.gateway,
    hepPort: DOCKER_HEP_PORT,
    hepMirror: true,
  };
}
