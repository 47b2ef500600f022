/**
 * "Make sure the lab is up, and take it down again if I started it" for commands that need a
 * running lab (migrate, sim, dashboard). Each driver gives one (`Driver.lab()`).
 *
 * Ownership rule: a command stops at the end only a lab it started from nothing. A lab found
 * running, even partly (a dead backend that ensureUp replaced), was someone's before the command
 * and is left running after it.
 */
import type { Scope } from "../core/scope.js";

export interface LabControl {
  /** start the lab unless it runs; resolves when it is ready */
  ensureUp(scope: Scope): Promise<EnsureUpResult>;
  down(): Promise<void>;
  /** how long readiness waits may take */
  readyTimeoutMs: number;
}

export interface EnsureUpResult {
  /** every component was up: nothing was started */
  alreadyRunning: boolean;
  /** nothing of this lab was running before: the caller owns the lab and stops it at the end */
  startedFromNothing: boolean;
  readyMs: number;
  /** components found dead and replaced (the lab was partly running: not the caller's) */
  replacedDead?: string[];
}

/**
 * A Kamailio the tool did not start (a target file's node): nothing to start, nothing to stop; it is
 * running, or the RPC wait says it is not.
 */
export function unmanagedKamailio(readyTimeoutMs = 5000): LabControl {
  return {
    readyTimeoutMs,
    ensureUp: () => Promise.resolve({ alreadyRunning: true, startedFromNothing: false, readyMs: 0 }),
    down: () => Promise.resolve(),
  };
}
