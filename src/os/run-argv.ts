import { execFile } from "node:child_process";
import type { ArgvRunner } from "../kamailio/kamcmd-rpc.js";

/**
 * The one way the tool runs a helper program and waits for its output (docker, kamcmd, ssh):
 * argument arrays, no shell, bounded time, stdin given (`input`) or closed at once. `extraEnv` is
 * added to the environment (compose reads secrets from it, never from argv). Rejects when the program
 * could not run or did not finish in time; otherwise resolves with its exit code.
 */
export const runArgvWith =
  (extraEnv: Record<string, string> | undefined): ArgvRunner =>
  (argv, timeoutMs, input) =>
    new Promise((resolve, reject) => {
      const [bin, ...args] = argv;
      if (bin === undefined) {
        reject(new Error("empty argv"));
        return;
      }
      const child = execFile(
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
      // a program that reads stdin gets `input`, or EOF at once: nothing here ever waits on a terminal
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(input);
    });

export const runArgv: ArgvRunner = runArgvWith(undefined);
