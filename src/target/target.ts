import { readFile } from "node:fs/promises";
import { FileMode, writeFileAtomicAsync } from "../files/atomic-write.js";
import type { DispatcherAlgorithm } from "../dispatcher/weights.js";
import type { DestinationTemplate } from "../dispatcher/profile.js";
import type { RpcClient } from "../kamailio/rpc.js";
import type { BackendRole } from "../core/backend-role.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import type { SipPolicy } from "../sip/sip-policy.js";
import type { NodeLockFile } from "./node-lock-file.js";

/**
 * A target: one Kamailio (its RPC and its dispatcher list) plus the two backends.
 * Drivers (src/drivers/) produce one: the native lab's `nativeTarget` (src/lab/native-target.ts), the
 * Docker lab's `dockerTarget` (src/lab/docker/docker-target.ts); a production Kamailio described by a
 * target file will be another driver.
 * migrate / apply / sim / dashboard / verify work on a Target and never on a driver directly.
 */
export interface BackendEndpoint {
  role: BackendRole;
  address: string;
  port: number;
  /** the dispatcher destination URI, e.g. sip:127.0.0.1:15070 */
  uri: string;
  /** SIP message log written by the lab's stand-in (SIPp -trace_msg); undefined for a real PBX */
  messageLog: string | undefined;
}

/** Where Kamailio's dispatcher list lives and how to write it atomically. */
export interface DispatcherListStore {
  /** for messages and evidence */
  readonly location: string;
  read(): Promise<string>;
  /** exclusive temp file + rename in the same directory, mode 0644 (src/files/atomic-write.ts) */
  writeAtomic(text: string): Promise<void>;
  /**
   * the store keeps a list's entries only (a database table: no comments): a list read back is
   * compared with the one written by its entries
   */
  entriesOnly?: true;
  /**
   * the same for every node that shares this store (a database table: one write serves them all);
   * absent where each node has its own
   */
  sharedKey?: string;
}

/** One channel a PBX holds, as it reports it (FreeSWITCH's `show channels`). */
export interface PbxChannel {
  uuid: string;
  /** the channel's name, e.g. sofia/lab/1000@10.0.0.2 */
  name: string;
  /** when the PBX created it (seconds since the epoch); undefined when it did not say */
  createdS: number | undefined;
}

/** A backend PBX that can say which channels it holds: FreeSWITCH over its event socket. */
export interface PbxChannelSource {
  /** for messages: "FreeSWITCH old" */
  label: string;
  /** where it is asked, for messages: "event socket 10.0.0.10:8021" */
  at: string;
  /** the channels up now; rejects (a message without any secret) when the PBX cannot be asked */
  channels(): Promise<PbxChannel[]>;
}

/** The drivers that produce Targets (src/drivers/): `--driver <name>`. */
export type DriverName = "native" | "docker" | "production";

export interface Target {
  /** native and docker: a lab the tool started; production: a Kamailio described by a target file */
  driver: DriverName;
  /** where calls are sent: Kamailio's SIP listener */
  proxy: { address: string; port: number };
  /**
   * where the call simulation sends calls and binds its UAC when that differs from `proxy` (the
   * Docker lab: Kamailio's lab-network address, from the bridge's gateway, so replies routed by Via
   * reach the host; `proxy` stays the published loopback port). See callPathOf().
   */
  callPath?: { proxy: { address: string; port: number }; localAddress: string };
  /** where this target's Kamailio mirrors HEP when the target fixes it (the Docker lab: the bridge's gateway); else the lab's hep settings */
  hepCollector?: { address: string; port: number };
  /** the dispatcher set the profiles live in */
  setId: number;
  /**
   * the ds_select_dst algorithm the proxy routes the set with, when known (the native lab's own
   * kamailio.cfg): 9 (weight-based) needs `weight=` attrs on every destination, so `both` is written
   * as 50/50 there. Undefined: round-robin (4), the seed's.
   */
  dispatcherAlgorithm?: DispatcherAlgorithm;
  /**
   * where SIP may go: every dispatcher destination (apply, rollback, migrate, sim) and every
   * endpoint verify probes must be an IP inside it (native lab: 127.0.0.0/8)
   */
  sipPolicy: SipPolicy;
  backends: Record<BackendRole, BackendEndpoint>;
  /** each backend's line as the operator's list writes it (flags, priority, attrs kept in every profile) */
  asWritten?: Record<BackendRole, DestinationTemplate>;
  dispatcherList: DispatcherListStore;
  /**
   * called by a verified apply with the durable list and the runtime it read, before anything is
   * written: throws to refuse (a production node with drift, or destinations the target file does
   * not name); absent on a lab, whose list only the tool writes
   */
  checkBeforeWrite?(listText: string | undefined, runtime: readonly RuntimeDestination[]): void;
  rpc: RpcClient;
  /** argv (no shell) that prints an RPC result the way kamcmd does, for evidence files; absent where no kamcmd reaches the node */
  kamcmdArgv?(method: string, ...params: string[]): string[];
  /** the dialog profile the proxy's config sets to each call's destination (drain); undefined: the lab's, "backend" */
  dialogProfile?: string;
  /** lock file that serialises applies on this target */
  lockPath: string;
  /**
   * where a fleet's lock lives on this node (a file beside its list, reached as the list is), so every
   * machine that runs the tool sees it; on a database table, a row of `pbx_cutover_lock` in its database
   */
  fleetLock?: NodeLockFile;
  /**
   * each backend PBX's own count of active channels (a lab of real FreeSWITCH: `show channels count`
   * on its event socket; a backend that does not answer is left out); absent for stand-ins
   */
  pbxChannels?(): Promise<Partial<Record<BackendRole, number>>>;
  /**
   * each backend PBX that can list its own channels (the drain waits for old's to end): a lab of real
   * FreeSWITCH, or a target file's `pbx.<role>.eventSocket`; one per PBX, however many nodes front it
   */
  pbx?: Partial<Record<BackendRole, PbxChannelSource>>;
  /** free the RPC connection */
  close(): void;
}

/** Where calls go and what the UAC binds: the target's callPath, else its proxy from the proxy's own address. */
export function callPathOf(t: Target): { proxy: { address: string; port: number }; localAddress: string } {
  return t.callPath ?? { proxy: t.proxy, localAddress: t.proxy.address };
}

export function fileListStore(file: string): DispatcherListStore {
  return {
    location: file,
    read: () => readFile(file, "utf8"),
    // flushed before the rename: a crash never leaves Kamailio an empty list
    writeAtomic: (text: string) => writeFileAtomicAsync(file, text, { mode: FileMode.public, fsync: true }),
  };
}
