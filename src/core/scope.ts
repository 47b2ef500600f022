import { InterruptedError, signalExitCode } from "./errors.js";

type Cleanup = () => Promise<void> | void;

/**
 * One owner for everything a command starts. Cleanups run in reverse order on success,
 * failure and Ctrl-C (SIGINT/SIGTERM), exactly once.
 */
export class Scope {
  private readonly cleanups: { label: string; fn: Cleanup }[] = [];
  private closed = false;
  private readonly abortController = new AbortController();

  /** aborted when the user interrupts the run; long waits should honour it */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  defer(label: string, fn: Cleanup): void {
    if (this.closed) throw new Error(`scope already closed; cannot register ${label}`);
    this.cleanups.push({ label, fn });
  }

  /** remove a cleanup (when ownership is handed over, e.g. `lab up` leaves the lab running) */
  release(label: string): void {
    const i = this.cleanups.findIndex((c) => c.label === label);
    if (i >= 0) this.cleanups.splice(i, 1);
  }

  abort(reason: unknown): void {
    if (!this.abortController.signal.aborted) this.abortController.abort(reason);
  }

  async close(): Promise<string[]> {
    if (this.closed) return [];
    this.closed = true;
    const problems: string[] = [];
    for (const { label, fn } of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        problems.push(`cleanup of ${label} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.cleanups.length = 0;
    return problems;
  }
}

/** Scopes open right now: a signal aborts all of them. */
const openScopes = new Set<Scope>();
let received: NodeJS.Signals | undefined;

/** The first SIGINT/SIGTERM this process received, if any. */
export function receivedSignal(): NodeJS.Signals | undefined {
  return received;
}

/**
 * The one signal policy, installed by main() for the whole life of the process:
 * SIGINT and SIGTERM abort every open scope (its waits reject with InterruptedError, its cleanups
 * run in reverse), and the command ends with 130 (SIGINT) or 143 (SIGTERM). When no scope is open
 * the command owns nothing, so it ends at once with that code. Further signals while cleanup runs
 * are ignored: cleanup is bounded (a process group gets SIGTERM, then SIGKILL after 3 s).
 */
export function installSignalPolicy(exit: (code: number) => void): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    if (received !== undefined) return;
    received = sig;
    if (openScopes.size === 0) {
      process.stderr.write(`pbx-cutover: interrupted by ${sig}; nothing was running\n`);
      exit(signalExitCode(sig));
      return;
    }
    for (const s of openScopes) s.abort(new InterruptedError(sig));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/**
 * Run `body` with a fresh scope. A signal aborts the scope (see installSignalPolicy); the body's
 * waits reject with InterruptedError, and the scope is closed before the error propagates.
 */
export async function withScope<T>(body: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = new Scope();
  openScopes.add(scope);
  if (received !== undefined) scope.abort(new InterruptedError(received));
  try {
    const result = await body(scope);
    return result;
  } catch (err) {
    if (scope.signal.aborted) throw scope.signal.reason as Error;
    throw err;
  } finally {
    const problems = await scope.close();
    for (const p of problems) process.stderr.write(`pbx-cutover: warning: ${p}\n`);
    openScopes.delete(scope);
  }
}

/** Reject with the scope's abort reason when the signal fires. */
export function abortable<T>(signal: AbortSignal, p: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Sleep that an interrupt cuts short. Used for polling intervals, never as a readiness wait. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
