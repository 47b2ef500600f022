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

/** The run was interrupted (SIGINT/SIGTERM); cleanup ran. */
export class InterruptedError extends CutoverError {
  constructor(signal: string) {
    super(ExitCode.Interrupted, `interrupted by ${signal}; everything this run started was stopped`);
  }
}

export function formatError(err: unknown): { exitCode: ExitCode; text: string } {
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
