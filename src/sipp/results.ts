/**
 * What a finished SIPp run reports: its exit code (include/defines.h of SIPp 3.6.1) and the last
 * row of its -trace_stat file. Pure. SIPp exits 0 when *some* calls succeeded even if fewer than
 * -m completed, so neither is a verdict on its own: per-call evidence is (see src/evidence/).
 */

export const sippExitMeaning: Record<number, string> = {
  0: "all calls succeeded",
  1: "at least one call failed",
  97: "exit on internal command (or global timeout)",
  98: "exit for an unknown reason",
  99: "normal exit without calls processed",
  255: "fatal error (-1)",
  254: "fatal error binding a socket (-2)",
};

/** SIPp's exit code as the process reports it (-1 and -2 arrive as 255 and 254). */
export function describeSippExit(code: number | null, signal: string | null): string {
  if (code === null) return `killed by ${signal ?? "a signal"}`;
  return `exit ${code} (${sippExitMeaning[code] ?? "unknown exit code"})`;
}

export interface TraceStat {
  outgoingCalls: number;
  successfulCalls: number;
  failedCalls: number;
  currentCalls: number;
  retransmissions: number;
  outOfCallMessages: number;
  deadCallMessages: number;
  failedTimeoutOnRecv: number;
  failedUnexpectedMessage: number;
  failedMaxUdpRetrans: number;
  /** every cumulative "(C)" column by name, for results.json */
  cumulative: Record<string, string>;
}

/** Parse a -trace_stat CSV: header row, then one row per dump; the last row is the final one. */
export function parseTraceStat(csv: string): TraceStat | undefined {
  const rows = csv.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (rows.length < 2) return undefined;
  const head = rows[0]!.split(";");
  const last = rows[rows.length - 1]!.split(";");
  const cumulative: Record<string, string> = {};
  head.forEach((h, i) => {
    if (h.endsWith("(C)")) cumulative[h.slice(0, -3)] = last[i] ?? "";
  });
  const num = (name: string): number => {
    const v = Number(cumulative[name]);
    return Number.isFinite(v) ? v : 0;
  };
  if (!("SuccessfulCall" in cumulative)) return undefined;
  const col = head.indexOf("CurrentCall");
  return {
    outgoingCalls: num("OutgoingCall"),
    successfulCalls: num("SuccessfulCall"),
    failedCalls: num("FailedCall"),
    currentCalls: col >= 0 ? Number(last[col]) || 0 : 0,
    retransmissions: num("Retransmissions"),
    outOfCallMessages: num("OutOfCallMsgs"),
    deadCallMessages: num("DeadCallMsgs"),
    failedTimeoutOnRecv: num("FailedTimeoutOnRecv"),
    failedUnexpectedMessage: num("FailedUnexpectedMessage"),
    failedMaxUdpRetrans: num("FailedMaxUDPRetrans"),
    cumulative,
  };
}
