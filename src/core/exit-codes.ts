/**
 * The exit-code contract: this table is the one source; README.md ("Exit codes") documents the same codes.
 */
export const ExitCode = {
  /** everything asked for passed */
  Ok: 0,
  /** a verification failed (routing, call outcome, state check) */
  VerificationFailed: 1,
  /** bad usage, flag, env value or config: nothing was started or changed */
  Usage: 2,
  /** environment: missing binary, port in use, Kamailio or a backend unreachable */
  Environment: 3,
  /** apply failed and the previous dispatcher state was restored */
  ApplyRestored: 4,
  /** internal error (a bug) */
  Internal: 70,
  /** interrupted by SIGINT (Ctrl-C); everything the run started was stopped */
  Interrupted: 130,
  /** terminated by SIGTERM; the same cleanup as SIGINT ran */
  Terminated: 143,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const exitCodeMeaning: Record<ExitCode, string> = {
  0: "everything asked for passed",
  1: "a verification failed (routing, call outcome, state check)",
  2: "bad usage, flag, env value or config: nothing was started or changed",
  3: "environment: missing binary, port in use, Kamailio or a backend unreachable",
  4: "apply failed and the previous dispatcher state was restored",
  70: "internal error (a bug)",
  130: "interrupted by SIGINT (Ctrl-C); everything the run started was stopped",
  143: "terminated by SIGTERM; the same cleanup as for SIGINT ran",
};
