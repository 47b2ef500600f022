import { ExitCode } from "./exit-codes.js";

/**
 * Expected failures carry their exit code and a message written for the operator:
 * what happened, what was left unchanged, what to do next. Anything else is a bug (70).
 */
export class CutoverError extends Error {
  readonly exitCode: ExitCode;
  /** extra lines shown after the message (e.g. the last lines of a component's log) */
  readonly details: readonly string[];
  constructor(exitCode: ExitCode, message: string, details: readonly string[] = []) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.details = details;
  }
}

/** Bad flag, env value or config. Nothing was started or changed. Exit 2. */
export class UsageError extends CutoverError {
  constructor(message: string, details: readonly string[] = []) {
    super(ExitCode.Usage, message, details);
  }
}

/** Missing binary, port in use, component unreachable. Exit 3. */
export class EnvironmentError extends CutoverError {
  constructor(message: string, details: readonly string[] = []) {
    super(ExitCode.Environment, message, details);
  }
}

/** An apply failed and the previous dispatcher state was restored and verified. Exit 4. */
export class ApplyRestoredError extends CutoverError {
  constructor(message: string, details: readonly string[] = []) {
    super(ExitCode.ApplyRestored, message, details);
  }
}

/** A verification (routing, call outcome, state check) failed. Exit 1. */
export class VerificationError extends CutoverError {
  constructor(message: string, details: readonly string[] = []) {
    super(ExitCode.VerificationFailed, message, details);
  }
}

/** The exit code for a signal: SIGINT 130, SIGTERM 143 (128 + the signal number, as shells report it). */
export function signalExitCode(signal: string): ExitCode {
  return signal === "SIGTERM" ? ExitCode.Terminated : ExitCode.Interrupted;
}

/**
 * The run was interrupted (SIGINT -> 130, SIGTERM -> 143); the same cleanup ran for both.
 * `afterFinish`: the signal came once the command had done its work (e.g. `lab up` was ready and had
 * handed the lab over): nothing was undone, and the message must not say otherwise.
 */
export class InterruptedError extends CutoverError {
  constructor(
    readonly signal: string,
    afterFinish = false,
  ) {
    super(
      signalExitCode(signal),
      afterFinish
        ? `interrupted by ${signal} as the command finished; it had completed, and what it did stands (nothing was undone)`
        : `interrupted by ${signal}; everything this run started was stopped`,
    );
  }
}

export function formatError(err: unknown): { exitCode: ExitCode; text: string } {
  err = asFileFault(err) ?? err;
  if (err instanceof CutoverError) {
    const lines = [`pbx-cutover: ${err.message}`, ...err.details.map((d) => `  ${d}`)];
    return { exitCode: err.exitCode, text: lines.join("\n") };
  }
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    exitCode: ExitCode.Internal,
    text: `pbx-cutover: internal error (a bug; please report it with this output):\n${stack}`,
  };
}

const FS_FAULTS: Record<string, { what: string; todo: string }> = {
  EROFS: { what: "the file system is read-only", todo: "remount it read-write or pass a writable directory" },
  ENOSPC: { what: "no space left on the device", todo: "free some space (df -h) and run it again" },
  EDQUOT: { what: "the disk quota is exceeded", todo: "free some space and run it again" },
  EACCES: { what: "permission denied", todo: "fix the directory's permissions or pass a directory you can write" },
  EPERM: { what: "operation not permitted", todo: "fix the directory's permissions or pass a directory you can write" },
  EIO: { what: "an I/O error", todo: "check the disk (dmesg)" },
  ENOENT: {
    what: "its directory does not exist (deleted while running?)",
    todo: "check the path; `pbx-cutover lab down` finds a lab whose directory was deleted",
  },
  ENOTDIR: { what: "a part of the path is not a directory", todo: "check the path" },
  EISDIR: { what: "it is a directory", todo: "check the path" },
  ELOOP: { what: "it is a symlink, which the tool never follows", todo: "remove the symlink" },
  EEXIST: {
    what: "something (a planted file or symlink?) already sits at the exclusive temp path",
    todo: "remove it and check who put it there",
  },
  EMFILE: { what: "too many open files", todo: "raise the open-file limit (ulimit -n)" },
  ENFILE: { what: "too many open files on the system", todo: "raise the system's open-file limit" },
};

/** A file the tool had to write or read could not be (read-only, full, no permission...). Exit 3. */
export class FileFaultError extends EnvironmentError {
  constructor(
    readonly path: string,
    readonly code: string,
    op: string,
  ) {
    const f = FS_FAULTS[code];
    super(`cannot ${op} ${path}: ${f ? `${f.what} (${code})` : code}`, [f ? f.todo : "check the path and the disk"]);
  }
}

/** An errno error from the file system, as a FileFaultError naming `file`; anything else unchanged. */
export function fileFault(err: unknown, file: string, op: string): unknown {
  if (err instanceof CutoverError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code) ? new FileFaultError(file, code, op) : err;
}

/** A raw fs errno error (has code, syscall and path) that escaped: a fault of the environment, not a bug. */
function asFileFault(err: unknown): FileFaultError | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (
    !(e instanceof Error) ||
    typeof e.code !== "string" ||
    typeof e.path !== "string" ||
    typeof e.syscall !== "string"
  )
    return undefined;
  if (!Object.hasOwn(FS_FAULTS, e.code)) return undefined;
  return new FileFaultError(e.path, e.code, e.syscall === "open" || e.syscall === "write" ? "write" : e.syscall);
}
