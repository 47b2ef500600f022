/**
 * The real Docker engine, for the `make test-docker` tier: is one running, what of the lab is left
 * (containers, the lab network, volumes, a dockerd the tests caused), a free UDP port to publish.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { delay } from "../../src/core/scope.js";
import { freeTcpPort, freeUdpPort } from "./lab-fixture.js";

const execFileP = promisify(execFile);
const PROJECT = "pbx-cutover-real";

async function docker(args: string[]): Promise<string | undefined> {
  try {
    const r = await execFileP("docker", args, { timeout: 30_000 });
    return r.stdout;
  } catch {
    return undefined;
  }
}

export async function engineRunning(): Promise<boolean> {
  return (await docker(["info", "--format", "{{.ServerVersion}}"]))?.trim() ? true : false;
}

/** The env every test command runs with: free published ports (SIP, both FusionPBX); start dockerd when none ran at the start. */
export async function dockerEnv(startEngine: boolean): Promise<NodeJS.ProcessEnv> {
  return {
    ...process.env,
    PBX_CUTOVER_DOCKER_SIP_PORT: String(await freeUdpPort()),
    PBX_CUTOVER_DOCKER_FUSIONPBX_OLD_PORT: String(await freeTcpPort()),
    PBX_CUTOVER_DOCKER_FUSIONPBX_NEW_PORT: String(await freeTcpPort()),
    PBX_CUTOVER_DOCKER_START_ENGINE: startEngine ? "1" : "0",
  };
}

/** The lab's containers in any state (none when no engine answers). */
export async function labContainers(): Promise<string[]> {
  const out = await docker([
    "ps",
    "-a",
    "--filter",
    `label=com.docker.compose.project=${PROJECT}`,
    "--format",
    "{{.Names}}",
  ]);
  return (out ?? "").split("\n").filter((l) => l.trim() !== "");
}

function dockerdPids(): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      // a zombie is stopped (this machine's pid 1 does not reap orphans)
      if (readFileSync(`/proc/${e}/comm`, "utf8").trim() === "dockerd" && state !== "Z") out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** What of the lab is left: containers, the lab network, its volumes, and a dockerd when none ran at the start. */
export async function dockerLeaks(engineAtStart: boolean): Promise<string[]> {
  const leaks = (await labContainers()).map((c) => `container ${c}`);
  const nets = await docker([
    "network",
    "ls",
    "--filter",
    `label=com.docker.compose.project=${PROJECT}`,
    "--format",
    "{{.Name}}",
  ]);
  leaks.push(
    ...(nets ?? "")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((n) => `network ${n}`),
  );
  const vols = await docker([
    "volume",
    "ls",
    "--filter",
    `label=com.docker.compose.project=${PROJECT}`,
    "--format",
    "{{.Name}}",
  ]);
  leaks.push(
    ...(vols ?? "")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((v) => `volume ${v}`),
  );
  if (!engineAtStart) leaks.push(...dockerdPids().map((p) => `dockerd pid ${p}`));
  return leaks;
}

export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${what()}`);
    await delay(200);
  }
}
