import path from "node:path";
import { labPaths } from "../config/lab-paths.js";
import { nativeFreeswitchVersionSources, withNativeFreeswitchDefaults } from "../lab/freeswitch/lab-verify.js";
import { nativeFusionpbxVersionSources, withNativeFusionpbxDefaults } from "../lab/fusionpbx/lab-verify.js";
import { labDown, labUp } from "../lab/native-lab.js";
import { nativeTarget } from "../lab/native-target.js";
import { LAB_LOOPBACK_POLICY } from "../sip/sip-policy.js";
import type { DriverKind, NativeChoice } from "./driver.js";

/**
 * The native lab: Kamailio and the backends (SIPp stand-ins or real FreeSWITCH) as processes of this
 * machine on loopback, in the lab dir; the settings adopt a lab already running there.
 */
export const nativeDriver: DriverKind<NativeChoice> = {
  name: "native",
  adoptsRunningLab: true,
  choose: ({ settings, running }) => ({ driver: "native", settings, ...(running ? { running } : {}) }),
  bind: (c) => ({
    name: "native",
    sipPolicy: LAB_LOOPBACK_POLICY,
    // the lab's setting (a running lab's recorded one; a --dispatcher-alg contradicting it was exit 2)
    dispatcherAlgorithm: c.settings.kamailio.dispatcherAlg,
    lockDir: path.dirname(labPaths(c.settings.labDir).lock),
    where: `lab dir ${c.settings.labDir}`,
    realPbx: c.settings.backends === "freeswitch",
    mirroredCalls: undefined,
    destinationsFrom: undefined,
    echoesMedia: true,
    mediaRelay:
      c.settings.mediaRelay.kind === "rtpengine"
        ? { address: c.settings.kamailio.address, port: c.settings.mediaRelay.ngPort }
        : undefined,
    placesTraffic: true,
    restartWatchMs: undefined,
    kamailioDownHint:
      "Kamailio does not answer; is the lab up? pbx-cutover lab status (start it with pbx-cutover lab up)",
    // a Target that cannot be built is a rejected promise, as for every driver
    openTarget: () => Promise.resolve().then(() => nativeTarget(c.settings)),
    lab: () => ({
      readyTimeoutMs: c.settings.readyTimeoutMs,
      ensureUp: async (scope) => {
        // a frozen component is running (someone's, maybe a debugger's): the command's probes judge it
        const r = await labUp(c.settings, scope, { frozen: "accept" });
        return {
          alreadyRunning: r.alreadyRunning,
          startedFromNothing: !r.wasRunning,
          readyMs: r.readyMs,
          ...(r.replacedDead ? { replacedDead: r.replacedDead } : {}),
        };
      },
      down: async () => {
        await labDown(c.settings.labDir);
      },
    }),
    // a native lab running FreeSWITCH (or FusionPBX): its binaries' versions, read from the running lab
    versionSources: () => [...nativeFreeswitchVersionSources(c.running), ...nativeFusionpbxVersionSources(c.running)],
    // each FreeSWITCH's event socket from the lab's own secret; with --fusionpbx, each FusionPBX URL
    withVerifyDefaults: (config) =>
      withNativeFusionpbxDefaults(withNativeFreeswitchDefaults(config, c.running), c.running),
  }),
};
