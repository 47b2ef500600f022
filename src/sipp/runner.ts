/**
 * The one place SIPp bursts are spawned: an argument array (never a shell), its own process group
 * so a stop reaches everything it started, stopped when the run is interrupted. The exit is
 * reported with SIPp's meaning and the last lines it printed.
 */
import { spawn } from "node:child_process";
import { stopGroup } from "../os/process.js";
import { describeSippExit } from "./results.js";

export interface SippExit {
  code: number | null;
  signal: string | null;
  /** e.g. "exit 1 (at least one call failed)" */
  description: string;
  durationMs: number;
  /** the last lines SIPp printed (stdout and stderr), for error messages */
  outputTail: string[];
}

export interface SippProcess {
  pid: number;
  /** resolves when SIPp has exited (never rejects) */
  done: Promise<SippExit>;
  /** stop the process group (SIGTERM, then SIGKILL); resolves when it is gone */
  stop(): Promise<void>;
}

const TAIL_BYTES = 4096;

export function startSipp(
  argv: readonly string[],
  opts: {
    cwd: string;
    signal?: AbortSignal;
    /** a file descriptor the process's standard output goes to (a capture writing to `-`); not in the tail then */
    stdout?: number;
  },
): SippProcess {
  const [bin, ...args] = argv;
  if (bin === undefined) throw new Error("startSipp: empty argv");
  const started = performance.now();
  const child = spawn(bin, args, { cwd: opts.cwd, detached: true, stdio: ["ignore", opts.stdout ?? "pipe", "pipe"] });
  let tail = "";
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString("latin1")).slice(-TAIL_BYTES);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let spawnError: Error | undefined;
  const done = new Promise<SippExit>((resolve) => {
    child.on("error", (err) => {
      spawnError = err;
    });
    child.on("close", (code, signal) => {
      const lines = tail
        .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, "g"), "")
        .split(/\r?\n/)
        .map((l) => l.trimEnd())
        .filter((l) => l.trim() !== "" && !/^[-+| ]+$/.test(l));
      resolve({
        // a SIPp that could not be spawned has no exit code of its own (Node reports the negative errno)
        code: spawnError ? null : code,
        signal,
        description: spawnError ? `could not start ${bin}: ${spawnError.message}` : describeSippExit(code, signal),
        durationMs: performance.now() - started,
        outputTail: lines.slice(-8),
      });
    });
  });
  const pid = child.pid ?? -1;
  let exited = false;
  void done.then(() => {
    exited = true;
  });
  const stop = async (): Promise<void> => {
    if (exited || pid < 0) return;
    await stopGroup(pid, 1000);
    await done;
  };
  if (opts.signal) {
    const onAbort = (): void => void stop();
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener("abort", onAbort, { once: true });
    void done.then(() => opts.signal?.removeEventListener("abort", onAbort));
  }
  return { pid, done, stop };
}
