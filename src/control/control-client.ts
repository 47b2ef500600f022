/**
 * Finding a running plan and talking to its control socket (effects), for `pbx-cutover status |
 * pause | resume | promote | abort`. Every way it can go wrong ends in a clear EnvironmentError
 * (exit 3), never a hang: no pointer (no plan runs), a pointer or socket that is not ours or not
 * owner-only, a stale one (its process is gone, e.g. killed with SIGKILL: reported and removed), a
 * run that does not answer within a few seconds (frozen?).
 */
import { lstatSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import { isAlive } from "../os/process.js";
import { startTimeOf } from "../os/ownership.js";
import { ownerOnlyDirProblem } from "./control-socket.js";
import {
  parsePointer,
  parseResponse,
  POINTER_FILE,
  requestLine,
  SOCKET_FILE,
  type ControlCommand,
  type ControlPointer,
  type ControlResponse,
} from "./protocol.js";

export interface RunLocation {
  socket: string;
  /** the pointer it came from (undefined: --run-dir named the run folder) */
  pointer: ControlPointer | undefined;
  pointerPath: string | undefined;
}

const CONNECT_MS = 2000;
const ANSWER_MS = 5000;

function ownedFileProblem(p: string, what: string, wantSocket: boolean): string | undefined {
  const st = lstatSync(p);
  if (wantSocket ? !st.isSocket() : !st.isFile())
    return `${p} is not a ${wantSocket ? "socket" : "regular file"} (${what})`;
  if (typeof process.getuid === "function" && st.uid !== process.getuid())
    return `${p} belongs to uid ${st.uid}, not to this user; not talking to it`;
  if ((st.mode & 0o077) !== 0)
    return `${p} is accessible to group or others (mode ${(st.mode & 0o777).toString(8)}); not talking to it`;
  return ownerOnlyDirProblem(path.dirname(p));
}

/** The run's socket: from `--run-dir` (its control.sock) or from the pointer in the lab's state directory. */
export function locateRun(o: { runDir?: string | undefined; pointerDir: string }): RunLocation {
  if (o.runDir !== undefined) {
    const socket = path.join(path.resolve(o.runDir), SOCKET_FILE);
    if (!exists(socket)) {
      // a run whose run-folder path was too long for a socket has it elsewhere: the lab's pointer says where
      const viaPointer = tryPointer(o.pointerDir);
      if (viaPointer && path.resolve(viaPointer.pointer!.runDir) === path.resolve(o.runDir)) return viaPointer;
      throw new EnvironmentError(
        `no plan is running in ${o.runDir}: it has no ${SOCKET_FILE} (the run has finished, or never had control)`,
      );
    }
    const problem = ownedFileProblem(socket, "the run's control socket", true);
    if (problem) throw new EnvironmentError(`refusing the control socket: ${problem}`);
    return { socket, pointer: undefined, pointerPath: undefined };
  }
  const found = tryPointer(o.pointerDir);
  if (found === undefined) {
    throw new EnvironmentError(`no plan is running on this lab: there is no ${path.join(o.pointerDir, POINTER_FILE)}`, [
      "a plan runs while `pbx-cutover migrate` does; pass the same --lab-dir as it (or --run-dir RUN_FOLDER)",
    ]);
  }
  return found;
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function tryPointer(dir: string): RunLocation | undefined {
  const pointerPath = path.join(dir, POINTER_FILE);
  if (!exists(pointerPath)) return undefined;
  const problem = ownedFileProblem(pointerPath, "the control pointer", false);
  if (problem) throw new EnvironmentError(`refusing the control pointer: ${problem}`);
  const pointer = parsePointer(readFileSync(pointerPath, "utf8"));
  if (pointer === undefined)
    throw new EnvironmentError(
      `${pointerPath} is not a control pointer this version wrote (corrupt?); remove it if no plan is running`,
    );
  const alive =
    isAlive(pointer.pid) && (pointer.startTime === undefined || startTimeOf(pointer.pid) === pointer.startTime);
  if (!alive) {
    staleCleanup(pointerPath, pointer);
    throw new EnvironmentError(
      `no plan is running on this lab: the control socket ${pointer.socket} is stale (its run, pid ${pointer.pid} \`${pointer.command}\` started ${pointer.startedAt}, is gone without removing it, e.g. killed with SIGKILL); removed the stale pointer and socket`,
      [`its evidence is in ${pointer.runDir}; check the dispatcher state with \`pbx-cutover lab status\``],
    );
  }
  if (!exists(pointer.socket))
    throw new EnvironmentError(
      `the running plan (pid ${pointer.pid}) has no control socket at ${pointer.socket} (removed by hand?)`,
    );
  const sp = ownedFileProblem(pointer.socket, "the run's control socket", true);
  if (sp) throw new EnvironmentError(`refusing the control socket: ${sp}`);
  return { socket: pointer.socket, pointer, pointerPath };
}

/** A dead run's pointer and socket: removed (only a socket, only when the pointer names a dead pid). */
function staleCleanup(pointerPath: string, p: ControlPointer): void {
  try {
    if (lstatSync(p.socket).isSocket()) rmSync(p.socket, { force: true });
  } catch {
    // gone already
  }
  rmSync(pointerPath, { force: true });
}

/** One request, one answer. EnvironmentError when the run cannot be reached or does not answer in time. */
export function sendControl(
  loc: RunLocation,
  command: ControlCommand,
  t: { connectMs?: number; answerMs?: number } = {},
): Promise<ControlResponse> {
  const CONNECT_TIMEOUT_MS = t.connectMs ?? CONNECT_MS;
  const ANSWER_TIMEOUT_MS = t.answerMs ?? ANSWER_MS;
  return new Promise((resolve, reject) => {
    const who = loc.pointer ? `the running plan (pid ${loc.pointer.pid})` : "the run";
    const sock = net.createConnection(loc.socket);
    let buf = "";
    let connected = false;
    let settled = false;
    const finish = (err: Error | undefined, r?: ControlResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    let timer = setTimeout(
      () =>
        finish(
          new EnvironmentError(
            `${who} did not accept a connection on ${loc.socket} within ${CONNECT_TIMEOUT_MS} ms; nothing was changed`,
          ),
        ),
      CONNECT_TIMEOUT_MS,
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          finish(
            new EnvironmentError(
              `${who} did not answer within ${ANSWER_TIMEOUT_MS} ms on ${loc.socket} (frozen? a stopped process resumes with kill -CONT ${loc.pointer?.pid ?? "PID"}); the request may or may not have been applied: check with pbx-cutover status`,
            ),
          ),
        ANSWER_TIMEOUT_MS,
      );
      sock.write(requestLine(command));
    });
    sock.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const r = parseResponse(buf.slice(0, nl));
      finish(
        r === undefined
          ? new EnvironmentError(`${who} answered something that is not a control response on ${loc.socket}`)
          : undefined,
        r,
      );
    });
    sock.on("error", (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === "ECONNREFUSED" || err.code === "ENOENT")) {
        finish(
          new EnvironmentError(
            `no plan is listening on ${loc.socket} (${err.code}): the socket is stale, its run ended without removing it; nothing was changed`,
            ["remove it if no pbx-cutover migrate is running"],
          ),
        );
        return;
      }
      finish(new EnvironmentError(`cannot talk to ${who} on ${loc.socket}: ${err.message}; nothing was changed`));
    });
    sock.on("close", () =>
      finish(
        new EnvironmentError(`${who} closed the control connection without an answer; check with pbx-cutover status`),
      ),
    );
  });
}
