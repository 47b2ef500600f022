import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { LabState } from "../state.js";
import { parseFreeswitchVersion } from "../../verify/product-version.js";
import type { VersionSource } from "../../verify/probes.js";
import type { VerifySection } from "../../config/verify-config.js";
import { eventSocketOf } from "./instance.js";

const execFileP = promisify(execFile);

/**
 * What `verify` adds on a native lab whose backends are FreeSWITCH (from the running lab's state file,
 * read once by the command, not from flags: verify checks what runs): each slot's event socket
 * (endpoint and the lab's generated password, used on the socket only) and `freeswitch -version` of
 * the binary it runs. `running`: undefined when no lab runs.
 */
function freeswitchLab(running: LabState | undefined): LabState | undefined {
  return running?.settings.backends === "freeswitch" ? running : undefined;
}

export function nativeFreeswitchVersionSources(running: LabState | undefined): VersionSource[] {
  const state = freeswitchLab(running);
  if (!state) return [];
  return state.components.flatMap((c): VersionSource[] => {
    if ((c.role !== "old" && c.role !== "new") || c.comm !== "freeswitch") return [];
    const bin = c.argv[0]!;
    return [
      {
        role: c.role,
        component: `${c.role} FreeSWITCH (binary)`,
        stack: "freeswitch",
        kind: "freeswitch binary",
        endpoint: bin,
        source: "freeswitch -version",
        async read(timeoutMs) {
          const { stdout, stderr } = await execFileP(bin, ["-version"], { timeout: timeoutMs });
          return `${stdout}\n${stderr}`;
        },
        parse: parseFreeswitchVersion,
      },
    ];
  });
}

/** Fill each slot's event socket from the lab unless the config names one. */
export function withNativeFreeswitchDefaults(config: VerifySection, running: LabState | undefined): VerifySection {
  const state = freeswitchLab(running);
  if (!state) return config;
  const out: VerifySection = { ...config };
  for (const role of ["old", "new"] as const) {
    if (config[role].eventSocket) continue;
    let es: ReturnType<typeof eventSocketOf>;
    try {
      es = eventSocketOf(state.settings, role);
    } catch {
      continue; // no secret file: the lab is gone; the SIP probes will say so
    }
    out[role] = { ...config[role], eventSocket: { host: es.host, port: es.port, password: es.password } };
  }
  return out;
}
