import { mkdirSync } from "node:fs";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import path from "node:path";
import { EnvironmentError } from "../../cli/errors.js";
import { delay, type Scope } from "../../cli/scope.js";
import { loadKamailioTemplate } from "../../kamailio/config-template.js";
import { modeOf, parseDispatcherListResult, type RuntimeMode } from "../../kamailio/runtime.js";
import { composeDownArgv, composePsArgv, composeUpArgv } from "./argv.js";
import { requireDocker, runArgv } from "./docker-cli.js";
import { dockerInitialDispatcherList, dockerKamailioConfig } from "./docker-files.js";
import { dockerTarget } from "./docker-target.js";
import type { ArgvRunner } from "./kamcmd-rpc.js";
import { HOST_DIRS, type DockerBackends } from "./topology.js";

/**
 * `lab up / down / status --driver docker`: docker compose with the seed's files. The SIPp
 * containers (docker-compose.calls.yml) come up too when the backends are `sipp`.
 */
export interface DockerLabOptions {
  dir: string;
  backends: DockerBackends;
  readyTimeoutMs: number;
  run?: ArgvRunner;
}

function tail(text: string, n = 8): string[] {
  return text.trim().split("\n").slice(-n).map((l) => `  ${l}`);
}

export async function dockerLabUp(o: DockerLabOptions, scope: Scope): Promise<{ readyMs: number; argv: string[] }> {
  const run = o.run ?? runArgv;
  const started = performance.now();
  await requireDocker(run);
  const withCalls = o.backends === "sipp";
  // the project's Kamailio config and the initial profile `old`, into the mounted directory
  const kdir = path.join(o.dir, HOST_DIRS.kamailio);
  mkdirSync(kdir, { recursive: true });
  mkdirSync(path.join(o.dir, HOST_DIRS.sippLogs), { recursive: true });
  mkdirSync(path.join(o.dir, HOST_DIRS.state), { recursive: true });
  writeFileAtomic(path.join(kdir, "kamailio.cfg"), dockerKamailioConfig(loadKamailioTemplate()), { mode: FileMode.public });
  writeFileAtomic(path.join(kdir, "dispatcher.list"), dockerInitialDispatcherList(o.backends), { mode: FileMode.public, fsync: true });

  const argv = composeUpArgv(o.dir, withCalls);
  scope.defer("docker compose down", async () => {
    await run(composeDownArgv(o.dir, withCalls), 120_000).catch(() => undefined);
  });
  const up = await run(argv, 30 * 60_000); // first run builds FusionPBX and pulls images
  if (up.code !== 0) {
    throw new EnvironmentError(`\`${argv.join(" ")}\` failed (exit ${up.code}); the lab was taken down again`, tail(up.stderr));
  }
  // ready = Kamailio answers core.version through docker exec kamcmd
  const target = dockerTarget(o.dir, o.backends, run);
  const deadline = performance.now() + o.readyTimeoutMs;
  let last = "";
  for (;;) {
    try {
      await target.rpc.call("core.version");
      break;
    } catch (err) {
      last = (err as Error).message;
    }
    if (performance.now() > deadline) {
      throw new EnvironmentError(`Kamailio in real-kamailio did not answer kamcmd within ${o.readyTimeoutMs} ms (${last}); the lab was taken down again`);
    }
    await delay(250, scope.signal);
  }
  scope.release("docker compose down");
  return { readyMs: performance.now() - started, argv };
}

export async function dockerLabDown(o: Omit<DockerLabOptions, "readyTimeoutMs">): Promise<{ argv: string[] }> {
  const run = o.run ?? runArgv;
  await requireDocker(run);
  // both files, so the SIPp containers go too whichever way the lab was started
  const argv = composeDownArgv(o.dir, true);
  const r = await run(argv, 300_000);
  if (r.code !== 0) throw new EnvironmentError(`\`${argv.join(" ")}\` failed (exit ${r.code})`, tail(r.stderr));
  // leave the mounted directory as committed: the initial profile `old` with the FreeSWITCH backends
  writeFileAtomic(path.join(o.dir, HOST_DIRS.kamailio, "dispatcher.list"), dockerInitialDispatcherList("freeswitch"), { mode: FileMode.public, fsync: true });
  return { argv };
}

export interface DockerLabStatus {
  containers: { name: string; service: string; state: string; health: string; image: string }[];
  dispatcher: { mode: RuntimeMode | "unavailable"; destinations: string[]; error?: string };
}

export async function dockerLabStatus(o: Omit<DockerLabOptions, "readyTimeoutMs">): Promise<DockerLabStatus> {
  const run = o.run ?? runArgv;
  await requireDocker(run);
  const ps = await run(composePsArgv(o.dir, true), 30_000);
  if (ps.code !== 0) throw new EnvironmentError(`docker compose ps failed (exit ${ps.code})`, tail(ps.stderr));
  const containers = parseComposePs(ps.stdout);
  const target = dockerTarget(o.dir, o.backends, run);
  let dispatcher: DockerLabStatus["dispatcher"];
  try {
    const dests = parseDispatcherListResult(await target.rpc.call("dispatcher.list"));
    dispatcher = {
      mode: modeOf(dests, target.setId, target.backends.old.uri, target.backends.new.uri),
      destinations: dests.filter((d) => d.setId === target.setId).map((d) => `${d.uri} (${d.flags})`),
    };
  } catch (err) {
    dispatcher = { mode: "unavailable", destinations: [], error: (err as Error).message };
  }
  return { containers, dispatcher };
}

/** `docker compose ps --format json`: one JSON object per line (Compose v2.21+) or one array (older v2). */
export function parseComposePs(stdout: string): DockerLabStatus["containers"] {
  const text = stdout.trim();
  if (text === "") return [];
  const items: unknown[] = text.startsWith("[")
    ? (JSON.parse(text) as unknown[])
    : text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
  return items.map((i) => {
    const o = i as Record<string, unknown>;
    const s = (k: string): string => (typeof o[k] === "string" ? (o[k]) : "");
    return { name: s("Name"), service: s("Service"), state: s("State"), health: s("Health"), image: s("Image") };
  });
}
