/**
 * What the native lab writes before it starts anything (pure): kamailio.cfg's values from the lab's
 * settings and paths, the first dispatcher list (old only), and the hint when a port is taken.
 */
import type { LabSettings } from "../config/lab-config.js";
import type { LabPaths } from "../config/lab-paths.js";
import { buildProfile, renderProfile } from "../dispatcher/profile.js";
import type { KamailioConfigValues } from "../kamailio/config-template.js";
import { LAB_LOOPBACK_POLICY } from "../sip/sip-policy.js";
import { backendUri } from "./layout.js";

/** Debian's Kamailio 5.6.3 modules */
const KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/** kamailio.cfg of a native lab: its addresses and ports, its files in the lab dir, the HEP mirror. */
export function kamailioConfigValues(s: LabSettings, p: LabPaths): KamailioConfigValues {
  return {
    sipAddr: s.kamailio.address,
    sipPort: s.kamailio.sipPort,
    rpcPort: s.kamailio.rpcPort,
    children: s.kamailio.children,
    reloadDelta: s.kamailio.reloadDelta,
    setId: s.kamailio.setId,
    ctlSocket: p.ctlSocket,
    rpcSecretCfg: p.rpcSecretCfg,
    dispatcherList: p.dispatcherList,
    modulePath: KAMAILIO_MODULES,
    dispatcherAlg: s.kamailio.dispatcherAlg,
    hepAddr: s.hep.address,
    hepPort: s.hep.port,
    hepMirror: s.hep.mirror === "on",
    ...(s.mediaRelay.kind === "rtpengine" ? { rtpengineNg: `${s.kamailio.address}:${s.mediaRelay.ngPort}` } : {}),
  };
}

/** The list a lab starts with: old only. */
export function initialDispatcherList(s: LabSettings): string {
  return renderProfile(
    buildProfile("old", {
      setId: s.kamailio.setId,
      oldUri: backendUri(s, "old"),
      newUri: backendUri(s, "new"),
      policy: LAB_LOOPBACK_POLICY,
    }),
  );
}

/** What to do when a port the lab needs is taken: the flags that move the lab's ports, for its backends. */
export function portsHint(s: LabSettings): string {
  const flags = ["--sip-port", "--rpc-port", "--old-port", "--new-port"];
  if (s.backends === "freeswitch") flags.push("--old-esl-port", "--new-esl-port");
  if (s.backends === "freeswitch" && s.fusionpbx.enabled)
    flags.push("--postgres-port", "--old-http-port", "--new-http-port");
  return `stop whatever holds it, or pick other ports (${flags.join(", ")})`;
}
