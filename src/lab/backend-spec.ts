import type { LabSettings, StandInAnswer } from "../config/lab-config.js";
import { assetPath } from "../core/assets.js";
import { probeOptions } from "../sip/options-probe.js";
import { channelsCount } from "../freeswitch/event-stream.js";
import {
  eventSocketOf,
  freeswitchVersionText,
  prepareFreeswitch,
  probeFreeswitchReady,
} from "./freeswitch/instance.js";
import { requireFreeswitchTree } from "./freeswitch/install.js";
import type { LabPaths } from "../config/lab-paths.js";
import type { BackendRole } from "../core/backend-role.js";
import { uasArgv, type ComponentRole } from "./layout.js";

/**
 * What plays a backend in the native lab, by the lab's backends kind: how to start it, when it is
 * ready, how to name it and read its version. native-lab.ts starts, waits for and stops components
 * the same way whatever the kind.
 */
export interface BackendSpec {
  role: BackendRole;
  /** /proc/<pid>/comm of the process (pid-reuse guard) */
  comm: string;
  argv: string[];
  /** stdout + stderr of the process */
  log: string;
  /** more logs worth showing when it dies during start-up */
  extraLogs: string[];
  /** for messages: "old backend FreeSWITCH (127.0.0.1:15070/udp)" */
  label: string;
  /** resolves once ready, throws why not yet */
  probeReady(): Promise<void>;
}

/** The scenario each way a stand-in answers plays (assets/sipp/). */
export const STAND_IN_SCENARIOS: Record<StandInAnswer, string> = {
  answer: "uas-answer.xml",
  "503-one-in-five": "uas-503-one-in-five.xml",
  slow: "uas-answer-slow.xml",
  mute: "uas-answer.xml",
  "codec-mismatch": "uas-answer-codec-mismatch.xml",
  "dead-media-address": "uas-answer-dead-media-address.xml",
};

/**
 * A component native-lab.ts starts beside Kamailio: a backend, or a service of `--fusionpbx`
 * (PostgreSQL, a FusionPBX web server), with where it listens.
 */
export interface ComponentSpec extends Omit<BackendSpec, "role"> {
  role: ComponentRole;
  address: string;
  port: number;
  proto: "udp" | "tcp";
}

/** A backend's spec as a component: it listens on the backend's SIP address and port. */
export function backendComponent(s: LabSettings, b: BackendSpec): ComponentSpec {
  return { ...b, address: s[b.role].address, port: s[b.role].port, proto: "udp" };
}

/** SIGTERM grace before SIGKILL: FreeSWITCH takes 1-5 s to shut down (more on a loaded machine), PostgreSQL a checkpoint. */
export function stopGraceMs(comm: string): number {
  return comm === "freeswitch" || comm === "postgres" ? 10_000 : 3000;
}

/** The first stop signal: PostgreSQL's fast shutdown is SIGINT (SIGTERM would wait for every client to leave). */
export function stopSignal(comm: string): NodeJS.Signals {
  return comm === "postgres" ? "SIGINT" : "SIGTERM";
}

/** Check what the kind needs before anything starts (exit 3 with what to do); returns FreeSWITCH trees. */
export function requireBackendPrograms(s: LabSettings): Partial<Record<BackendRole, string>> {
  if (s.backends !== "freeswitch") return {};
  return {
    old: requireFreeswitchTree("old", s.freeswitch.old.tree),
    new: requireFreeswitchTree("new", s.freeswitch.new.tree),
  };
}

/** The ports each backend will bind (for the port-in-use check before start). */
export function backendPorts(
  s: LabSettings,
  role: BackendRole,
): { proto: "udp" | "tcp"; address: string; port: number }[] {
  const b = s[role];
  if (s.backends !== "freeswitch") return [{ proto: "udp", address: b.address, port: b.port }];
  return [
    { proto: "udp", address: b.address, port: b.port },
    { proto: "tcp", address: b.address, port: b.port },
    { proto: "tcp", address: b.address, port: s.freeswitch[role].eventSocketPort },
  ];
}

/** Prepare (write configs) and describe both backends. `sipp` is the sipp binary (kind sipp only). */
export async function backendSpecs(
  s: LabSettings,
  p: LabPaths,
  programs: { sipp?: string | undefined; trees: Partial<Record<BackendRole, string>> },
): Promise<BackendSpec[]> {
  const roles = ["old", "new"] as const;
  if (s.backends === "freeswitch") {
    return Promise.all(
      roles.map(async (role) => {
        const tree = programs.trees[role];
        if (tree === undefined) throw new Error(`no FreeSWITCH tree resolved for ${role}`);
        const fs = await prepareFreeswitch(s, role, tree);
        return {
          role,
          comm: "freeswitch",
          argv: fs.argv,
          log: fs.paths.stdout,
          extraLogs: [fs.paths.logFile],
          label: `${role} backend FreeSWITCH (${s[role].address}:${s[role].port}/udp, event socket :${s.freeswitch[role].eventSocketPort})`,
          probeReady: () => probeFreeswitchReady(s, role),
        };
      }),
    );
  }
  if (programs.sipp === undefined) throw new Error("sipp binary not resolved");
  return roles.map((role) => ({
    role,
    comm: "sipp",
    argv: uasArgv(programs.sipp!, assetPath("sipp", STAND_IN_SCENARIOS[s[role].standIn ?? "answer"]), s, p, role),
    log: p.backend(role).stdout,
    extraLogs: [p.backend(role).errors],
    label: `${role} backend SIPp UAS (${s[role].address}:${s[role].port}/udp)`,
    async probeReady() {
      const r = await probeOptions({ address: s[role].address, port: s[role].port }, 200);
      if (r.status !== 200) throw new Error(r.error ?? `answered OPTIONS with ${r.status ?? "nothing"}`);
    },
  }));
}

/** The version `lab status` shows for a running backend; undefined = ask the binary (`-v`). */
export async function backendVersion(s: LabSettings, role: BackendRole): Promise<string | undefined> {
  return s.backends === "freeswitch" ? freeswitchVersionText(s, role) : undefined;
}

/** FreeSWITCH backends: each one's own channel count (undefined for stand-ins; a role that does not answer is left out). */
export async function backendChannelCounts(s: LabSettings): Promise<Partial<Record<BackendRole, number>> | undefined> {
  if (s.backends !== "freeswitch") return undefined;
  const out: Partial<Record<BackendRole, number>> = {};
  await Promise.all(
    (["old", "new"] as const).map(async (role) => {
      try {
        const es = eventSocketOf(s, role);
        out[role] = await channelsCount({ host: es.host, port: es.port }, es.password, 1000);
      } catch {
        // not answering: the component row already says dead, or the version cell says why
      }
    }),
  );
  return out;
}
