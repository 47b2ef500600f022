import { isIP } from "node:net";
import { UsageError } from "../core/errors.js";

/** Where `--hep-forward` relays every HEP datagram (a Homer, another collector): UDP host and port. */
export interface HepForwardTarget {
  host: string;
  port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `host:port`, `a.b.c.d:port` or `[ipv6]:port` (pure); anything else is a usage error. */
export function parseHepForward(raw: string, flag = "--hep-forward"): HepForwardTarget {
  const s = raw.trim();
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s);
  const hint = `${flag} takes host:port (e.g. 127.0.0.1:9060 or [::1]:9060), got ${JSON.stringify(raw)}`;
  if (!m) throw new UsageError(hint);
  const host = m[1]!;
  const port = Number(m[2]);
  const bracketed = s.startsWith("[");
  if (bracketed ? isIP(host) !== 6 : !(isIP(host) === 4 || HOSTNAME.test(host))) throw new UsageError(hint);
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`${flag}: port must be 1-65535, got ${m[2]}`);
  return { host, port };
}
