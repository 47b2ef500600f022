import { DOCKER_LAB_DIR } from "../../lab/docker/topology.js";
import { dockerLabDown, dockerLabStatus, dockerLabUp, type DockerLabStatus } from "../../lab/docker/docker-lab.js";
import { dockerBackendsFrom, type DriverFlags } from "../../lab/driver.js";
import { parseIntFlag } from "../../config/lab-config.js";
import { UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import { withScope } from "../scope.js";

/** `lab up|down|status --driver docker` (the native path stays in lab.ts). */
type Opts = DriverFlags & { json?: boolean; readyTimeoutMs?: string };

function dirOf(o: Opts): string {
  return o.dockerDir ?? DOCKER_LAB_DIR;
}

export async function dockerUpCommand(o: Opts): Promise<void> {
  const backends = dockerBackendsFrom(o, false);
  const readyTimeoutMs = o.readyTimeoutMs !== undefined ? parseIntFlag("--ready-timeout-ms", o.readyTimeoutMs) : 120_000;
  if (readyTimeoutMs < 100 || readyTimeoutMs > 600_000) {
    throw new UsageError(`--ready-timeout-ms ${readyTimeoutMs}: must be between 100 and 600000; nothing was started`);
  }
  const r = await withScope((scope) => dockerLabUp({ dir: dirOf(o), backends, readyTimeoutMs }, scope));
  process.stdout.write(
    `ran: ${r.argv.join(" ")}\ndocker lab ready in ${Math.round(r.readyMs)} ms: Kamailio answers kamcmd in real-kamailio; ` +
      `dispatcher profile old (${backends} backends)\n`,
  );
}

export async function dockerDownCommand(o: Opts): Promise<void> {
  const r = await dockerLabDown({ dir: dirOf(o), backends: dockerBackendsFrom(o, false) });
  process.stdout.write(`ran: ${r.argv.join(" ")}\ndocker lab down\n`);
}

export function formatDockerStatus(st: DockerLabStatus): string {
  const rows = [["CONTAINER", "SERVICE", "STATE", "HEALTH", "IMAGE"], ...st.containers.map((c) => [c.name, c.service, c.state, c.health || "-", c.image])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
  const d = st.dispatcher;
  const mode =
    d.mode === "unavailable"
      ? `dispatcher mode: unavailable (${d.error ?? "kamcmd not answering"})`
      : `dispatcher mode: ${d.mode} (runtime: ${d.destinations.join(", ") || "no destinations"})`;
  return [...(st.containers.length > 0 ? table : ["no containers (docker lab not running)"]), mode].join("\n");
}

export async function dockerStatusCommand(o: Opts): Promise<void> {
  const st = await dockerLabStatus({ dir: dirOf(o), backends: dockerBackendsFrom(o, false) });
  process.stdout.write(o.json ? JSON.stringify(st, null, 2) + "\n" : formatDockerStatus(st) + "\n");
  if (st.containers.length === 0 || st.containers.some((c) => c.state !== "running")) process.exitCode = ExitCode.Environment;
}
