/**
 * A pipe a child process writes its standard output into and the tool reads into one buffer of its
 * own (net.Socket's `onread`: no new buffer per read, as a child's `stdio: "pipe"` makes). Node has
 * no pipe(2), so a FIFO is made in a private temporary directory, both ends opened, and the name
 * removed at once: what is left is an anonymous pipe. The write end is the child's (pass `writeFd` as
 * its stdout and call `closeWriteEnd` once it is spawned), so the read end sees the end of the
 * stream when the child exits, and the child gets EPIPE if the tool goes away.
 */
import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { Socket, type OnReadOpts, type SocketConstructorOpts } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";

export interface ChildPipe {
  /** the write end, for the child's stdio (until closeWriteEnd) */
  writeFd: number;
  /** the read end, reading into `buffer` */
  socket: Socket;
  /** close the tool's copy of the write end (after the child has it) */
  closeWriteEnd(): void;
}

/**
 * Open a pipe whose data is handed to `onData(n, buffer)` as it comes, always in the same `buffer`
 * (valid only during the call); `onEnd` when every writer closed it (or the read failed).
 */
export function openChildPipe(
  buffer: Buffer,
  onData: (n: number, b: Buffer) => void,
  onEnd: (error?: Error) => void,
): ChildPipe {
  const dir = mkdtempSync(path.join(tmpdir(), "pbx-cutover-pipe-"));
  try {
    const fifo = path.join(dir, "p");
    const made = spawnSync("mkfifo", ["-m", "600", fifo], { encoding: "utf8" });
    if (made.status !== 0)
      throw new EnvironmentError(
        `could not make a pipe for the capture (mkfifo ${made.error?.message ?? made.stderr.trim()})`,
        ["install coreutils (mkfifo)"],
      );
    // the read end first (non-blocking: no writer yet), then the write end (opens at once: a reader is there)
    const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    let writeFd: number;
    try {
      writeFd = openSync(fifo, constants.O_WRONLY);
    } catch (e) {
      closeSync(readFd);
      throw e;
    }
    let ended = false;
    const end = (e?: Error): void => {
      if (ended) return;
      ended = true;
      onEnd(e);
    };
    // Node 20 takes onread in the constructor too (its types only on connect's options)
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd: readFd,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (n) => {
          onData(n, buffer);
          return true;
        },
      },
    };
    const socket = new Socket(options);
    socket.on("end", () => end());
    socket.on("close", () => end());
    socket.on("error", (e) => end(e));
    let writeOpen = true;
    return {
      writeFd,
      socket,
      closeWriteEnd() {
        if (!writeOpen) return;
        writeOpen = false;
        closeSync(writeFd);
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
