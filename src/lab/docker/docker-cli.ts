import { execFile } from "node:child_process";
import type { ArgvRunner } from "./kamcmd-rpc.js";

/**
 * The one place the docker driver runs `docker`: argument arrays, no shell, bounded time.
 * `extraEnv` is added to the environment (compose reads secrets from it, never from argv).
 */
export const runArgvWith =
  (extraEnv: Record<string, string> | undefined): ArgvRunner =>
  (argv, timeoutMs) =>
    new Promise((resolve, reject) => {
      const [bin, ...args] = argv;
      if (bin === undefined) {
        reject(new Error("empty argv"));
        return;
      }
      execFile(
        bin,
        args,
        {
          timeout: timeoutMs,
          maxBuffer: 16 * 1024 * 1024,
          ...(extraEnv ? { env: { ...process.env, ...extraEnv } } : {}),
        },
        (err, stdout, stderr) => {
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
        },
      );
    });

export const runArgv: ArgvRunner = runArgvWith(undefined);
