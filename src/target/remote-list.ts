/**
 * The operator's dispatcher list file on the node's host, over SSH (src/os/ssh.ts): read with
 * `cat`, replaced by one fixed helper script run by `sh -c` on the node. The script is a constant
 * of this file; the list's path reaches it only as its positional argument `$1` (quoted as one word),
 * the new list only on its stdin. On the node it:
 *   - writes the new list to a temporary file beside the list (mktemp in the same directory, so the
 *     rename is atomic) and fsyncs it,
 *   - gives it the list's mode and owner (a list that is not there yet gets 0644),
 *   - keeps the list it replaces as `<list>.pbx-cutover.previous` (mode and owner kept),
 *   - renames it over the list and fsyncs the directory;
 * any failure removes the temporary file and leaves the list as it was.
 */
import { EnvironmentError } from "../core/errors.js";
import type { ArgvRunner } from "../kamailio/kamcmd-rpc.js";
import { sshFileAccess, type SshSession } from "../os/ssh.js";
import type { DispatcherListStore } from "./target.js";

/** The fixed write helper: `sh -c WRITE_LIST pbx-cutover-write PATH` with the list on stdin. */
export const WRITE_LIST = [
  "set -eu",
  'f="$1"',
  't=$(mktemp -- "$f.pbx-cutover.XXXXXX")',
  "trap 'rm -f -- \"$t\"' EXIT",
  'cat > "$t"',
  'if [ -e "$f" ]; then chmod --reference="$f" -- "$t"',
  'chown --reference="$f" -- "$t"',
  'cp -p -- "$f" "$f.pbx-cutover.previous"',
  'else chmod 0644 -- "$t"',
  "fi",
  'sync -- "$t"',
  'mv -f -- "$t" "$f"',
  "trap - EXIT",
  'sync -- "$(dirname -- "$f")"',
].join("; ");

/** What the store runs on the node (pure; the e2e test and the docs show the same). */
export const remoteListArgv = {
  read: (file: string): string[] => ["cat", "--", file],
  write: (file: string): string[] => ["sh", "-c", WRITE_LIST, "pbx-cutover-write", file],
};

/** The list file `file` on the session's host; `where` names the node in messages. */
export function sshFileStore(
  session: SshSession,
  file: string,
  run: ArgvRunner,
  where: string,
  timeoutMs = 10_000,
): DispatcherListStore {
  const { location, exec } = sshFileAccess(session, file, run, where, timeoutMs);
  const lastLine = (s: string): string =>
    s
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? "";
  return {
    location,
    read: async () => {
      const out = await exec(remoteListArgv.read(file));
      if (out.code === 0) return out.stdout;
      if (/No such file or directory/.test(out.stderr))
        throw Object.assign(new Error(`${location}: no such file`), { code: "ENOENT" });
      throw new EnvironmentError(`${where}: cannot read ${location}: ${lastLine(out.stderr) || `exit ${out.code}`}`);
    },
    writeAtomic: async (text: string) => {
      const out = await exec(remoteListArgv.write(file), text);
      if (out.code !== 0)
        throw new EnvironmentError(
          `${where}: cannot write ${location}: ${lastLine(out.stderr) || `exit ${out.code}`}; the list was left as it was`,
        );
    },
  };
}
