import path from "node:path";
import { fileListStore, type BackendEndpoint, type Target } from "../../target/target.js";
import { kamcmdExecArgv } from "./argv.js";
import { runArgv } from "../../os/run-argv.js";
import { KamcmdRpcClient, type ArgvRunner } from "../../kamailio/kamcmd-rpc.js";
import {
  CONTAINERS,
  DOCKER_HEP_PORT,
  DOCKER_LAB_POLICY,
  HOST_DIRS,
  IN_CONTAINER,
  NETWORK,
  dockerBackendUri,
  hostSipPort,
  sippMessageLog,
  type DockerBackends,
} from "./topology.js";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * The Docker real-services lab as a Target:
 * - RPC: `docker exec real-kamailio kamcmd -s unix:/run/kamailio/kamailio_ctl ...` (KamcmdRpcClient)
 * - dispatcher list: the host directory mounted at /etc/kamailio (atomic rename works in a mounted directory)
 * - backends: FreeSWITCH old/new, or the SIPp UAS containers (their message logs land in a mounted host dir)
 * - calls: Kamailio's published port 127.0.0.1:15060
 */
export function dockerTarget(labDir: string, backends: DockerBackends, run: ArgvRunner = runArgv): Target {
  const rpc = new KamcmdRpcClient(`docker exec ${CONTAINERS.kamailio} kamcmd`, kamcmdExecArgv, run);
  const backend = (role: BackendRole): BackendEndpoint => ({
    role,
    address: backends === "freeswitch" ? NETWORK.freeswitch[role] : NETWORK.sippUas[role],
    port: backends === "freeswitch" ? IN_CONTAINER.freeswitchSipPort : IN_CONTAINER.sippPort,
    uri: dockerBackendUri(backends, role),
    messageLog: backends === "sipp" ? sippMessageLog(labDir, role) : undefined,
  });
  return {
    driver: "docker",
    proxy: { address: "127.0.0.1", port: hostSipPort() },
    callPath: {
      proxy: { address: NETWORK.kamailio, port: IN_CONTAINER.kamailioSipPort },
      localAddress: NETWORK.gateway,
    },
    hepCollector: { address: NETWORK.gateway, port: DOCKER_HEP_PORT },
    setId: 1,
    sipPolicy: DOCKER_LAB_POLICY,
    backends: { old: backend("old"), new: backend("new") },
    dispatcherList: fileListStore(path.join(labDir, HOST_DIRS.kamailio, "dispatcher.list")),
    rpc,
    kamcmdArgv: (method, ...params) => kamcmdExecArgv(method, params),
    lockPath: path.join(labDir, HOST_DIRS.state, "apply.lock"),
    close: () => rpc.close(),
  };
}
