/**
 * `pbx-cutover target check`: look at each node of a target file and say whether the tool can work
 * on it (src/target/check-report.ts judges and renders). Per node:
 *   - reachable: `core.version` over the node's RPC transport (refused credentials are named);
 *   - the durable list (file) and the runtime (`dispatcher.list`): equal, or drift;
 *   - the target set's destinations: old, new or unknown, with Kamailio's probe state;
 *   - the reload guard: learned from a refused reload's reply (two reloads in a row; only when the
 *     runtime equals the list, so a reload changes nothing), never from an exit code;
 *   - HEP: an OPTIONS sent through the node, and its mirror awaited at the target's collector;
 *   - the dialog profile: `dlg.profile_get_size` for each destination.
 * Per PBX the target file names an event socket for: `version` and the drain's own question (`show
 * channels as json`), so a wrong password or a closed port is found before the night, not in the drain.
 * Nothing is written.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { entriesOf, parseDispatcherList, type DispatcherList } from "../dispatcher/list.js";
import { startHepCollector } from "../hep/collector.js";
import { readRuntime, reloadWithRetry, defaultRetryPolicy } from "../kamailio/dispatcher-rpc.js";
import { RpcRefusedError, RpcReplyError } from "../kamailio/rpc.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";
import { probeOptions } from "../sip/options-probe.js";
import { isLoopbackV4, sipPolicy } from "../sip/sip-policy.js";
import { destinationRows, listFindings } from "../target/list-guard.js";
import { freeswitchChannels } from "../freeswitch/channel-list.js";
import { eslApi, EventSocketError } from "../freeswitch/event-socket.js";
import type { NodeCheck, PbxCheck, TargetCheck } from "./check-report.js";
import { productionTarget } from "../target/production-target.js";
import type { ProductionTargetSpec, TargetNode } from "../target/target-file.js";
import type { Target } from "../target/target.js";
import type { PbxEventSocket } from "../target/pbx-event-socket.js";

const HEP_WAIT_MS = 2000;
/** the longest reload guard a check waits out to measure it (Kamailio's default is 5 s) */
const GUARD_MEASURE_MS = 12_000;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function checkTarget(spec: ProductionTargetSpec): Promise<TargetCheck> {
  const nodes: NodeCheck[] = [];
  for (const node of spec.nodes) nodes.push(await checkNode(spec, node));
  const pbx: PbxCheck[] = [];
  for (const role of ["old", "new"] as const) {
    const es = spec.pbx[role]?.eventSocket;
    if (es) pbx.push(await checkEventSocket(role, es));
  }
  return {
    source: spec.source,
    id: spec.id,
    setId: spec.setId,
    algorithm: spec.algorithm,
    old: spec.old.uri,
    new: spec.new.uri,
    nodes,
    pbx,
  };
}

async function checkEventSocket(role: string, es: PbxEventSocket): Promise<PbxCheck> {
  const ep = { host: es.host, port: es.port };
  const at = `event socket ${es.host}:${es.port}`;
  try {
    const version = (await eslApi(ep, es.password.reveal(), "version", es.timeoutMs)).trim();
    const channels = await freeswitchChannels(ep, es.password.reveal(), es.timeoutMs);
    return { role, at, state: "answers", version, channels: channels.length };
  } catch (err) {
    const kind = err instanceof EventSocketError ? err.kind : "error";
    return { role, at, state: "error", kind, error: message(err) };
  }
}

async function checkNode(spec: ProductionTargetSpec, node: TargetNode): Promise<NodeCheck> {
  const target = productionTarget(spec, node);
  const notProbed = (why: string) => ({ state: "not probed" as const, why });
  const check: NodeCheck = {
    node: node.name,
    rpc: target.rpc.endpoint,
    reachable: { ok: false, error: "not tried", refused: false },
    list: undefined,
    drift: undefined,
    destinations: [],
    otherSets: [],
    reloadGuard: notProbed("the node did not answer"),
    hep: notProbed("the node did not answer"),
    dialogProfile: notProbed("the node did not answer"),
  };
  try {
    try {
      const v = await target.rpc.call("core.version");
      check.reachable = { ok: true, version: typeof v === "string" ? v.trim() : JSON.stringify(v) };
    } catch (err) {
      check.reachable = { ok: false, error: message(err), refused: err instanceof RpcRefusedError };
      return check;
    }
    const policy = { ...defaultRetryPolicy, unavailableWaitMs: 1000 };
    let list: DispatcherList | undefined;
    try {
      list = parseDispatcherList(await target.dispatcherList.read(), target.dispatcherList.location);
      check.list = { location: target.dispatcherList.location, entries: entriesOf(list).length };
    } catch (err) {
      check.list = { location: target.dispatcherList.location, error: message(err) };
    }
    let runtime: RuntimeDestination[] | undefined;
    try {
      runtime = await readRuntime(target.rpc, policy);
    } catch (err) {
      check.reachable = {
        ok: false,
        error: `dispatcher.list: ${message(err)}`,
        refused: err instanceof RpcRefusedError,
      };
      return check;
    }
    const ids = { setId: spec.setId, old: spec.old.uri, new: spec.new.uri };
    if (list) {
      const f = listFindings(list, runtime, ids);
      check.drift = f.drift;
      check.destinations = f.destinations;
      check.otherSets = f.otherSets;
    } else {
      check.destinations = destinationRows(spec.setId, [], runtime, spec.old.uri, spec.new.uri);
    }
    const unknown = check.destinations.some((x) => x.role === "unknown");
    check.reloadGuard =
      check.drift?.ok !== true
        ? notProbed("the runtime is not the list: a reload would change routing")
        : unknown || check.otherSets.length > 0
          ? notProbed("the list is not one pbx-cutover works on")
          : await probeReloadGuard(target);
    check.hep = await probeHep(spec, node);
    check.dialogProfile = await probeDialogProfile(spec, target);
    return check;
  } finally {
    target.close();
  }
}

/**
 * Two reloads in a row: the second refused with "Ongoing reload" = the guard is on; then retried at
 * each turn of the wall clock's second until accepted, which measures reload_delta in whole seconds.
 */
async function probeReloadGuard(target: Target): Promise<NodeCheck["reloadGuard"]> {
  const first = await reloadWithRetry(target.rpc, { ...defaultRetryPolicy, reloadWaitMs: GUARD_MEASURE_MS });
  if (!first.ok) return { state: "not probed", why: `dispatcher.reload was not accepted: ${first.reply}` };
  const acceptedAtS = Math.floor(Date.now() / 1000);
  try {
    const r = await target.rpc.call("dispatcher.reload");
    return { state: "off", reply: typeof r === "string" ? r : JSON.stringify(r) };
  } catch (err) {
    if (!(err instanceof RpcReplyError) || !/ongoing reload/i.test(err.reply))
      return { state: "not probed", why: `the second dispatcher.reload: ${message(err)}` };
    const reply = `${err.code} ${err.reply}`;
    const again = await reloadWithRetry(target.rpc, { ...defaultRetryPolicy, reloadWaitMs: GUARD_MEASURE_MS });
    const deltaS = again.ok ? Math.floor(Date.now() / 1000) - acceptedAtS : undefined;
    return { state: "active", deltaS, reply };
  }
}

/** An OPTIONS through the node, and its mirror awaited at the target's HEP collector. */
async function probeHep(spec: ProductionTargetSpec, node: TargetNode): Promise<NodeCheck["hep"]> {
  const at = spec.hepCollector;
  if (at === undefined) return { state: "not probed", why: "the target file names no hep.collector" };
  const collector = `${at.address}:${at.port}`;
  const callId = `check-${randomBytes(8).toString("hex")}@pbx-cutover`;
  let arrived: (() => void) | undefined;
  const seen = new Promise<void>((resolve) => (arrived = resolve));
  const needle = Buffer.from(callId);
  let c;
  try {
    c = await startHepCollector({
      address: at.address,
      port: at.port,
      onPacket: (p) => {
        if (p.payload.includes(needle)) arrived!();
      },
    });
  } catch (err) {
    return { state: "not probed", why: `cannot listen on ${collector}: ${message(err)}` };
  }
  try {
    const started = performance.now();
    const probe = `an OPTIONS to ${node.sip.address}:${node.sip.port}`;
    const from = isLoopbackV4(node.sip.address)
      ? undefined
      : {
          localAddress: await sourceAddressTo(node.sip),
          policy: sipPolicy(`node ${node.name}`, [`${node.sip.address}/32`]),
        };
    const sent = probeOptions(node.sip, HEP_WAIT_MS, from, callId).catch(() => undefined);
    const timedOut = Symbol("timeout");
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      seen,
      new Promise<typeof timedOut>((resolve) => (timer = setTimeout(() => resolve(timedOut), HEP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    await sent;
    if (r === timedOut) return { state: "missing", collector, waitedMs: HEP_WAIT_MS, probe };
    return { state: "arrived", collector, afterMs: performance.now() - started };
  } finally {
    await c.close();
  }
}

/** The local address the kernel routes to `to` from (a connected UDP socket sends nothing). */
async function sourceAddressTo(to: { address: string; port: number }): Promise<string> {
  const s = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.connect(to.port, to.address, () => resolve());
    });
    return s.address().address;
  } finally {
    s.close();
  }
}

async function probeDialogProfile(spec: ProductionTargetSpec, target: Target): Promise<NodeCheck["dialogProfile"]> {
  const name = spec.dialogProfile;
  if (name === undefined) return { state: "not probed", why: "the target file names no dialogProfile" };
  const sizes: { uri: string; size: number }[] = [];
  for (const d of [spec.old, spec.new]) {
    try {
      sizes.push({ uri: d.uri, size: Number(await target.rpc.call("dlg.profile_get_size", [name, d.uri])) });
    } catch (err) {
      if (err instanceof RpcReplyError) return { state: "missing", name, reply: `${err.code} ${err.reply}` };
      return { state: "not probed", why: message(err) };
    }
  }
  return { state: "ok", name, sizes };
}
