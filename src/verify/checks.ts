import type { BackendRole } from "../core/backend-role.js";
/**
 * What `verify` concludes from its probe results (pure). One row per probe; then:
 *   - old and new resolve to the same endpoint (any probe kind)       -> fail (exit 1)
 *   - old and new report the same version of a stack, where known       -> fail (exit 1)
 *   - something did not answer                                          -> unreachable (exit 3)
 * A definite mix-up (same endpoint or version) wins over unreachable: it is wrong whatever else answers.
 */

/** who a probe row is about: a backend, or the proxy */
export type ProbeRole = BackendRole | "proxy";
/** what a version belongs to; versions are only compared within one stack */
export type Stack = "kamailio" | "freeswitch" | "fusionpbx" | "sip-backend";

export interface ProbeRow {
  role: ProbeRole;
  /** e.g. "old backend (SIP OPTIONS)" */
  component: string;
  stack: Stack;
  /** the probe kind: rows of the same kind are compared for identical endpoints */
  kind: string;
  /** where it was probed, normalised (host:port, URL, container) */
  endpoint: string;
  /** resolved form of the endpoint used for the same-endpoint check (defaults to endpoint) */
  resolvedEndpoint?: string;
  reachable: boolean | "skipped";
  /** "200 OK", "302", "+OK" ... */
  status: string | undefined;
  rttMs: number | undefined;
  product: string | undefined;
  version: string | undefined;
  build: string | undefined;
  /** human-readable version cell: the version, or why there is none */
  versionText: string;
  /** where the version came from ("SIP Server header", "event socket `api version`", ...) */
  source: string;
  error: string | undefined;
  /** extra facts (e.g. "answered by: SIPp stand-in ... old backend") */
  note?: string;
}

export type Verdict = "pass" | "fail" | "unreachable";

export interface Finding {
  check: "same-endpoint" | "same-version" | "unreachable" | "version-mismatch-within-role";
  severity: "fail" | "unreachable" | "warning";
  message: string;
}

export interface Evaluation {
  verdict: Verdict;
  exitCode: 0 | 1 | 3;
  findings: Finding[];
  /** per stack and role: the versions seen (distinct) */
  versions: Partial<Record<Stack, { old: string[]; new: string[] }>>;
}

export function evaluate(rows: readonly ProbeRow[]): Evaluation {
  const findings: Finding[] = [];
  // same endpoint: per probe kind, old vs new
  const kinds = new Set(rows.map((r) => r.kind));
  for (const kind of kinds) {
    const olds = rows.filter((r) => r.kind === kind && r.role === "old");
    const news = rows.filter((r) => r.kind === kind && r.role === "new");
    for (const o of olds) {
      for (const n of news) {
        const oe = o.resolvedEndpoint ?? o.endpoint;
        const ne = n.resolvedEndpoint ?? n.endpoint;
        if (oe === ne) {
          findings.push({
            check: "same-endpoint",
            severity: "fail",
            message:
              `old and new resolve to the same endpoint for ${kind}: ${oe}` +
              (o.endpoint !== n.endpoint ? ` (${o.endpoint} and ${n.endpoint})` : ""),
          });
        }
      }
    }
  }
  // versions per stack
  const versions: Evaluation["versions"] = {};
  for (const r of rows) {
    if (r.role === "proxy" || r.version === undefined || r.reachable !== true) continue;
    const v = (versions[r.stack] ??= { old: [], new: [] });
    if (!v[r.role].includes(r.version)) v[r.role].push(r.version);
  }
  for (const [stack, v] of Object.entries(versions) as [Stack, { old: string[]; new: string[] }][]) {
    for (const role of ["old", "new"] as const) {
      if (v[role].length > 1) {
        findings.push({
          check: "version-mismatch-within-role",
          severity: "warning",
          message: `${role} ${stack}: sources disagree (${v[role].join(" vs ")})`,
        });
      }
    }
    const same = v.old.filter((x) => v.new.includes(x));
    if (same.length > 0) {
      findings.push({
        check: "same-version",
        severity: "fail",
        message: `old and new report the same ${stack} version ${same.join(", ")}: the stacks are not truly different`,
      });
    }
  }
  // unreachable
  for (const r of rows) {
    if (r.reachable === false) {
      findings.push({
        check: "unreachable",
        severity: "unreachable",
        message: `${r.component} at ${r.endpoint} is unreachable: ${r.error ?? "no answer"}`,
      });
    }
  }
  const fails = findings.some((f) => f.severity === "fail");
  const unreachable = findings.some((f) => f.severity === "unreachable");
  const verdict: Verdict = fails ? "fail" : unreachable ? "unreachable" : "pass";
  return { verdict, exitCode: fails ? 1 : unreachable ? 3 : 0, findings, versions };
}

/** The printed table: component, endpoint, reachable, version, source of the version. */
export function formatTable(rows: readonly ProbeRow[]): string {
  const reach = (r: ProbeRow): string => {
    if (r.reachable === "skipped") return `skipped${r.error ? ` (${r.error})` : ""}`;
    if (!r.reachable) return "NO";
    const rtt = r.rttMs !== undefined ? `, ${r.rttMs < 10 ? r.rttMs.toFixed(1) : Math.round(r.rttMs)} ms` : "";
    return `yes (${r.status ?? "ok"}${rtt})`;
  };
  const table = [
    ["COMPONENT", "ENDPOINT", "REACHABLE", "VERSION", "SOURCE"],
    ...rows.map((r) => [r.component, r.endpoint, reach(r), r.versionText, r.source]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
