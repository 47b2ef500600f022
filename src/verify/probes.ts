import { randomBytes } from "node:crypto";
import { canonicalHost } from "../sip/sip-uri.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { probeOptions, type ProbeOrigin } from "../sip/options-probe.js";
import { hostProblem, isLoopbackV4 } from "../sip/sip-policy.js";
import type { ProbeRole, ProbeRow, Stack } from "./checks.js";
import { eslApi, type EventSocketError } from "../freeswitch/event-socket.js";
import { probeFusionpbxPage } from "./fusionpbx-page.js";
import {
  parseFreeswitchVersion,
  parseKamailioVersion,
  parseServerHeader,
  type ProductVersion,
} from "./product-version.js";
import type { EventSocketSettings } from "../config/verify-config.js";
import type { BackendRole } from "../core/backend-role.js";

/**
 * The probes `verify` runs. Each returns one table row and never throws for an expected failure
 * (unreachable, refused, timeout): that is data. Effects live here; decisions in checks.ts.
 */

const STAND_IN_TEXT = "no PBX version (SIPp stand-in)";

function versionCells(
  pv: ProductVersion | undefined,
  unknown: string,
): Pick<ProbeRow, "product" | "version" | "build" | "versionText"> {
  if (pv === undefined) return { product: undefined, version: undefined, build: undefined, versionText: unknown };
  if (pv.standIn) return { product: pv.product, version: undefined, build: undefined, versionText: STAND_IN_TEXT };
  if (pv.version === undefined)
    return {
      product: pv.product,
      version: undefined,
      build: undefined,
      versionText: `${pv.product} (no version given)`,
    };
  return { product: pv.product, version: pv.version, build: pv.build, versionText: `${pv.product} ${pv.version}` };
}

function base(
  role: ProbeRole,
  component: string,
  stack: Stack,
  kind: string,
  endpoint: string,
  source: string,
): ProbeRow {
  return {
    role,
    component,
    stack,
    kind,
    endpoint,
    reachable: false,
    status: undefined,
    rttMs: undefined,
    product: undefined,
    version: undefined,
    build: undefined,
    versionText: "-",
    source,
    error: undefined,
  };
}

/**
 * host:port in its one spelling (127.0.0.01 -> 127.0.0.1), for the same-endpoint check. Nothing is
 * resolved: the target's SIP policy lets only IP addresses through, so no probe causes a DNS query.
 */
export function resolveHostPort(host: string, port: number): string {
  return `${canonicalHost(host)}:${port}`;
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Direct SIP OPTIONS to a backend; version from its Server (or User-Agent) header. */
export async function sipOptionsRow(
  role: BackendRole,
  ep: { address: string; port: number },
  timeoutMs: number,
  from?: ProbeOrigin,
): Promise<ProbeRow> {
  const endpoint = `${ep.address}:${ep.port}/udp`;
  const row = base(
    role,
    `${role} backend (SIP OPTIONS)`,
    "sip-backend",
    "backend SIP",
    endpoint,
    "SIP Server (or User-Agent) header",
  );
  row.resolvedEndpoint = resolveHostPort(ep.address, ep.port);
  const resolvedHost = row.resolvedEndpoint.split(":")[0]!;
  if (!isLoopbackV4(resolvedHost) && (from === undefined || hostProblem(from.policy, resolvedHost) !== undefined)) {
    return { ...row, reachable: "skipped", error: "not on loopback: not probed from this host", source: "-" };
  }
  const r = await probeOptions(
    { address: resolvedHost, port: ep.port },
    timeoutMs,
    isLoopbackV4(resolvedHost) ? undefined : from,
  );
  if (!r.reachable) return { ...row, reachable: false, error: r.error };
  const pv = r.server !== undefined ? parseServerHeader(r.server) : undefined;
  return {
    ...row,
    stack: pv && !pv.standIn && pv.product === "FreeSWITCH" ? "freeswitch" : "sip-backend",
    reachable: true,
    status: `${r.status ?? "?"} ${r.reason ?? ""}`.trim(),
    rttMs: r.rttMs,
    ...versionCells(pv, "no Server/User-Agent header"),
    source: `SIP ${r.serverHeader ?? "Server"} header`,
    note: r.server !== undefined ? `${r.serverHeader ?? "Server"}: ${r.server}` : undefined,
  };
}

/** SIP OPTIONS to Kamailio's listener: it relays to the current dispatcher destination; who answered? */
export async function proxyRouteRow(proxy: { address: string; port: number }, timeoutMs: number): Promise<ProbeRow> {
  const endpoint = `${proxy.address}:${proxy.port}/udp`;
  const row = base(
    "proxy",
    "Kamailio route (SIP OPTIONS via proxy)",
    "sip-backend",
    "proxy SIP",
    endpoint,
    "SIP Server (or User-Agent) header of the answering backend",
  );
  if (!isLoopbackV4(proxy.address)) return { ...row, reachable: "skipped", error: "not on loopback", source: "-" };
  const r = await probeOptions({ address: proxy.address, port: proxy.port }, timeoutMs);
  if (!r.reachable) return { ...row, reachable: false, error: r.error };
  const pv = r.server !== undefined ? parseServerHeader(r.server) : undefined;
  const cells = versionCells(pv, "no Server/User-Agent header");
  return {
    ...row,
    reachable: true,
    status: `${r.status ?? "?"} ${r.reason ?? ""}`.trim(),
    rttMs: r.rttMs,
    // informational: the proxy row's version is not compared (it is whichever backend answered)
    product: cells.product,
    versionText: cells.versionText,
    note: r.server !== undefined ? `answered by: ${r.server}` : undefined,
  };
}

/** Kamailio's version over its RPC (`core.version`). */
export async function kamailioRpcRow(rpc: RpcClient): Promise<ProbeRow> {
  const row = base("proxy", "Kamailio (RPC)", "kamailio", "kamailio RPC", rpc.endpoint, "RPC core.version");
  const started = performance.now();
  try {
    const result = await rpc.call("core.version");
    const pv = parseKamailioVersion(String(result));
    return {
      ...row,
      reachable: true,
      status: "ok",
      rttMs: performance.now() - started,
      ...versionCells(pv, String(result)),
    };
  } catch (err) {
    return { ...row, reachable: false, error: msg(err) };
  }
}

/**
 * Kamailio sends OPTIONS to the backend itself (`tm.t_uac_wait_block`): proves the proxy can reach
 * the backend (the only SIP path to a backend on a Docker network). Kamailio reports only code and reason.
 */
export async function viaKamailioRow(
  role: BackendRole,
  rpc: RpcClient,
  uri: string,
  timeoutMs: number,
): Promise<ProbeRow> {
  const row = base(role, `${role} backend (OPTIONS from Kamailio)`, "sip-backend", "backend via proxy", uri, "-");
  const headers =
    `From: <sip:pbx-cutover-verify@localhost>;tag=${randomBytes(4).toString("hex")}\r\n` +
    `To: <${uri}>\r\nContent-Type: text/plain\r\n`;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      rpc.call("tm.t_uac_wait_block", ["OPTIONS", uri, ".", ".", headers]),
      new Promise<never>((_r, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Kamailio got no reply from ${uri} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
    const o = (typeof result === "object" && result !== null ? result : {}) as { code?: unknown; text?: unknown };
    const code = Number(o.code);
    const status = `${Number.isFinite(code) ? code : "?"} ${typeof o.text === "string" ? o.text : ""}`.trim();
    if (!(code >= 200 && code < 300) && code !== 405) {
      // 408 = Kamailio's own timeout: the backend did not answer
      return { ...row, reachable: false, status, error: `Kamailio got ${status} from ${uri}` };
    }
    return {
      ...row,
      reachable: true,
      status,
      rttMs: performance.now() - started,
      versionText: "(Kamailio reports status only)",
    };
  } catch (err) {
    return { ...row, reachable: false, error: msg(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** FreeSWITCH event socket: `version`. The password is used and forgotten. */
export async function eventSocketRow(
  role: BackendRole,
  esl: EventSocketSettings,
  timeoutMs: number,
): Promise<ProbeRow> {
  const endpoint = `${esl.host}:${esl.port}/tcp`;
  const row = base(
    role,
    `${role} FreeSWITCH (event socket)`,
    "freeswitch",
    "event socket",
    endpoint,
    "event socket `api version`",
  );
  row.resolvedEndpoint = resolveHostPort(esl.host, esl.port);
  const started = performance.now();
  try {
    const body = await eslApi({ host: esl.host, port: esl.port }, esl.password, "version", timeoutMs);
    const pv = parseFreeswitchVersion(body);
    return {
      ...row,
      reachable: true,
      status: "+OK",
      rttMs: performance.now() - started,
      ...versionCells(pv, `unparsed: ${body.trim().slice(0, 60)}`),
    };
  } catch (err) {
    const e = err as EventSocketError;
    return { ...row, reachable: false, error: e.message, status: e.kind };
  }
}

/**
 * FusionPBX web UI: GET the URL, follow one same-origin redirect (a fresh tree sends `/` to its
 * installer, an installed one to its login page); up = that page answers 200 and is recognisably
 * FusionPBX's installer or login form. No version here (that comes from software.php).
 */
export async function fusionpbxHttpRow(role: BackendRole, url: string, timeoutMs: number): Promise<ProbeRow> {
  const row = base(role, `${role} FusionPBX (HTTP)`, "fusionpbx", "FusionPBX HTTP", url, "HTTP page");
  const u = new URL(url);
  row.resolvedEndpoint = `${u.protocol}//${resolveHostPort(u.hostname, Number(u.port || (u.protocol === "https:" ? 443 : 80)))}${u.pathname}`;
  const r = await probeFusionpbxPage(url, timeoutMs);
  if (!r.reachable) return { ...row, reachable: false, error: r.error };
  if (r.page !== "installer" && r.page !== "login") {
    return {
      ...row,
      reachable: false,
      status: r.chain,
      error: `HTTP ${r.chain}: not FusionPBX's installer or login page`,
    };
  }
  return {
    ...row,
    reachable: true,
    status: r.chain,
    rttMs: r.rttMs,
    versionText: `${r.page} page (HTTP gives no version)`,
  };
}

/** A version read by a driver (e.g. `docker exec ... freeswitch -version`). */
export interface VersionSource {
  role: BackendRole;
  component: string;
  stack: Stack;
  kind: string;
  endpoint: string;
  source: string;
  read(timeoutMs: number): Promise<string>;
  parse(text: string): ProductVersion | undefined;
}

export async function versionSourceRow(vs: VersionSource, timeoutMs: number): Promise<ProbeRow> {
  const row = base(vs.role, vs.component, vs.stack, vs.kind, vs.endpoint, vs.source);
  const started = performance.now();
  try {
    const text = await vs.read(timeoutMs);
    const pv = vs.parse(text);
    return {
      ...row,
      reachable: true,
      status: "ok",
      rttMs: performance.now() - started,
      ...versionCells(pv, "unparsed output"),
    };
  } catch (err) {
    return { ...row, reachable: false, error: msg(err) };
  }
}
