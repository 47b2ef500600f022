import type { LabSettings } from "../config/lab-config.js";
import { backendUri, labPaths, type BackendRole } from "../lab/layout.js";
import { rpcClientFor } from "../lab/native-lab.js";
import { findBinary } from "../lab/binaries.js";
import { backendChannelCounts, runningBackendsKind } from "../lab/backend-spec.js";
import { readLabState } from "../lab/state.js";
import { LAB_LOOPBACK_POLICY } from "../sip/sip-policy.js";
import { fileListStore, type BackendEndpoint, type Target } from "./target.js";

/** The native lab as a target (the lab may or may not be running; callers probe). */
export function nativeTarget(s: LabSettings): Target {
  const p = labPaths(s.labDir);
  const rpc = rpcClientFor(s);
  const kind = runningBackendsKind(s);
  const backend = (role: BackendRole): BackendEndpoint => ({
    role,
    address: s[role].address,
    port: s[role].port,
    uri: backendUri(s, role),
    // only the SIPp stand-ins write message logs; FreeSWITCH does not (the kind of the lab running
    // in this lab dir wins over the flags: `sim` on a lab started with --backends freeswitch)
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
    kamcmdArgv: (method, ...params) => [findBinary("kamcmd") ?? "kamcmd", "-s", `unix:${p.ctlSocket}`, method, ...params],
    lockPath: p.lock,
    ...(kind === "freeswitch" ? { pbxChannels: async () => (await backendChannelCounts(runningSettings(s))) ?? {} } : {}),
    close: () => rpc.close(),
  };
}

/** The settings of the lab running in `s.labDir` (its ports and kind), else `s`. */
function runningSettings(s: LabSettings): LabSettings {
  try {
    return readLabState(labPaths(s.labDir))?.settings ?? s;
  } catch {
    return s;
  }
}
