import dgram from "node:dgram";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import net from "node:net";

export interface PortOwner {
  pid: number;
  comm: string;
}

export interface PortInUse {
  proto: "udp" | "tcp";
  address: string;
  port: number;
  owner: PortOwner | undefined;
}

/** Try to bind; EADDRINUSE means taken. Other errors (e.g. EADDRNOTAVAIL) are thrown. */
export async function isUdpFree(address: string, port: number): Promise<boolean> {
  const sock = dgram.createSocket({ type: "udp4", reuseAddr: false });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(port, address, () => resolve());
    });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") return false;
    throw err;
  } finally {
    try {
      sock.close();
    } catch {
      /* never bound */
    }
  }
}

export async function isTcpFree(address: string, port: number): Promise<boolean> {
  const srv = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen({ port, host: address, exclusive: true }, () => resolve());
    });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") return false;
    throw err;
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

/** Local address as it appears in /proc/net/{udp,tcp}: little-endian hex IPv4 and hex port. */
export function procNetAddress(address: string, port: number): string {
  const hexIp = address
    .split(".")
    .map((o) => Number(o).toString(16).padStart(2, "0").toUpperCase())
    .reverse()
    .join("");
  return `${hexIp}:${port.toString(16).padStart(4, "0").toUpperCase()}`;
}

/** Socket inodes bound to address:port (also 0.0.0.0:port) in a /proc/net table's text. */
export function inodesFor(table: string, address: string, port: number, listeningOnly: boolean): string[] {
  const wanted = new Set([procNetAddress(address, port), procNetAddress("0.0.0.0", port)]);
  const out: string[] = [];
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = cols[1]!;
    const state = cols[3];
    if (!wanted.has(local)) continue;
    if (listeningOnly && state !== "0A") continue;
    out.push(cols[9]!);
  }
  return out;
}

export interface UdpSocketCounters {
  inode: string;
  /** bytes waiting in the socket's receive queue */
  rxQueueBytes: number;
  /** datagrams the kernel dropped for this socket (receive buffer full) since it was opened */
  drops: number;
}

/** The kernel's counters for the UDP socket bound to exactly address:port, from /proc/net/udp's text. */
export function udpSocketCounters(table: string, address: string, port: number): UdpSocketCounters | undefined {
  const wanted = procNetAddress(address, port);
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 13 || cols[1] !== wanted) continue;
    const rx = cols[4]?.split(":")[1];
    const drops = Number(cols[12]);
    if (rx === undefined || !Number.isFinite(drops)) continue;
    return { inode: cols[9]!, rxQueueBytes: parseInt(rx, 16), drops };
  }
  return undefined;
}

/** Best effort: which process holds the port (needs permission to read other processes' fds). */
export function findPortOwner(proto: "udp" | "tcp", address: string, port: number): PortOwner | undefined {
  let table: string;
  try {
    table = readFileSync(`/proc/net/${proto}`, "utf8");
  } catch {
    return undefined;
  }
  const inodes = new Set(inodesFor(table, address, port, proto === "tcp"));
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) {
        let comm = "?";
        try {
          comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        } catch {
          /* gone */
        }
        return { pid: Number(pid), comm };
      }
    }
  }
  return undefined;
}

export function describePortInUse(p: PortInUse): string {
  const owner = p.owner ? ` by pid ${p.owner.pid} (${p.owner.comm})` : "";
  return `port ${p.port}/${p.proto} on ${p.address} is in use${owner}`;
}

/**
 * The local IPv4 address this host sends from to reach `address` (the kernel's route, read from a UDP
 * socket connected there; nothing is sent).
 */
export function localAddressTowards(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.once("error", (err) => {
      s.close();
      reject(err);
    });
    s.connect(port, address, () => {
      const local = s.address().address;
      s.close();
      resolve(local);
    });
  });
}
