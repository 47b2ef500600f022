import { COMPOSE_CALLS, COMPOSE_REAL, CONTAINERS, IN_CONTAINER } from "./topology.js";

/**
 * Every docker command the docker driver runs, as argv (pure; the README documents these exact lines).
 * `docker` is resolved from PATH by the runner; nothing here goes through a shell.
 */

export function composeFiles(labDir: string, withCalls: boolean): string[] {
  const files = [COMPOSE_REAL, ...(withCalls ? [COMPOSE_CALLS] : [])];
  // joined by hand (not path.join) so "./local-lab/real-services" stays as written in the README
  return files.flatMap((f) => ["-f", `${labDir.replace(/\/+$/, "")}/${f}`]);
}

/** `docker compose -f real.yml [-f calls.yml] up -d --build --wait` */
export function composeUpArgv(labDir: string, withCalls: boolean): string[] {
  return ["docker", "compose", ...composeFiles(labDir, withCalls), "up", "-d", "--build", "--wait"];
}

/** `docker compose -f real.yml [-f calls.yml] down -v` (the seed's stop command, without its PATH hack) */
export function composeDownArgv(labDir: string, withCalls: boolean): string[] {
  return ["docker", "compose", ...composeFiles(labDir, withCalls), "down", "-v"];
}

/** `docker compose -f real.yml [-f calls.yml] ps --format json` */
export function composePsArgv(labDir: string, withCalls: boolean): string[] {
  return ["docker", "compose", ...composeFiles(labDir, withCalls), "ps", "--format", "json"];
}

/** `docker exec real-kamailio kamcmd -s unix:/run/kamailio/kamailio_ctl <method> [params...]` */
export function kamcmdExecArgv(method: string, params: readonly string[] = []): string[] {
  return ["docker", "exec", CONTAINERS.kamailio, "kamcmd", "-s", `unix:${IN_CONTAINER.kamailioCtl}`, method, ...params];
}

/** `docker exec real-freeswitch-<role> freeswitch -version` */
export function freeswitchVersionArgv(role: "old" | "new"): string[] {
  return ["docker", "exec", CONTAINERS.freeswitch[role], "freeswitch", "-version"];
}

/** `docker exec real-fusionpbx-<role> cat /var/www/fusionpbx/core/software/resources/classes/software.php` */
export function fusionpbxSoftwarePhpArgv(role: "old" | "new"): string[] {
  return ["docker", "exec", CONTAINERS.fusionpbx[role], "cat", IN_CONTAINER.fusionpbxSoftwarePhp];
}

/** `docker info --format {{.ServerVersion}}`: fails when no engine answers. */
export function dockerInfoArgv(): string[] {
  return ["docker", "info", "--format", "{{.ServerVersion}}"];
}

/** `docker compose version`: fails when the compose plugin is missing. */
export function composeVersionArgv(): string[] {
  return ["docker", "compose", "version"];
}

/**
 * For the call simulation on the docker driver (not used by verify): run SIPp inside the UAC
 * container, which reaches Kamailio at 172.28.0.10:5060 on the lab network and sees the same
 * Record-Route addresses as the backends. `sippArgs` are the same arguments the native UAC gets.
 */
export function uacExecArgv(sippArgs: readonly string[]): string[] {
  return ["docker", "exec", CONTAINERS.sippUac, "sipp", ...sippArgs];
}
