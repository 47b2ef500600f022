/**
 * The sockets a set of processes hold, read from /proc (what `ss -lunpt` shows): for each pid its
 * socket inodes (/proc/<pid>/fd), matched against /proc/net/{udp,tcp,udp6,tcp6}. TCP: listeners
 * only; UDP: every bound socket (a bound UDP socket receives from anyone who can reach it).
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

export interface BoundSocket {
  pid: number;
  proto: "udp" | "tcp" | "udp6" | "tcp6";
  address: string;
  port: number;
}

function decodeV4(hex: string): string {
  return [0, 2, 4, 6]
    .map((i) => parseInt(hex.slice(i, i + 2), 16))
    .reverse()
    .join(".");
}

function decodeV6(hex: string): string {
  // four little-endian 32-bit words
  const words = [0, 8, 16, 24].map((i) =>
    hex
      .slice(i, i + 8)
      .match(/../g)!
      .reverse()
      .join(""),
  );
  const groups = words
    .join("")
    .match(/.{4}/g)!
    .map((g) => parseInt(g, 16).toString(16));
  return groups.join(":");
}

export function socketsOf(pids: readonly number[]): BoundSocket[] {
  const table = new Map<string, Omit<BoundSocket, "pid">>();
  for (const proto of ["udp", "tcp", "udp6", "tcp6"] as const) {
    let text = "";
    try {
      text = readFileSync(`/proc/net/${proto}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10) continue;
      if (proto.startsWith("tcp") && c[3] !== "0A") continue;
      const [a, p] = c[1]!.split(":");
      table.set(c[9]!, { proto, address: proto.endsWith("6") ? decodeV6(a!) : decodeV4(a!), port: parseInt(p!, 16) });
    }
  }
  const out: BoundSocket[] = [];
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link = "";
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      const s = m ? table.get(m[1]!) : undefined;
      if (s) out.push({ pid, ...s });
    }
  }
  return out;
}

/** 127.0.0.0/8 (or ::1). */
export function isLoopback(s: BoundSocket): boolean {
  return s.proto.endsWith("6") ? s.address === "0:0:0:0:0:0:0:1" : s.address.startsWith("127.");
}

/** Every live process whose process group is one of `pgids` (a lab component and its children). */
export function groupPids(pgids: readonly number[]): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      const st = readFileSync(`/proc/${e}/stat`, "utf8");
      const pgid = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgids.includes(pgid)) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Does `pid` hold a TCP connection to 127.0.0.1:`port` (established or being set up)? */
export function connectedTo(pid: number, port: number): boolean {
  let text = "";
  try {
    text = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return false;
  }
  const inodes = new Set<string>();
  for (const line of text.split("\n").slice(1)) {
    const c = line.trim().split(/\s+/);
    if (c.length < 10) continue;
    const remotePort = parseInt(c[2]!.split(":")[1]!, 16);
    if (remotePort === port && c[3] !== "0A") inodes.add(c[9]!);
  }
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m !== null && inodes.has(m[1]!);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
