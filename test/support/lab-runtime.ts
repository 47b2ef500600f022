import { HttpJsonRpcClient } from "../../src/kamailio/rpc.js";
import { parseDispatcherListResult } from "../../src/dispatcher/runtime.js";
import { readRpcAuthorization } from "../../src/kamailio/rpc-secret.js";
import { labPaths } from "../../src/config/lab-paths.js";
import type { LabFixture } from "./lab-fixture.js";
import type { BackendRole } from "../../src/core/backend-role.js";

/** The fixture's lab's JSON-RPC, straight (not through the CLI), with the lab's secret. */
export function labRpc(f: LabFixture, timeoutMs = 2000): HttpJsonRpcClient {
  const secret = labPaths(f.labDir).rpcSecretCfg;
  return new HttpJsonRpcClient("127.0.0.1", f.ports.rpc, timeoutMs, {
    authorization: () => readRpcAuthorization(secret),
  });
}

/** The URIs Kamailio has loaded right now (straight from its JSON-RPC, not through the CLI). */
export async function runtimeUris(f: LabFixture): Promise<string[]> {
  const rpc = labRpc(f);
  try {
    return parseDispatcherListResult(await rpc.call("dispatcher.list"))
      .map((d) => d.uri)
      .sort();
  } finally {
    rpc.close();
  }
}

/** Kamailio's runtime right now, straight from its JSON-RPC: [uri, attrs], sorted by URI. */
export async function runtimeWithAttrs(f: LabFixture): Promise<[string, string | undefined][]> {
  const rpc = labRpc(f);
  try {
    return parseDispatcherListResult(await rpc.call("dispatcher.list"))
      .map((d): [string, string | undefined] => [d.uri, d.attrs])
      .sort((a, b) => a[0].localeCompare(b[0]));
  } finally {
    rpc.close();
  }
}

export const uriOf = (f: LabFixture, role: BackendRole): string => `sip:127.0.0.1:${f.ports[role]}`;

/** Kamailio's active dialogs on one backend right now (its dialog profile `backend`, by URI). */
export async function activeOn(f: LabFixture, role: BackendRole): Promise<number> {
  const rpc = labRpc(f);
  try {
    return Number(await rpc.call("dlg.profile_get_size", ["backend", uriOf(f, role)]));
  } finally {
    rpc.close();
  }
}
