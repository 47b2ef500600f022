/**
 * Small, fast sim knobs for the e2e failure proofs (sim.test.ts, sim-hep.test.ts), with margins for a
 * loaded 2-core machine: the cutover must land while the long call is up (2.5 s), and an answer may
 * take up to 3 s before a call fails.
 */
export const FAST = {
  CALLS_PER_PHASE: "6",
  CALL_RATE: "20",
  CALL_DURATION_MS: "300",
  LONG_CALL_MS: "2500",
  POST_CUTOVER_CALLS: "4",
  CALL_TIMEOUT_MS: "3000",
};

/** The environment variables that set sim's knobs (CALLS_PER_PHASE, ...). */
export const SEED_KNOBS = [
  "CALLS_PER_PHASE",
  "CALL_RATE",
  "CALL_DURATION_MS",
  "LONG_CALL_MS",
  "POST_CUTOVER_CALLS",
  "PHASE_GAP_SECONDS",
  "CALL_TIMEOUT_MS",
];

/** This process's environment without any of sim's knobs: a run at the seed's defaults. */
export function seedEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SEED_KNOBS) delete env[k];
  return env;
}
