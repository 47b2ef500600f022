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
