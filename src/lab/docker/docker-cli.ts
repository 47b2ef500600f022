import { execFile } from "node:child_process";
import { EnvironmentError } from "../../cli/errors.js";
import { composeVersionArgv, dockerInfoArgv } from "./argv.js";
import type { ArgvRunner } from "./kamcmd-rpc.js";

/** The one place the docker driver runs `docker`: argument arrays, no shell, bounded time. */
export const runArgv: ArgvRunner = (argv, timeoutMs) =>
  new Promise((resolve, reject) => {
    const [bin, ...args] = argv;
    if (bin === undefined) {
      reject(new Error("empty argv"));
      return;
    }
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === "string") {
        // ENOENT and friends: the program itself could not run
        reject(new Error(`${bin}: ${(err as NodeJS.ErrnoException).code}`));
        return;
      }
      if (err && err.killed) {
        reject(new Error(`${argv.join(" ")}: no result within ${timeoutMs} ms`));
        return;
      }
      resolve({ stdout, stderr, code: err ? (typeof err.code === "number" ? err.code : 1) : 0 });
    });
  });

function firstLine(s: string): string {
  return s.trim().split("\n")[0]?.trim() ?? "";
}

/**
 * Docker CLI present, compose plugin present, engine answering; otherwise exit 3 with what to do.
 * `run` is injectable for tests.
 */
export async function requireDocker(run: ArgvRunner = runArgv): Promise<{ server: string; compose: string }> {
  const fail = (what: string, hint: string): never => {
    throw new EnvironmentError(`the docker driver needs ${what}; nothing was started or changed`, [
      hint,
      "or use the native lab (the default): --driver native",
    ]);
  };
  let c: { stdout: string; stderr: string; code: number };
  try {
    c = await run(composeVersionArgv(), 10_000);
  } catch (err) {
    return fail("the docker CLI", `${(err as Error).message}: install Docker Engine or Docker Desktop`);
  }
  if (c.code !== 0) {
    fail("the Docker Compose plugin (`docker compose`)", `${firstLine(c.stderr) || `exit ${c.code}`}; install docker-compose-plugin`);
  }
  const compose = c.stdout.trim();
  const info = await run(dockerInfoArgv(), 10_000).catch((err: Error) => ({ stdout: "", stderr: err.message, code: -1 }));
  if (info.code !== 0 || info.stdout.trim() === "") {
    fail("a running Docker engine", `\`docker info\` says: ${firstLine(info.stderr) || "no server version"}; start Docker and retry`);
  }
  return { server: info.stdout.trim(), compose };
}
