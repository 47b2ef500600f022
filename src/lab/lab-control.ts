/**
 * "Make sure the lab is up, and take it down again if I started it" for commands that need a
 * running lab (migrate, sim, dashboard). One interface over the native and docker drivers.
 */
import type { Scope } from "../cli/scope.js";
import { labSettingsFrom } from "../cli/lab-options.js";
import { dockerLabDown, dockerLabStatus, dockerLabUp } from "./docker/docker-lab.js";
import { DOCKER_LAB_DIR } from "./docker/topology.js";
import { dockerBackendsFrom, driverFrom, type TargetFlags } from "./driver.js";
import { labDown, labUp } from "./native-lab.js";

export interface LabControl {
  /** start the lab unless it runs; resolves when it is ready */
  ensureUp(scope: Scope): Promise<{ alreadyRunning: boolean; readyMs: number; replacedDead?: string[] }>;
  down(): Promise<void>;
  /** how long readiness waits may take */
  readyTimeoutMs: number;
}

export function labControlFor(opts: TargetFlags, o: { needsEvidence?: boolean } = {}): LabControl {
  const settings = labSettingsFrom(opts);
  if (driverFrom(opts) === "native") {
    return {
      readyTimeoutMs: settings.readyTimeoutMs,
      ensureUp: (scope) => labUp(settings, scope),
      down: async () => {
        await labDown(settings.labDir);
      },
    };
  }
  const dir = opts.dockerDir ?? DOCKER_LAB_DIR;
  const backends = dockerBackendsFrom(opts, o.needsEvidence ?? false);
  const readyTimeoutMs = opts.readyTimeoutMs !== undefined ? settings.readyTimeoutMs : 120_000;
  return {
    readyTimeoutMs,
    async ensureUp(scope) {
      const st = await dockerLabStatus({ dir, backends });
      if (st.containers.length > 0 && st.containers.every((c) => c.state === "running") && st.dispatcher.mode !== "unavailable") {
        return { alreadyRunning: true, readyMs: 0 };
      }
      const r = await dockerLabUp({ dir, backends, readyTimeoutMs }, scope);
      return { alreadyRunning: false, readyMs: r.readyMs };
    },
    down: async () => {
      await dockerLabDown({ dir, backends });
    },
  };
}
