import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { EnvironmentError } from "../../core/errors.js";
import { delay } from "../../core/scope.js";
import { ensureDir } from "../../files/ensure-dir.js";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import { judge, readProc, startTimeOf } from "../../os/ownership.js";
import { isAlive, spawnDetached, stopGroup, tailLines } from "../../os/process.js";
import { composeVersionArgv, dockerInfoArgv, type ComposeCommand } from "./argv.js";
import type { ArgvRunner } from "../../kamailio/kamcmd-rpc.js";

/**
 * The Docker engine the lab runs on (effects): find one answering `docker info`, or, when asked
 * (`--docker-start-engine` / PBX_CUTOVER_DOCKER_START_ENGINE=1) and root, start Debian's dockerd as
 * its own process group and record it in <state>/dockerd.json, so `lab down` stops exactly that one.
 * A dockerd the tool did not start is never stopped. Compose: v2 (`docker compose`) or Debian's
 * v1 (`docker-compose`), detected once per process.
 */

export const START_ENGINE_ENV = "PBX_CUTOVER_DOCKER_START_ENGINE";

export interface Engine {
  server: string;
  compose: ComposeCommand;
  composeVersion: string;
  /** this call started dockerd (the caller owns it until it is recorded for `lab down`) */
  startedPid?: number;
}

interface DockerdRecord {
  pid: number;
  startTime?: string;
  startedAt: string;
}

function firstLine(s: string): string {
  return s.trim().split("\n")[0]?.trim() ?? "";
}

const DOCKERD_CANDIDATES = ["/usr/sbin/dockerd", "/usr/bin/dockerd"];

/** PBX_CUTOVER_DOCKERD names another dockerd (tests: one that cannot start). */
export const DOCKERD_ENV = "PBX_CUTOVER_DOCKERD";

function dockerdBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env[DOCKERD_ENV];
  if (explicit !== undefined && explicit !== "") return explicit;
  return DOCKERD_CANDIDATES.find((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

export function dockerdPaths(stateDir: string) {
  return {
    record: path.join(stateDir, "dockerd.json"),
    pidfile: path.join(stateDir, "dockerd.pid"),
    log: path.join(stateDir, "dockerd.log"),
  };
}

let detected: { compose: ComposeCommand; version: string } | undefined;

/** `docker compose version`, else `docker-compose version --short`; once per process. */
export async function detectCompose(run: ArgvRunner): Promise<{ compose: ComposeCommand; version: string }> {
  if (detected) return detected;
  for (const compose of [["docker", "compose"], ["docker-compose"]] as ComposeCommand[]) {
    const r = await run(composeVersionArgv(compose), 20_000).catch(() => undefined);
    if (r && r.code === 0 && r.stdout.trim() !== "") {
      detected = { compose, version: firstLine(r.stdout) };
      return detected;
    }
  }
  throw new EnvironmentError(
    "the docker driver needs Docker Compose: neither `docker compose` (v2) nor `docker-compose` (v1) runs; nothing was started",
    ["as root on Debian: apt-get install -y docker-compose   (or install the docker-compose-plugin)"],
  );
}

async function serverVersion(run: ArgvRunner): Promise<{ ok: true; server: string } | { ok: false; why: string }> {
  const r = await run(dockerInfoArgv(), 15_000).catch((err: Error) => ({ stdout: "", stderr: err.message, code: -1 }));
  if (r.code === 0 && r.stdout.trim() !== "") return { ok: true, server: r.stdout.trim() };
  return { ok: false, why: firstLine(r.stderr) || `exit ${r.code}` };
}

function noEngine(why: string, hints: string[]): never {
  throw new EnvironmentError(
    `the docker driver needs a running Docker engine (\`docker info\`: ${why}); nothing was started or changed`,
    [...hints, "or use the native lab (the default): --driver native"],
  );
}

/**
 * A Docker engine answering, or exit 3 with the commands to run. With `start`, a missing engine is
 * started (root only) and recorded under `stateDir`.
 */
export async function requireEngine(run: ArgvRunner, o: { start: boolean; stateDir: string }): Promise<Engine> {
  const cli = await run(["docker", "--version"], 10_000).catch((err: Error) => ({
    code: -1,
    stdout: "",
    stderr: err.message,
  }));
  if (cli.code !== 0) {
    noEngine(`the docker CLI does not run (${firstLine(cli.stderr) || `exit ${cli.code}`})`, [
      "as root on Debian: apt-get install -y docker.io docker-compose",
    ]);
  }
  let info = await serverVersion(run);
  let startedPid: number | undefined;
  if (!info.ok) {
    const bin = dockerdBinary();
    if (!o.start) {
      noEngine(info.why, [
        bin
          ? "start it: sudo dockerd &   (or let the tool start and stop it: --docker-start-engine, or PBX_CUTOVER_DOCKER_START_ENGINE=1)"
          : "as root on Debian: apt-get install -y docker.io docker-compose",
      ]);
    }
    if (bin === undefined)
      noEngine(info.why, ["dockerd is not installed; as root on Debian: apt-get install -y docker.io docker-compose"]);
    if (process.getuid?.() !== 0) noEngine(info.why, [`starting dockerd needs root: sudo ${bin} &`]);
    startedPid = await startDockerd(bin, run, o.stateDir);
    info = await serverVersion(run);
    if (!info.ok) noEngine(info.why, []);
  }
  const c = await detectCompose(run);
  return {
    server: info.server,
    compose: c.compose,
    composeVersion: c.version,
    ...(startedPid !== undefined ? { startedPid } : {}),
  };
}

async function startDockerd(bin: string, run: ArgvRunner, stateDir: string): Promise<number> {
  ensureDir(stateDir);
  const p = dockerdPaths(stateDir);
  rmSync(p.log, { force: true });
  // --pidfile names the state directory: the ownership check (src/os/ownership.ts) recognises it
  const pid = spawnDetached([bin, "--pidfile", p.pidfile], p.log, stateDir);
  const rec: DockerdRecord = { pid, startTime: startTimeOf(pid), startedAt: new Date().toISOString() };
  writeFileAtomic(p.record, JSON.stringify(rec) + "\n", { mode: FileMode.public });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!isAlive(pid)) {
      rmSync(p.record, { force: true });
      noEngine(
        "dockerd exited right after it was started",
        tailLines(p.log, 10).map((l) => `  ${l}`),
      );
    }
    if ((await serverVersion(run)).ok) return pid;
    if (Date.now() > deadline) {
      await stopDockerd(stateDir);
      noEngine(
        "dockerd did not answer within 60 s; it was stopped again",
        tailLines(p.log, 10).map((l) => `  ${l}`),
      );
    }
    await delay(200);
  }
}

/** Stop the dockerd this tool started for this docker dir (if any, and only if it is still that process). */
export async function stopDockerd(stateDir: string): Promise<"stopped" | "none" | "not ours"> {
  const p = dockerdPaths(stateDir);
  if (!existsSync(p.record)) return "none";
  let rec: DockerdRecord;
  try {
    rec = JSON.parse(readFileSync(p.record, "utf8")) as DockerdRecord;
  } catch {
    rmSync(p.record, { force: true });
    return "none";
  }
  const own = judge({ pid: rec.pid, startTime: rec.startTime }, readProc(rec.pid), stateDir);
  rmSync(p.record, { force: true });
  if (own.kind === "gone") return "none";
  if (own.kind === "not-ours") return "not ours";
  // dockerd stops its containers' shims and its own containerd on SIGTERM; give it time
  await stopGroup(rec.pid, 30_000);
  return "stopped";
}

/** Did this tool start the running dockerd for this docker dir? */
export function dockerdStartedByUs(stateDir: string): boolean {
  const p = dockerdPaths(stateDir);
  if (!existsSync(p.record)) return false;
  try {
    const rec = JSON.parse(readFileSync(p.record, "utf8")) as DockerdRecord;
    return judge({ pid: rec.pid, startTime: rec.startTime }, readProc(rec.pid), stateDir).kind === "ours";
  } catch {
    return false;
  }
}
