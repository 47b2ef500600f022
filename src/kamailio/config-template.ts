import { readFileSync } from "node:fs";
import { assetPath } from "../core/assets.js";
import { DISPATCHER_ALGORITHM_NAMES, type DispatcherAlgorithm } from "../dispatcher/weights.js";

export interface KamailioConfigValues {
  sipAddr: string;
  sipPort: number;
  rpcPort: number;
  children: number;
  reloadDelta: number;
  setId: number;
  ctlSocket: string;
  /** the include file with the RPC's secret (rpc-secret.ts) */
  rpcSecretCfg: string;
  dispatcherList: string;
  modulePath: string;
  debug?: number;
  /** ds_select_dst algorithm: 4 round-robin (the default), 9 weight-based (weight= attrs) */
  dispatcherAlg?: DispatcherAlgorithm;
  /** UDP port on 127.0.0.1 where Kamailio mirrors every SIP message as HEPv3 */
  hepAddr: string;
  hepPort: number;
  /** mirror from the start (siptrace trace_on); `siptrace.status on|off` switches it at runtime */
  hepMirror: boolean;
  /** the media relay's ng control socket ("127.0.0.1:15064"): every call's SDP rewritten through rtpengine; undefined: no relay */
  rtpengineNg?: string;
}

/**
 * What a quoted string in kamailio.cfg cannot hold, measured with Kamailio 5.6.3 (`kamailio -c`
 * and a real start, paths checked by the ctl socket and dispatcher list it opened): `"` ends the
 * string (parse error); a backslash starts an escape (`\\`, `\n`, `\"` become other characters,
 * so Kamailio opens another path; `\s` happened to stay); a line break ends the line. Spaces, `#`, `$`, `%`, `;`, `'`, `{}`,
 * backticks and UTF-8 are kept as they are. Other control characters (tab, CR) were accepted too,
 * but are refused here: no real path needs them and they hide in messages.
 */
export function cfgStringProblem(value: string): string | undefined {
  if (value.includes('"')) return "contains a double quote";
  if (value.includes("\\")) return "contains a backslash";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return "contains a control character (newline, tab, ...)";
  return undefined;
}

/** ctl's unix socket path limit in Kamailio 5.6.3 ("init_unix_sock: name too long (105 > 104)"). */
export const MAX_CTL_SOCKET_BYTES = 104;

/** Render the template text with the values (pure). Every placeholder must be filled. */
export function renderKamailioConfig(template: string, v: KamailioConfigValues): string {
  const values: Record<string, string> = {
    SIP_ADDR: v.sipAddr,
    SIP_PORT: String(v.sipPort),
    RPC_PORT: String(v.rpcPort),
    CHILDREN: String(v.children),
    RELOAD_DELTA: String(v.reloadDelta),
    SET_ID: String(v.setId),
    CTL_SOCKET: v.ctlSocket,
    RPC_SECRET_CFG: v.rpcSecretCfg,
    DISPATCHER_LIST: v.dispatcherList,
    MODULE_PATH: v.modulePath,
    DEBUG: String(v.debug ?? 2),
    DS_ALG: String(v.dispatcherAlg ?? 4),
    DS_ALG_NAME: DISPATCHER_ALGORITHM_NAMES[v.dispatcherAlg ?? 4],
    HEP_ADDR: v.hepAddr,
    HEP_PORT: String(v.hepPort),
    HEP_TRACE_ON: v.hepMirror ? "1" : "0",
    RTPENGINE_DEFINE:
      v.rtpengineNg !== undefined ? "#!define WITH_RTPENGINE" : "# no media relay (lab up --media-relay rtpengine)",
    RTPENGINE_NG: v.rtpengineNg ?? "127.0.0.1:0",
  };
  // the settings were validated at the boundary (labDirProblem); reaching this is a bug
  for (const [k, val] of Object.entries(values)) {
    const problem = cfgStringProblem(val);
    if (problem !== undefined) throw new Error(`kamailio config value ${k} ${problem}`);
  }
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (_m, name: string) => {
    const val = values[name];
    if (val === undefined) throw new Error(`kamailio config template has unknown placeholder {{${name}}}`);
    return val;
  });
  return out;
}

export function loadKamailioTemplate(): string {
  return readFileSync(assetPath("kamailio", "kamailio.cfg.tmpl"), "utf8");
}

/** The ds_select_dst algorithm a rendered config uses (a lab's kamailio.cfg), or undefined. */
export function dispatcherAlgorithmOfConfig(cfg: string): number | undefined {
  const m = /^\s*if \(!ds_select_dst\("\d+", "(\d+)"\)\)/m.exec(cfg);
  return m ? Number(m[1]) : undefined;
}
