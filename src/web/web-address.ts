/**
 * `--web [addr:port]` and `--web-allow-remote` (pure): where the live page's server listens.
 * Loopback by default (127.0.0.1, an ephemeral port: the URL is printed); any other address only
 * with --web-allow-remote. Addresses are IP literals (or `localhost`): nothing is looked up.
 */
import { isIP } from "node:net";
import type { Command } from "commander";
import { UsageError } from "../core/errors.js";

export interface WebAddress {
  host: string;
  /** 0: any free port (the server's URL says which) */
  port: number;
  loopback: boolean;
}

export const DEFAULT_WEB_HOST = "127.0.0.1";
export const DEFAULT_WEB_PORT = 0;

export interface WebFlags {
  web?: string | boolean;
  webAllowRemote?: boolean;
}

/** The flags on a command (sim, dashboard, watch). */
export function addWebOptions(cmd: Command): Command {
  return cmd
    .option(
      "--web [addr:port]",
      `serve a live page of the run (read-only) at http://addr:port/; default ${DEFAULT_WEB_HOST} on a free port (the URL is printed); ` +
        "a bare port means 127.0.0.1:port",
    )
    .option(
      "--web-allow-remote",
      "let --web listen on an address other than loopback (anyone who reaches it can watch the run)",
    );
}

export function isLoopback(ip: string): boolean {
  if (isIP(ip) === 4) return ip.split(".")[0] === "127";
  const v6 = ip.toLowerCase();
  if (v6 === "::1" || v6 === "0:0:0:0:0:0:0:1") return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  return mapped !== null && isLoopback(mapped[1]!);
}

const usage = (raw: string, why: string): UsageError =>
  new UsageError(`--web ${raw}: ${why}; nothing was started`, [
    "examples: --web, --web 8090, --web 127.0.0.1:8090, --web [::1]:8090",
  ]);

/** The flags as an address to listen on; undefined when --web was not given. Exit 2 on a bad value. */
export function webAddressFrom(f: WebFlags): WebAddress | undefined {
  if (f.web === undefined || f.web === false) {
    if (f.webAllowRemote) throw new UsageError("--web-allow-remote goes with --web addr:port; nothing was started");
    return undefined;
  }
  const raw = f.web === true ? "" : f.web.trim();
  let host = DEFAULT_WEB_HOST;
  let portText: string | undefined;
  if (raw === "") {
    portText = undefined;
  } else if (/^\d+$/.test(raw)) {
    portText = raw;
  } else {
    const m = /^\[([^\]]+)\](?::(.*))?$/.exec(raw) ?? /^([^:]+)(?::(.*))?$/.exec(raw);
    if (!m) throw usage(raw, "not an address:port (an IPv6 address goes in brackets)");
    host = m[1]!;
    portText = m[2];
  }
  if (host === "localhost") host = DEFAULT_WEB_HOST;
  if (isIP(host) === 0)
    throw usage(
      raw,
      `${JSON.stringify(host)} is not an IP address (give one, e.g. 127.0.0.1; names are not looked up)`,
    );
  let port = DEFAULT_WEB_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
      throw usage(raw, `port ${JSON.stringify(portText)} must be a number from 0 to 65535`);
    port = Number(portText);
  }
  const loopback = isLoopback(host);
  if (!loopback && f.webAllowRemote !== true) {
    throw new UsageError(
      `--web ${raw}: ${host} is not a loopback address, and the live page would be open to anyone who reaches it; nothing was started`,
      [
        "pass --web-allow-remote as well to mean it, or listen on 127.0.0.1 (the default) and forward the port (ssh -L)",
      ],
    );
  }
  return { host, port, loopback };
}
