import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import path from "node:path";
import type { Target } from "../target/target.js";
import { evaluate, type Evaluation, type ProbeRow } from "./checks.js";
import {
  eventSocketRow,
  fusionpbxHttpRow,
  kamailioRpcRow,
  proxyRouteRow,
  sipOptionsRow,
  versionSourceRow,
  viaKamailioRow,
  type VersionSource,
} from "./probes.js";
import { eventSocketSettings, type VerifySection } from "../config/verify-config.js";
import type { BackendRole } from "../core/backend-role.js";

/**
 * `verify` on any Target: the same probes for the native and the docker driver; a driver may add
 * version sources (docker: the FreeSWITCH binary and FusionPBX's source inside the containers).
 */
export interface VerifyInput {
  target: Target;
  config: VerifySection;
  versionSources: readonly VersionSource[];
  env?: NodeJS.ProcessEnv;
}

export interface VerifyReport extends Evaluation {
  driver: Target["driver"];
  startedAt: string;
  durationMs: number;
  rows: ProbeRow[];
}

async function probeRole(role: BackendRole, input: VerifyInput): Promise<ProbeRow[]> {
  const { target, config } = input;
  const t = config.timeoutMs;
  const b = target.backends[role];
  const cfg = config[role];
  const rows: ProbeRow[] = [];
  // the Docker lab's backends are probed from its bridge's gateway (target.callPath), inside its SIP policy
  const from = target.callPath ? { localAddress: target.callPath.localAddress, policy: target.sipPolicy } : undefined;
  const direct = await sipOptionsRow(role, cfg.sip ?? { address: b.address, port: b.port }, t, from);
  rows.push(direct);
  // through Kamailio only when the backend answered directly or cannot be reached from here:
  // an unanswered tm.t_uac_wait_block holds one Kamailio RPC worker until fr_timer (30 s).
  if (config.throughProxy && direct.reachable !== false) {
    rows.push(await viaKamailioRow(role, target.rpc, b.uri, Math.max(t, 1000) * 3));
  }
  if (cfg.eventSocket) {
    rows.push(await eventSocketRow(role, eventSocketSettings(cfg.eventSocket, role, input.env), t * 2));
  }
  if (cfg.fusionpbxUrl) rows.push(await fusionpbxHttpRow(role, cfg.fusionpbxUrl, t * 2));
  for (const vs of input.versionSources.filter((v) => v.role === role)) {
    rows.push(await versionSourceRow(vs, Math.max(t, 5000)));
  }
  return rows;
}

export async function runVerify(input: VerifyInput): Promise<VerifyReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  // resolve secrets first: a missing env var is a usage error before anything is probed
  for (const role of ["old", "new"] as const) {
    const es = input.config[role].eventSocket;
    if (es) eventSocketSettings(es, role, input.env);
  }
  const [kam, route, oldRows, newRows] = await Promise.all([
    kamailioRpcRow(input.target.rpc),
    input.config.throughProxy
      ? proxyRouteRow(input.target.proxy, input.config.timeoutMs).then((r) => [r])
      : Promise.resolve([]),
    probeRole("old", input),
    probeRole("new", input),
  ]);
  const rows = [kam, ...route, ...oldRows, ...newRows];
  return {
    driver: input.target.driver,
    startedAt: startedAt.toISOString(),
    durationMs: performance.now() - t0,
    rows,
    ...evaluate(rows),
  };
}

/** verify.json: everything probed and concluded. Config echoes hosts and ports, never a password. */
export function writeVerifyJson(runDir: string, report: VerifyReport, config: VerifySection): string {
  const file = path.join(runDir, "verify.json");
  const safeConfig = {
    timeoutMs: config.timeoutMs,
    throughProxy: config.throughProxy,
    ...Object.fromEntries(
      (["old", "new"] as const).map((role) => {
        const c = config[role];
        return [
          role,
          {
            sip: c.sip ? `${c.sip.address}:${c.sip.port}` : undefined,
            eventSocket: c.eventSocket ? { host: c.eventSocket.host, port: c.eventSocket.port } : undefined,
            fusionpbxUrl: c.fusionpbxUrl,
          },
        ];
      }),
    ),
  };
  writeFileAtomic(
    file,
    JSON.stringify(
      {
        command: "verify",
        driver: report.driver,
        startedAt: report.startedAt,
        durationMs: Math.round(report.durationMs),
        verdict: report.verdict,
        exitCode: report.exitCode,
        findings: report.findings,
        versions: report.versions,
        components: report.rows,
        config: safeConfig,
      },
      null,
      2,
    ) + "\n",
    { mode: FileMode.public },
  );

  return file;
}
