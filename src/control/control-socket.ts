/**
 * The run's control socket (effects): a Unix socket, mode 0600, in the run folder (control.sock),
 * and a pointer beside the target's apply lock (control.json, mode 0600, e.g. .lab/control.json)
 * so `pbx-cutover status --lab-dir .lab` finds the running plan. One JSON line in, one out
 * (protocol.ts); each connection gets 2 s and 4 KiB, so a stuck client cannot hold the run.
 *
 * Owner-only: the socket is bound with umask 0177 (never connectable by others, not even for a
 * moment), then checked with lstat (a socket, ours, 0600); its directory must be ours and not
 * writable by group or others, or nothing is started. close() (on every exit path: the caller's
 * Scope runs it on success, failure, Ctrl-C and SIGTERM) removes the socket and the pointer, if the
 * pointer is still ours. A run killed with SIGKILL leaves both behind: the client sees the pid is
 * gone and reports a stale socket (control-client.ts).
 */
import { lstatSync, mkdtempSync, readFileSync, rmSync, chmodSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { startTimeOf } from "../os/ownership.js";
import {
  isAction,
  MAX_REQUEST_BYTES,
  MAX_SOCKET_PATH_BYTES,
  parsePointer,
  parseRequest,
  POINTER_FILE,
  PROTOCOL_VERSION,
  SOCKET_FILE,
  type ControlPointer,
  type ControlResponse,
} from "./protocol.js";
import type { RunControl } from "./run-control.js";
import type { StatusView } from "./run-status.js";

export interface ControlServerOptions {
  runDir: string;
  /** where the pointer goes: the directory of the target's apply lock (the lab dir on the native lab) */
  pointerDir: string;
  command: string;
  control: RunControl;
  status(): StatusView;
}

export interface ControlServer {
  socketPath: string;
  pointerPath: string;
  close(): Promise<void>;
}

const CONNECTION_TIMEOUT_MS = 2000;

/** The directory a socket lives in must be ours and writable by nobody else (so nobody can swap it). */
export function ownerOnlyDirProblem(dir: string): string | undefined {
  const st = lstatSync(dir);
  if (!st.isDirectory()) return `${dir} is not a directory`;
  if (typeof process.getuid === "function" && st.uid !== process.getuid())
    return `${dir} belongs to uid ${st.uid}, not to this user (${process.getuid()})`;
  if ((st.mode & 0o022) !== 0)
    return `${dir} is writable by ${st.mode & 0o020 ? "its group" : "others"} (mode ${(st.mode & 0o777).toString(8)}); a control socket there could be replaced`;
  return undefined;
}

export async function openControlServer(o: ControlServerOptions): Promise<ControlServer> {
  let socketPath = path.join(o.runDir, SOCKET_FILE);
  let privateDir: string | undefined;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    // too long to bind: a private directory in the temp dir (0700, ours); the pointer says where
    privateDir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-control-"));
    chmodSync(privateDir, 0o700);
    socketPath = path.join(privateDir, SOCKET_FILE);
  }
  const dirProblem = ownerOnlyDirProblem(path.dirname(socketPath)) ?? ownerOnlyDirProblem(o.pointerDir);
  if (dirProblem !== undefined) {
    if (privateDir) rmSync(privateDir, { recursive: true, force: true });
    throw new EnvironmentError(`cannot open the control socket: ${dirProblem}; nothing was changed`, [
      "make the directory owner-only (chmod go-w) or pass another --artifacts-dir / --lab-dir",
    ]);
  }
  const server = net.createServer((sock) => serve(sock, o));
  // the listening socket keeps the process alive while a paused run waits for the operator (no timer runs
  // then); the caller's Scope closes it on every exit path
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // bound with no permissions for group and others: never connectable by them, not even before the chmod
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  }).catch((err: unknown) => {
    if (privateDir) rmSync(privateDir, { recursive: true, force: true });
    throw new EnvironmentError(
      `cannot open the control socket ${socketPath}: ${(err as Error).message}; nothing was changed`,
    );
  });
  chmodSync(socketPath, 0o600);
  const st = lstatSync(socketPath);
  if (!st.isSocket() || (st.mode & 0o077) !== 0) {
    server.close();
    throw new EnvironmentError(
      `the control socket ${socketPath} is not an owner-only socket after binding (mode ${(st.mode & 0o777).toString(8)}); nothing was changed`,
    );
  }
  const pointerPath = path.join(o.pointerDir, POINTER_FILE);
  const pointer: ControlPointer = {
    v: PROTOCOL_VERSION,
    socket: socketPath,
    runDir: o.runDir,
    pid: process.pid,
    startTime: startTimeOf(process.pid),
    command: o.command,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(pointerPath, JSON.stringify(pointer, null, 2) + "\n", { mode: FileMode.private });
  let closed = false;
  return {
    socketPath,
    pointerPath,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeIfSocket(socketPath);
      if (privateDir) rmSync(privateDir, { recursive: true, force: true });
      // the pointer, if it still names this run (a later run may have replaced it)
      try {
        const p = parsePointer(readFileSync(pointerPath, "utf8"));
        if (p !== undefined && p.pid === process.pid && p.socket === socketPath) rmSync(pointerPath, { force: true });
      } catch {
        // already gone
      }
    },
  };
}

function removeIfSocket(p: string): void {
  try {
    if (lstatSync(p).isSocket()) rmSync(p, { force: true });
  } catch {
    // already gone
  }
}

function serve(sock: net.Socket, o: ControlServerOptions): void {
  let buf = "";
  let answered = false;
  sock.setEncoding("utf8");
  sock.setTimeout(CONNECTION_TIMEOUT_MS, () => sock.destroy());
  sock.on("error", () => sock.destroy());
  const reply = (r: ControlResponse): void => {
    answered = true;
    sock.end(JSON.stringify(r) + "\n");
  };
  sock.on("data", (chunk: string) => {
    if (answered) return;
    buf += chunk;
    const nl = buf.indexOf("\n");
    if (nl < 0) {
      if (Buffer.byteLength(buf) > MAX_REQUEST_BYTES)
        reply({ v: PROTOCOL_VERSION, ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
      return;
    }
    const parsed = parseRequest(buf.slice(0, nl));
    if (!parsed.ok) {
      reply({ v: PROTOCOL_VERSION, ok: false, error: parsed.error });
      return;
    }
    const c = parsed.request.command;
    if (!isAction(c)) {
      reply({ v: PROTOCOL_VERSION, ok: true, detail: "", status: o.status() });
      return;
    }
    const d = o.control.request(c);
    reply(
      d.accept
        ? { v: PROTOCOL_VERSION, ok: true, detail: d.detail, status: o.status() }
        : { v: PROTOCOL_VERSION, ok: false, error: d.detail, status: o.status() },
    );
  });
}
