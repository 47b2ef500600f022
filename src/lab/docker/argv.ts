import type { ImageSet } from "./images.js";
import {
  COMPOSE_CALLS,
  COMPOSE_PROJECT,
  COMPOSE_REAL,
  COMPOSE_SEED_IMAGES,
  CONTAINERS,
  IN_CONTAINER,
} from "./topology.js";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * Every docker command the docker driver runs, as argv (pure; docs/docker-lab.md documents these exact lines).
 * `docker` / `docker-compose` are resolved from PATH by the runner; nothing here goes through a shell.
 */

/** `docker compose` (v2 plugin) or `docker-compose` (Debian's v1), detected once by engine.ts. */
export type ComposeCommand = ["docker", "compose"] | ["docker-compose"];

export const COMPOSE_V2: ComposeCommand = ["docker", "compose"];

export interface ComposeSelection {
  /** the SIPp containers (docker-compose.calls.yml) */
  calls: boolean;
  /** seed: the pulled seed images (docker-compose.seed-images.yml on top) */
  images: ImageSet;
}

export function composeFiles(labDir: string, sel: ComposeSelection): string[] {
  const files = [
    COMPOSE_REAL,
    ...(sel.calls ? [COMPOSE_CALLS] : []),
    ...(sel.images === "seed" ? [COMPOSE_SEED_IMAGES] : []),
  ];
  // joined by hand (not path.join) so "./local-lab/real-services" stays as written in docs/docker-lab.md
  return files.flatMap((f) => ["-f", `${labDir.replace(/\/+$/, "")}/${f}`]);
}

function compose(c: ComposeCommand, labDir: string, sel: ComposeSelection, ...rest: string[]): string[] {
  return [...c, "-p", COMPOSE_PROJECT, ...composeFiles(labDir, sel), ...rest];
}

/** `docker compose -p pbx-cutover-real -f real.yml [-f calls.yml] up -d` (readiness is the driver's own wait) */
export function composeUpArgv(c: ComposeCommand, labDir: string, sel: ComposeSelection): string[] {
  return compose(c, labDir, sel, "up", "-d", "--no-build");
}

/** `... down -v --remove-orphans -t 5`: containers, the lab network and its volumes */
export function composeDownArgv(c: ComposeCommand, labDir: string, sel: ComposeSelection): string[] {
  return compose(c, labDir, sel, "down", "-v", "--remove-orphans", "-t", "5");
}

/** The lab's containers, any state, by the compose project label (the same for compose v1 and v2). */
export function labContainersArgv(): string[] {
  return [
    "docker",
    "ps",
    "-a",
    "--filter",
    `label=com.docker.compose.project=${COMPOSE_PROJECT}`,
    "--format",
    "{{json .}}",
  ];
}

/** `docker exec real-kamailio kamcmd -s unix:/run/kamailio/kamailio_ctl <method> [params...]` */
export function kamcmdExecArgv(method: string, params: readonly string[] = []): string[] {
  return ["docker", "exec", CONTAINERS.kamailio, "kamcmd", "-s", `unix:${IN_CONTAINER.kamailioCtl}`, method, ...params];
}

/** `docker exec real-freeswitch-<role> <freeswitch> -version` (the local images' tree, or the seed image's PATH) */
export function freeswitchVersionArgv(role: BackendRole, images: ImageSet = "local"): string[] {
  return [
    "docker",
    "exec",
    CONTAINERS.freeswitch[role],
    images === "local" ? IN_CONTAINER.freeswitchBinary : "freeswitch",
    "-version",
  ];
}

/** `docker exec real-fusionpbx-<role> cat /var/www/fusionpbx/core/software/resources/classes/software.php` */
export function fusionpbxSoftwarePhpArgv(role: BackendRole): string[] {
  return ["docker", "exec", CONTAINERS.fusionpbx[role], "cat", IN_CONTAINER.fusionpbxSoftwarePhp];
}

/** `docker info --format {{.ServerVersion}}`: fails when no engine answers. */
export function dockerInfoArgv(): string[] {
  return ["docker", "info", "--format", "{{.ServerVersion}}"];
}

/** `docker compose version` / `docker-compose version --short`: fails when that compose is missing. */
export function composeVersionArgv(c: ComposeCommand = COMPOSE_V2): string[] {
  return c.length === 1 ? [...c, "version", "--short"] : [...c, "version"];
}

/**
 * Run SIPp inside the UAC container, which reaches Kamailio at 172.28.0.10:5060 on the lab network
 * and sees the same Record-Route addresses as the backends.
 */
export function uacExecArgv(sippArgs: readonly string[]): string[] {
  return ["docker", "exec", CONTAINERS.sippUac, "sipp", ...sippArgs];
}
