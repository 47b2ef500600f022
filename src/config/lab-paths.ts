import path from "node:path";
import type { BackendRole } from "../core/backend-role.js";
import { RPC_SECRET_CFG } from "../kamailio/rpc-secret.js";

/** Where everything of one lab lives (pure). */
export function labPaths(labDir: string) {
  return {
    labDir,
    state: path.join(labDir, "lab.json"),
    kamailioConfig: path.join(labDir, "kamailio.cfg"),
    kamailioLog: path.join(labDir, "kamailio.log"),
    dispatcherList: path.join(labDir, "dispatcher.list"),
    ctlSocket: path.join(labDir, "kamailio_ctl"),
    rpcSecretCfg: path.join(labDir, RPC_SECRET_CFG),
    lock: path.join(labDir, "apply.lock"),
    backend(role: BackendRole) {
      return {
        stdout: path.join(labDir, `uas-${role}.stdout.log`),
        messages: path.join(labDir, `uas-${role}.messages.log`),
        errors: path.join(labDir, `uas-${role}.errors.log`),
      };
    },
  };
}
export type LabPaths = ReturnType<typeof labPaths>;
