/**
 * A small file on a node's own host, beside its dispatcher list, reached the way the list is (the
 * local file system, or the node's SSH): where the fleet lock lives (src/fleet/fleet-lock.ts), so it
 * is shared by every machine that runs the tool against the node, survives a Kamailio restart, and an
 * operator can read it (`cat <list>.pbx-cutover.lock`). Created exclusively (written to a temporary
 * file first and hard-linked into place, so it is never seen half-written), replaced atomically.
 */
import { renameSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { EnvironmentError, fileFault } from "../core/errors.js";
import { createExclusive, createIfAbsent, FileMode, tempPathFor } from "../files/atomic-write.js";
import type { ArgvRunner } from "../kamailio/kamcmd-rpc.js";
import { sshFileAccess, type SshSession } from "../os/ssh.js";

export interface NodeLockFile {
  /** for messages: the path (and host over SSH) */
  readonly location: string;
  /** for messages: how an operator reads it */
  readonly howToRead: string;
  /** create it holding `text`; false when it exists already */
  create(text: string): Promise<boolean>;
  /** its text; undefined when it is not there */
  read(): Promise<string | undefined>;
  /** replace its text atomically */
  replace(text: string): Promise<void>;
  remove(): Promise<void>;
}

/** the lock beside a list file */
export const lockFileOf = (listFile: string): string => `${listFile}.pbx-cutover.lock`;

/** A lock file on this machine. */
export function localLockFile(file: string): NodeLockFile {
  return {
    location: file,
    howToRead: `\`cat ${file}\``,
    create: (text) =>
      Promise.resolve().then(() => createIfAbsent(file, text, FileMode.public, "create the fleet lock", true)),
    read: async () => {
      try {
        return await readFile(file, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw fileFault(err, file, "read the fleet lock");
      }
    },
    replace: (text) =>
      Promise.resolve().then(() => {
        const tmp = tempPathFor(file);
        try {
          createExclusive(tmp, text, FileMode.public, true);
          renameSync(tmp, file);
        } catch (err) {
          rmSync(tmp, { force: true });
          throw fileFault(err, file, "write the fleet lock");
        }
      }),
    remove: () => Promise.resolve().then(() => rmSync(file, { force: true })),
  };
}

/** Fixed helpers run by `sh -c` on the node; the path is only ever `$1`, the text only stdin. */
export const LOCK_SCRIPTS = {
  create: [
    "set -u",
    't=$(mktemp -- "$1.XXXXXX") || exit 1',
    'cat > "$t" && chmod 0644 -- "$t" || { rm -f -- "$t"; exit 1; }',
    'if ln -- "$t" "$1" 2>/dev/null; then rm -f -- "$t"; exit 0; fi',
    'rm -f -- "$t"',
    'if [ -e "$1" ]; then exit 17; fi',
    "exit 1",
  ].join("; "),
  replace: [
    "set -eu",
    't=$(mktemp -- "$1.XXXXXX")',
    "trap 'rm -f -- \"$t\"' EXIT",
    'cat > "$t"',
    'chmod 0644 -- "$t"',
    'mv -f -- "$t" "$1"',
    "trap - EXIT",
  ].join("; "),
} as const;

/** What the SSH lock file runs on the node (pure). */
export const remoteLockArgv = {
  create: (file: string): string[] => ["sh", "-c", LOCK_SCRIPTS.create, "pbx-cutover-lock", file],
  read: (file: string): string[] => ["cat", "--", file],
  replace: (file: string): string[] => ["sh", "-c", LOCK_SCRIPTS.replace, "pbx-cutover-lock", file],
  remove: (file: string): string[] => ["rm", "-f", "--", file],
};

/** A lock file on the session's host. */
export function sshLockFile(
  session: SshSession,
  file: string,
  run: ArgvRunner,
  where: string,
  timeoutMs = 10_000,
): NodeLockFile {
  const { location, exec } = sshFileAccess(session, file, run, where, timeoutMs);
  const failed = (what: string, out: { stderr: string; code: number }): EnvironmentError =>
    new EnvironmentError(
      `${where}: cannot ${what} ${location}: ${out.stderr.trim().split("\n").pop() || `exit ${out.code}`}`,
    );
  return {
    location,
    howToRead: `\`cat ${file}\` on ${session.connection.host}`,
    create: async (text) => {
      const out = await exec(remoteLockArgv.create(file), text);
      if (out.code === 17) return false;
      if (out.code !== 0) throw failed("create the fleet lock", out);
      return true;
    },
    read: async () => {
      const out = await exec(remoteLockArgv.read(file));
      if (out.code === 0) return out.stdout;
      if (/No such file or directory/.test(out.stderr)) return undefined;
      throw failed("read the fleet lock", out);
    },
    replace: async (text) => {
      const out = await exec(remoteLockArgv.replace(file), text);
      if (out.code !== 0) throw failed("write the fleet lock", out);
    },
    remove: async () => {
      const out = await exec(remoteLockArgv.remove(file));
      if (out.code !== 0) throw failed("remove the fleet lock", out);
    },
  };
}
