/**
 * A `pbx-cutover` command started in the background by an e2e test (a migrate a second process
 * talks to, a run a signal is sent to): its output collected, its exit awaited. Every one still
 * running is tracked, so an after() hook can stop what a failed assertion left behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI, type LabFixture } from "./lab-fixture.js";

export interface RunningCli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  closed: Promise<number | null>;
}

const started = new Set<ChildProcess>();

/** `pbx-cutover <argv>` with the fixture's folder as its working directory */
export function startCli(f: Pick<LabFixture, "dir">, argv: string[]): RunningCli {
  const child = spawn(process.execPath, [CLI, ...argv], { cwd: f.dir, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  started.add(child);
  const closed = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      started.delete(child);
      resolve(code);
    }),
  );
  return { child, out: () => stdout, err: () => stderr, closed };
}

/** SIGTERM every command a test started that has not closed yet */
export function stopStartedClis(): void {
  for (const c of started) c.kill("SIGTERM");
}

/** Wait until `ok()` holds (looked at every `everyMs`), or throw naming `what` after `timeoutMs`. */
export async function until(what: string, ok: () => boolean, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
