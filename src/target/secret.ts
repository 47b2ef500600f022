/**
 * Secrets of a target file (an RPC password or token, a database password): read from a file that
 * only its owner can read (mode 0600 or stricter) or from an environment variable, never written in
 * the target file itself. A `Secret` never shows its value when printed, logged or serialised: only
 * `reveal()` hands it out, to the one place that sends it (an HTTP header, a database login).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { UsageError } from "../core/errors.js";

export type SecretRef = { file: string } | { env: string };

const MAX_SECRET_BYTES = 4096;

export class Secret {
  readonly #value: string;
  constructor(
    value: string,
    /** where it came from, for messages: "file /etc/x (0600)" or "env KAM_TOKEN" */
    readonly source: string,
  ) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return `[secret from ${this.source}]`;
  }
  toJSON(): string {
    return this.toString();
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

/** The problem with a secret file's mode (pure): anything group or others can touch is refused. */
export function secretModeProblem(mode: number): string | undefined {
  const perm = mode & 0o777;
  if ((perm & 0o077) === 0) return undefined;
  return `has mode ${perm.toString(8).padStart(4, "0")}; a secret file must be readable by its owner only (chmod 600)`;
}

/**
 * Read a secret (UsageError, exit 2, naming `what` and where: nothing has been touched yet). A file's
 * one trailing newline is dropped; an empty secret is refused.
 */
export function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv = process.env): Secret {
  if ("env" in ref) {
    const v = env[ref.env];
    if (v === undefined || v === "") {
      throw new UsageError(`${what}: environment variable ${ref.env} is not set (or empty); nothing was changed`);
    }
    return new Secret(v, `env ${ref.env}`);
  }
  let fd: number;
  try {
    fd = openSync(ref.file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `${what}: cannot read secret file ${ref.file}: ${code === "ENOENT" ? "no such file" : code === "ELOOP" ? "it is a symlink" : (code ?? String(err))}; nothing was changed`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new UsageError(`${what}: secret file ${ref.file} is not a regular file; nothing was changed`);
    const problem = secretModeProblem(st.mode);
    if (problem !== undefined) throw new UsageError(`${what}: secret file ${ref.file} ${problem}; nothing was changed`);
    const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len > MAX_SECRET_BYTES)
        throw new UsageError(`${what}: secret file ${ref.file} is larger than ${MAX_SECRET_BYTES} bytes`);
    }
    const value = buf
      .subarray(0, len)
      .toString("utf8")
      .replace(/\r?\n$/, "");
    if (value === "") throw new UsageError(`${what}: secret file ${ref.file} is empty; nothing was changed`);
    if (/[\r\n]/.test(value))
      throw new UsageError(`${what}: secret file ${ref.file} holds more than one line; nothing was changed`);
    return new Secret(value, `file ${ref.file}`);
  } finally {
    closeSync(fd);
  }
}
