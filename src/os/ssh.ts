/**
 * The system's `ssh`, the way the tool runs a command on a node: the operator's keys (or the one
 * the target file names), never a prompt (`BatchMode=yes`: no password, no passphrase, no "are you
 * sure"), strict host key checking against the known_hosts file the target names and only that one
 * (an unknown or changed key is a refusal, exit 3).
 *
 * How the remote command is built without a shell string from input: ssh itself has no argv on the
 * far side; it sends one string that the remote user's login shell parses. So every word of the
 * remote argv is quoted for a POSIX shell on its own (`shellQuote`: the word inside single quotes,
 * each `'` written as `'\''`), and the quoted words are joined by spaces. The remote shell splits
 * that string back into exactly the words given, whatever they hold (`;`, `$`, spaces, quotes): it
 * never sees an unquoted character of them. The words themselves are fixed (`kamcmd`, `-s`, `cat`,
 * the write helper's script, which is a constant) or values the tool validated (a socket or list
 * path, an RPC method name from the code, a set id, a SIP URI). Control characters are refused, so
 * nothing can end a line on the far side either.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import type { ArgvRunner } from "../kamailio/kamcmd-rpc.js";

export interface SshConnection {
  /** an IPv4 literal or a host name ssh resolves (never starting with '-') */
  host: string;
  port: number;
  /** the remote user; undefined: ssh's own default (the operator's config) */
  user: string | undefined;
  /** the only known_hosts file consulted */
  knownHosts: string;
  /** a private key; undefined: the operator's keys and agent as ssh finds them */
  identityFile: string | undefined;
  connectTimeoutS: number;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** One word for a POSIX shell, taken literally whatever it holds. Throws on control characters. */
export function shellQuote(word: string): string {
  if (CONTROL.test(word))
    throw new Error(`refusing a control character in a remote command word: ${JSON.stringify(word)}`);
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The remote argv as the one string ssh sends: each word quoted on its own. */
export function remoteCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

/**
 * `ssh` with the tool's options, then the host, then the remote command as one quoted string. With a
 * `controlPath`, calls share one connection (the first becomes the master and stays up to 30 s idle).
 */
export function sshArgv(c: SshConnection, remote: readonly string[], controlPath?: string): string[] {
  return [
    "ssh",
    ...(controlPath
      ? ["-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`, "-o", `ControlPersist=${PERSIST_S}`]
      : []),
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${c.knownHosts}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "UpdateHostKeys=no",
    "-o",
    `ConnectTimeout=${c.connectTimeoutS}`,
    "-o",
    "LogLevel=ERROR",
    ...(c.identityFile ? ["-o", "IdentitiesOnly=yes", "-i", c.identityFile] : []),
    ...(c.user ? ["-l", c.user] : []),
    "-p",
    String(c.port),
    "-T",
    c.host,
    remoteCommand(remote),
  ];
}

/** an idle shared connection ends by itself after this long, even if the tool was killed */
const PERSIST_S = 30;

/**
 * One node's SSH for the life of a Target: every call rides one connection (a handshake costs
 * hundreds of ms on a busy host; a call on the shared connection a few), the master's socket in a
 * private directory of this process. `close()` ends the master and removes the directory.
 */
export class SshSession {
  private dir: string | undefined;

  constructor(readonly connection: SshConnection) {}

  argv(remote: readonly string[]): string[] {
    this.dir ??= mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-ssh-"));
    return sshArgv(this.connection, remote, path.join(this.dir, "%C"));
  }

  close(): void {
    const dir = this.dir;
    if (dir === undefined) return;
    this.dir = undefined;
    const c = this.connection;
    spawnSync(
      "ssh",
      [
        "-o",
        `ControlPath=${path.join(dir, "%C")}`,
        ...(c.user ? ["-l", c.user] : []),
        "-p",
        String(c.port),
        "-O",
        "exit",
        c.host,
      ],
      { stdio: "ignore", timeout: 3000 },
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ssh's own failures (exit 255) that no retry fixes: the host key and the login. */
export class SshRefusedError extends EnvironmentError {
  constructor(
    readonly where: string,
    readonly reason: "host-key" | "login",
    detail: string,
    knownHosts: string,
  ) {
    super(
      reason === "host-key"
        ? `${where}: the SSH host key is not the one in ${knownHosts} (unknown or changed): ${detail}; nothing was run there`
        : `${where}: SSH login refused: ${detail}; nothing was run there`,
      reason === "host-key"
        ? [
            `if the node's key really is new, check its fingerprint out of band and add it to ${knownHosts}; pbx-cutover never accepts a key by itself`,
          ]
        : ["check the target file's ssh user and identityFile, and the key's place in the node's authorized_keys"],
    );
    this.name = "SshRefusedError";
  }
}

const HOST_KEY =
  /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No (?:\S+ )?host key is known|host key for .* has changed/i;
const LOGIN = /Permission denied|Too many authentication failures/i;

/**
 * ssh's exit 255 read from its stderr: a final refusal (host key, login) or undefined (anything else:
 * the connection, a timeout; the caller may retry those). Other exit codes are the remote command's.
 */
export function sshRefusal(
  code: number,
  stderr: string,
  where: string,
  knownHosts: string,
): SshRefusedError | undefined {
  if (code !== 255) return undefined;
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.find((l) => /No \S+ host key is known|Host key for .* has changed/i.test(l)) ?? lines.pop() ?? "";
  const detail = line.replace(/\.$/, "");
  if (HOST_KEY.test(stderr)) return new SshRefusedError(where, "host-key", detail, knownHosts);
  if (LOGIN.test(stderr)) return new SshRefusedError(where, "login", detail, knownHosts);
  return undefined;
}

export type SshExec = (remote: string[], input?: string) => Promise<{ stdout: string; stderr: string; code: number }>;

/**
 * A file on the session's host: its name in messages and a runner of remote argv that turns a failed
 * ssh into exit 3 and a refused host key or login into the refusal's own error.
 */
export function sshFileAccess(
  session: SshSession,
  file: string,
  run: ArgvRunner,
  where: string,
  timeoutMs: number,
): { location: string; exec: SshExec } {
  const c = session.connection;
  const location = `${c.user ? `${c.user}@` : ""}${c.host}:${file} (ssh)`;
  const exec: SshExec = async (remote, input) => {
    let out: { stdout: string; stderr: string; code: number };
    try {
      out = await run(session.argv(remote), timeoutMs, input);
    } catch (err) {
      throw new EnvironmentError(`${where}: ssh to ${c.host}:${c.port} failed: ${(err as Error).message}`);
    }
    const refused = sshRefusal(out.code, out.stderr, where, c.knownHosts);
    if (refused) throw refused;
    return out;
  };
  return { location, exec };
}
