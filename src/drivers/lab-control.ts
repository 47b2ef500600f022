/**
 * "Make sure the lab is up, and take it down again if I started it" for commands that need a
 * running lab (migrate, sim, dashboard). One interface over the native and docker drivers.
 *
 * Ownership rule: a command stops at the end only a lab it started from nothing. A lab found
 * running, even partly (a dead backend that ensureUp replaced), was someone's before the command
 * and is left running after it.
 */
import type { Scope } from "../core/scope.js";
import type { TargetChoice } from "./driver.js";
import { dockerLabDown, dockerLabUp } from "../lab/docker/docker-lab.js";
import { labDown, labUp } from "../lab/native-lab.js";

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

/** The lab of a target choice (resolved once by the command: src/cli/driver-options.ts). */
export function labControlFor(c: TargetChoice): LabControl {
  if (c.driver === "native") {
    const settings = c.settings;
    return {
      readyTimeoutMs: settings.readyTimeoutMs,
      ensureUp: async (scope) => {
        // a frozen component is running (someone's, maybe a debugger's): the command's probes judge it
        const r = await labUp(settings, scope, { frozen: "accept" });
        return {
          alreadyRunning: r.alreadyRunning,
          startedFromNothing: !r.wasRunning,
          readyMs: r.readyMs,
          ...(r.replacedDead ? { replacedDead: r.replacedDead } : {}),
        };
      },
      down: async () => {
        await labDown(settings.labDir);
      },
    };
  }
  const { dir, backends, images, startEngine, readyTimeoutMs } = c;
  return {
    readyTimeoutMs,
    async ensureUp(scope) {
      const r = await dockerLabUp({ dir, backends, readyTimeoutMs, images, startEngine }, scope);
      if (r.alreadyRunning) return { alreadyRunning: true, startedFromNothing: false, readyMs: 0 };
      return { alreadyRunning: false, startedFromNothing: !r.partlyRunning, readyMs: r.readyMs };
    },
    down: async () => {
      await dockerLabDown({ dir, backends, images });
    },
  };
}
