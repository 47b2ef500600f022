import { DOCKER_LAB_DIR } from "../../lab/docker/topology.js";
import { dockerLabDown, dockerLabStatus, dockerLabUp, type DockerLabStatus } from "../../lab/docker/docker-lab.js";
import { dockerBackendsFrom, dockerImagesFrom, dockerStartEngineFrom } from "../../drivers/docker.js";
import type { DriverFlags } from "../../drivers/driver.js";
import { parseIntFlag } from "../../config/lab-config.js";
import { UsageError } from "../../core/errors.js";
import { ExitCode } from "../../core/exit-codes.js";
import { withScope } from "../../core/scope.js";

/** `lab up|down|status --driver docker` (the native path stays in lab.ts). */
type Opts = DriverFlags & { json?: boolean; readyTimeoutMs?: string };

function dirOf(o: Opts): string {
  return o.dockerDir ?? DOCKER_LAB_DIR;
}

export async function dockerUpCommand(o: Opts): Promise<void> {
  const backends = dockerBackendsFrom(o, false);
  const images = dockerImagesFrom(o);
  const startEngine = dockerStartEngineFrom(o);
  const readyTimeoutMs =
    o.readyTimeoutMs !== undefined ? parseIntFlag("--ready-timeout-ms", o.readyTimeoutMs) : 120_000;
  if (readyTimeoutMs < 100 || readyTimeoutMs > 600_000) {
    throw new UsageError(`--ready-timeout-ms ${readyTimeoutMs}: must be between 100 and 600000; nothing was started`);
  }
  const r = await withScope((scope) =>
    dockerLabUp({ dir: dirOf(o), backends, readyTimeoutMs, images, startEngine }, scope),
  );
  const lines = [
    `engine: Docker ${r.engine.server}${r.engine.startedPid !== undefined ? ` (dockerd pid ${r.engine.startedPid}, started by this command; lab down stops it)` : ""}; compose: ${r.engine.compose.join(" ")} ${r.engine.composeVersion}`,
    ...r.images.map(
      (i) =>
        `image ${i.tag}: ${i.cached ? "cached (inputs unchanged)" : `built in ${(i.ms / 1000).toFixed(1)} s`} - ${i.what}`,
    ),
    r.alreadyRunning ? "docker lab already running: nothing started" : `ran: ${r.argv.join(" ")}`,
    `docker lab ready in ${Math.round(r.readyMs)} ms: Kamailio answers kamcmd in real-kamailio` +
      (backends === "freeswitch" ? "; both FreeSWITCH answer their event socket with the SIP profile running" : "") +
      (r.alreadyRunning ? "" : `; dispatcher profile old (${backends} backends, ${images} images)`),
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

export async function dockerDownCommand(o: Opts): Promise<void> {
  const r = await dockerLabDown({ dir: dirOf(o), backends: dockerBackendsFrom(o, false), images: dockerImagesFrom(o) });
  const lines = [
    r.argv ? `ran: ${r.argv.join(" ")}` : "no Docker engine answers: no container of the lab can be running",
    ...(r.dockerd === "stopped"
      ? ["dockerd (started by lab up) stopped"]
      : r.dockerd === "not ours"
        ? ["the recorded dockerd pid now belongs to another process: left alone"]
        : []),
    "docker lab down",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

export function formatDockerStatus(st: DockerLabStatus): string {
  const rows = [
    ["CONTAINER", "SERVICE", "STATE", "STATUS", "IMAGE"],
    ...st.containers.map((c) => [c.name, c.service, c.state, c.status || "-", c.image]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
  const d = st.dispatcher;
  const mode =
    d.mode === "unavailable"
      ? `dispatcher mode: unavailable (${d.error ?? "kamcmd not answering"})`
      : `dispatcher mode: ${d.mode} (runtime: ${d.destinations.join(", ") || "no destinations"})`;
  return [
    `engine: Docker ${st.engine}`,
    ...(st.containers.length > 0 ? table : ["no containers (docker lab not running)"]),
    mode,
  ].join("\n");
}

export async function dockerStatusCommand(o: Opts): Promise<void> {
  const st = await dockerLabStatus({
    dir: dirOf(o),
    backends: dockerBackendsFrom(o, false),
    images: dockerImagesFrom(o),
  });
  process.stdout.write(o.json ? JSON.stringify(st, null, 2) + "\n" : formatDockerStatus(st) + "\n");
  if (st.containers.length === 0 || st.containers.some((c) => c.state !== "running"))
    process.exitCode = ExitCode.Environment;
}
