/**
 * `migrate --target --probe RATE --probe-uri URI` (pure): the tool's own synthetic calls through a
 * production node, besides the users' calls it judges. Checked before anything starts (exit 2).
 */
import { UsageError } from "../core/errors.js";
import { canonicalHost, effectivePort, parseSipUri } from "../sip/sip-uri.js";
import { MAX_TRAFFIC_RATE } from "./background-traffic.js";

export interface ProbeRequest {
  rate: number;
  /** what the calls dial: the URI's user part */
  service: string;
  uri: string;
}

/**
 * Both flags or neither; RATE calls/s above 0 and at most MAX_TRAFFIC_RATE; the URI `sip:USER@NODE`,
 * with a node's own SIP address and port (the calls go through the node; its user part is what they
 * dial). On a fleet the URI may name any of its nodes: the probe calls go through every node, each
 * dialing USER at that node.
 */
export function probeRequest(
  rate: string | undefined,
  uri: string | undefined,
  /** the target's node, or every node of a fleet (the first first); name: "node kam1" */
  nodes: readonly { name: string; address: string; port: number }[],
): ProbeRequest | undefined {
  const node = nodes[0]!;
  if (rate === undefined && uri === undefined) return undefined;
  if (rate === undefined || uri === undefined)
    throw new UsageError(
      `${rate === undefined ? "--probe-uri" : "--probe"} needs ${rate === undefined ? "--probe RATE" : "--probe-uri sip:USER@NODE"} too; nothing was started`,
      [`e.g. --probe 2 --probe-uri sip:probe@${node.address}:${node.port}`],
    );
  const t = rate.trim();
  const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
  if (!(n > 0) || n > MAX_TRAFFIC_RATE)
    throw new UsageError(
      `--probe must be calls per second, more than 0 and at most ${MAX_TRAFFIC_RATE}, got ${JSON.stringify(rate)}; nothing was started`,
    );
  const u = parseSipUri(uri);
  if (!u.ok) throw new UsageError(`--probe-uri ${JSON.stringify(uri)}: ${u.error}; nothing was started`);
  if (u.uri.user === undefined || u.uri.user === "" || !/^[\w.+*#-]+$/.test(u.uri.user))
    throw new UsageError(
      `--probe-uri ${uri}: names no user to dial (letters, digits, . + * # - _); nothing was started`,
      [`e.g. sip:probe@${node.address}:${node.port}`],
    );
  const host = canonicalHost(u.uri.host);
  if (!nodes.some((n) => host === canonicalHost(n.address) && effectivePort(u.uri) === n.port))
    throw new UsageError(
      `--probe-uri ${uri}: the probe calls go through ${nodes.map((n) => `${n.name} at ${n.address}:${n.port}`).join(", ")}; name ${nodes.length === 1 ? "it" : "one of them"} as the URI's host and port; nothing was started`,
    );
  return { rate: n, service: u.uri.user, uri };
}
