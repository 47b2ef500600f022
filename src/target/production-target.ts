/**
 * A production Kamailio as a Target: a node of a target file (src/target/target-file.ts) that the
 * tool did not start. Its RPC is the transport the operator's config chose, its dispatcher list is
 * the operator's own file (replaced atomically, keeping its mode and owner), its backends are the
 * destinations the target file names as old and new, and the tool's lock and list backups live in
 * the target's state directory.
 */
import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import { canonicalSipUri } from "../sip/sip-uri.js";
import { writeFileAtomicAsync } from "../files/atomic-write.js";
import { HttpJsonRpcClient, type RpcClient } from "../kamailio/rpc.js";
import { refuseUnlessClean } from "./list-guard.js";
import { KamcmdRpcClient, type ArgvRunner } from "../kamailio/kamcmd-rpc.js";
import { runArgv } from "../os/run-argv.js";
import { SshSession, sshRefusal } from "../os/ssh.js";
import { sshFileStore } from "./remote-list.js";
import { dbLockRow, dbTableStore } from "./db-list.js";
import { localLockFile, lockFileOf, sshLockFile } from "./node-lock-file.js";
import type { DispatcherListStore, Target } from "./target.js";
import type { ProductionTargetSpec, RpcTransport, TargetDestination, TargetNode } from "./target-file.js";

/** The Authorization header of an HTTP transport (built when a request is sent). */
export function authorizationOf(auth: Extract<RpcTransport, { kind: "http" }>["auth"]): string | undefined {
  if (auth === undefined) return undefined;
  if (auth.scheme === "bearer") return `Bearer ${auth.token.reveal()}`;
  return `Basic ${Buffer.from(`${auth.user}:${auth.password.reveal()}`).toString("base64")}`;
}

/**
 * kamcmd on the node's ctl socket: `kamcmd -s unix:SOCKET METHOD PARAMS...` run here, or on the
 * node's host through ssh (src/os/ssh.ts quotes each word). The method comes from the tool's code
 * and the params are values it validated (a state letter, a set id, a SIP URI of the target file).
 */
export function kamcmdArgvOf(
  t: Extract<RpcTransport, { kind: "kamcmd" }>,
  method: string,
  params: readonly string[],
  session?: SshSession,
): string[] {
  const local = [t.binary, "-s", `unix:${t.socket}`, method, ...params];
  return session ? session.argv(local) : local;
}

/** The node's RPC client (nothing is contacted until the first call). */
export function rpcClientOf(node: TargetNode, run: ArgvRunner = runArgv, session?: SshSession): RpcClient {
  const t = node.rpc;
  if (t.kind === "kamcmd") {
    const where = `node ${node.name}`;
    const ssh = t.ssh;
    return new KamcmdRpcClient(
      ssh ? `${where} (kamcmd on ${t.socket} over ssh ${ssh.host}:${ssh.port})` : `${where} (kamcmd on ${t.socket})`,
      (method, params) => kamcmdArgvOf(t, method, params, session),
      run,
      t.timeoutMs,
      ssh ? (out) => sshRefusal(out.code, out.stderr, where, ssh.knownHosts) : undefined,
    );
  }
  const u = t.url;
  let ca: Buffer | undefined;
  if (t.caFile) {
    try {
      ca = readFileSync(t.caFile);
    } catch (err) {
      throw new EnvironmentError(
        `node ${node.name}: cannot read CA file ${t.caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  const port = u.port !== "" ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return new HttpJsonRpcClient(host, port, t.timeoutMs, {
    path: u.pathname + u.search,
    label: `node ${node.name}`,
    onRefused: "final",
    ...(t.auth ? { authorization: () => authorizationOf(t.auth) } : {}),
    // https without a CA file: the system's CAs
    ...(u.protocol === "https:"
      ? { tls: ca ? { ca, caSource: `CA file ${t.caFile}` } : { caSource: "the system's CAs (no rpc.http.caFile)" } }
      : {}),
  });
}

/**
 * The operator's list file on the node's host: replaced atomically (temp file + fsync + rename in
 * its directory) with the mode and owner it had, so Kamailio (and whoever else reads it) still can.
 */
export function operatorFileStore(file: string): DispatcherListStore {
  return {
    location: file,
    read: () => readFile(file, "utf8"),
    writeAtomic: async (text: string) => {
      let mode = 0o644;
      let owner: { uid: number; gid: number } | undefined;
      try {
        const st = await stat(file);
        mode = st.mode & 0o7777;
        owner = { uid: st.uid, gid: st.gid };
      } catch {
        /* a list that is not there yet gets 0644 and our owner */
      }
      await writeFileAtomicAsync(file, text, { mode, fsync: true, ...(owner ? { owner } : {}) });
    },
  };
}

function endpointOf(d: TargetDestination): { address: string; port: number } {
  const r = canonicalSipUri(d.uri);
  // the target file was validated: every destination parsed
  if (!r.ok) throw new Error(`unvalidated destination ${d.uri}`);
  return { address: r.uri.host, port: r.uri.port ?? 5060 };
}

/** The Target of one node of a validated target file. The caller owns it: call close(). */
export function productionTarget(
  spec: ProductionTargetSpec,
  node: TargetNode = spec.nodes[0]!,
  run: ArgvRunner = runArgv,
): Target {
  const session = node.ssh ? new SshSession(node.ssh) : undefined;
  const rpc = rpcClientOf(node, run, session);
  const store =
    node.list.kind === "db"
      ? dbTableStore(node.list.db, `node ${node.name}`)
      : session
        ? sshFileStore(session, node.list.path, run, `node ${node.name}`)
        : operatorFileStore(node.list.path);
  const backend = (role: "old" | "new"): Target["backends"]["old"] => ({
    role,
    ...endpointOf(spec[role]),
    uri: spec[role].uri,
    messageLog: undefined,
  });
  return {
    driver: "production",
    proxy: node.sip,
    ...(spec.hepCollector ? { hepCollector: spec.hepCollector } : {}),
    setId: spec.setId,
    dispatcherAlgorithm: spec.algorithm,
    sipPolicy: spec.sipPolicy,
    backends: { old: backend("old"), new: backend("new") },
    asWritten: { old: spec.old, new: spec.new },
    dispatcherList: store,
    checkBeforeWrite: (text, runtime) =>
      refuseUnlessClean(`node ${node.name} (${store.location})`, text, runtime, {
        setId: spec.setId,
        old: spec.old.uri,
        new: spec.new.uri,
        source: spec.source,
      }),
    rpc,
    lockPath: path.join(spec.stateDir, node.name, "apply.lock"),
    ...(spec.dialogProfile !== undefined ? { dialogProfile: spec.dialogProfile } : {}),
    ...(node.list.kind === "db"
      ? { fleetLock: dbLockRow(node.list.db, `node ${node.name}`) }
      : {
          fleetLock: session
            ? sshLockFile(session, lockFileOf(node.list.path), run, `node ${node.name}`)
            : localLockFile(lockFileOf(node.list.path)),
        }),
    close: () => {
      rpc.close();
      session?.close();
    },
  };
}
