import type { LabSettings } from "../config/lab-config.js";
import { labPaths } from "../config/lab-paths.js";
import type { BackendRole } from "../core/backend-role.js";
import { backendUri } from "./layout.js";
import { rpcClientFor } from "./native-lab.js";
import { findBinary } from "./binaries.js";
import { backendChannelCounts } from "./backend-spec.js";
import { eventSocketOf } from "./freeswitch/instance.js";
import { freeswitchPbx } from "../freeswitch/channel-list.js";
import { LAB_LOOPBACK_POLICY } from "../sip/sip-policy.js";
import { fileListStore, type BackendEndpoint, type Target } from "../target/target.js";

/**
 * The native lab as a target (the lab may or may not be running; callers probe). `s` are the settings
 * the command resolved (a running lab's recorded ones adopted, src/cli/lab-options.ts): its ports, and
 * its backends kind decides whether there are message logs and channel counts.
 */
export function nativeTarget(s: LabSettings): Target {
  const p = labPaths(s.labDir);
  const rpc = rpcClientFor(s);
  const kind = s.backends;
  const backend = (role: BackendRole): BackendEndpoint => ({
    role,
    address: s[role].address,
    port: s[role].port,
    uri: backendUri(s, role),
    // only the SIPp stand-ins write message logs; FreeSWITCH does not
    messageLog: kind === "sipp" ? p.backend(role).messages : undefined,
  });
  return {
    driver: "native",
    proxy: { address: s.kamailio.address, port: s.kamailio.sipPort },
    setId: s.kamailio.setId,
    dispatcherAlgorithm: s.kamailio.dispatcherAlg,
    sipPolicy: LAB_LOOPBACK_POLICY,
    backends: { old: backend("old"), new: backend("new") },
    dispatcherList: fileListStore(p.dispatcherList),
    rpc,
    kamcmdArgv: (method, ...params) => [
      findBinary("kamcmd") ?? "kamcmd",
      "-s",
      `unix:${p.ctlSocket}`,
      method,
      ...params,
    ],
    lockPath: p.lock,
    ...(kind === "freeswitch"
      ? {
          pbxChannels: async () => (await backendChannelCounts(s)) ?? {},
          pbx: { old: labPbx(s, "old"), new: labPbx(s, "new") },
        }
      : {}),
    close: () => rpc.close(),
  };
}

/** The lab's FreeSWITCH of one role as the drain asks it (its event-socket secret read when asked). */
function labPbx(s: LabSettings, role: BackendRole): ReturnType<typeof freeswitchPbx> {
  return freeswitchPbx(
    role,
    { host: s[role].address, port: s.freeswitch[role].eventSocketPort },
    () => eventSocketOf(s, role).password,
    1000,
  );
}
