/**
 * Background calls for `migrate --traffic RATE` (lab only): one SIPp UAC (assets/sipp/uac-call.xml)
 * placing RATE calls/s through the lab's Kamailio for the whole plan, so every step's window has
 * calls for its gates. The calls are judged from HEP (what Kamailio mirrored: where it sent each
 * INVITE, the answers, the timings), not from this UAC; its message log stays in the run folder as
 * the caller's own view.
 *
 * `stop()` asks SIPp to place no new calls and end when the calls under way have ended (SIGUSR1,
 * SIPp's soft quit), and stops its process group if that takes longer than `graceMs`.
 */
import path from "node:path";
import { UsageError } from "../core/errors.js";
import type { Target } from "../target/target.js";
import { uacArgv } from "../sipp/argv.js";
import { startSipp, type SippExit } from "../sipp/runner.js";

/** Calls/s `--traffic` accepts: the lab's zero-failure knee is ~1000 calls/s (FIELD-NOTES). */
export const MAX_TRAFFIC_RATE = 1000;
/** how long a background call is held before its BYE */
export const TRAFFIC_HOLD_MS = 100;
/** the same with audio: 50 packets each way, so one lost packet is 2 % of a call and not its verdict */
export const TRAFFIC_MEDIA_HOLD_MS = 1000;
/** a call with no final answer after this long is a timeout (for SIPp and for the gates) */
export const TRAFFIC_CALL_TIMEOUT_MS = 4000;
/** the background caller's message and error logs: rotated at 64 MB, the latest 7 rotated kept (512 MB with the current) */
export const TRAFFIC_LOG_ROTATION = { fileBytes: 64 * 1024 * 1024, files: 7 };
/** a day of calls at the rate: SIPp needs a call count; the plan ends long before */
const RUN_SECONDS = 86_400;

/** `--traffic RATE`: calls per second, > 0 and at most MAX_TRAFFIC_RATE (UsageError, exit 2). */
export function parseTrafficRate(raw: string): number {
  const t = raw.trim();
  const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : NaN;
  if (!(n > 0) || n > MAX_TRAFFIC_RATE) {
    throw new UsageError(
      `--traffic must be calls per second, more than 0 and at most ${MAX_TRAFFIC_RATE}, got ${JSON.stringify(raw)}; nothing was started`,
      ["e.g. --traffic 50"],
    );
  }
  return n;
}

export interface BackgroundTrafficOptions {
  sippBin: string;
  scenario: string;
  target: Target;
  runDir: string;
  rate: number;
  /** Call-IDs are `<callIdPrefix>-<n>-<pid>@<ip>` */
  callIdPrefix: string;
  signal: AbortSignal;
  /** the calls stream audio (the scenario has the media action): the caller's media port and the action's log */
  media?: { port: number; logFile: string };
  /** the user part the calls dial (default `cutover`) */
  service?: string;
  /** the address SIPp binds (default: the proxy's own address, the lab's loopback) */
  localAddress?: string;
  /** the UAC's files in the run folder (default TRAFFIC_FILES) */
  fileNames?: { messageLog: string; statFile: string; errorFile: string };
}

export interface BackgroundTraffic {
  argv: string[];
  pid: number;
  /** the UAC's files in the run folder */
  files: { messageLog: string; statFile: string; errorFile: string };
  /** no new calls; resolves with SIPp's exit once it is gone */
  stop(graceMs?: number): Promise<SippExit>;
}

export const TRAFFIC_FILES = {
  messageLog: "traffic.uac.log",
  statFile: "traffic.uac.stat.csv",
  errorFile: "traffic.uac.errors.log",
  mediaLog: "traffic.uac.media.log",
  mediaPcap: "media.pcap",
  mediaCalls: "media-calls.ndjson",
} as const;

export function startBackgroundTraffic(o: BackgroundTrafficOptions): BackgroundTraffic {
  const names = o.fileNames ?? TRAFFIC_FILES;
  const files = {
    messageLog: path.join(o.runDir, names.messageLog),
    statFile: path.join(o.runDir, names.statFile),
    errorFile: path.join(o.runDir, names.errorFile),
  };
  const calls = Math.ceil(o.rate * RUN_SECONDS);
  const argv = uacArgv(o.sippBin, o.scenario, {
    proxy: o.target.proxy,
    localAddress: o.localAddress ?? o.target.proxy.address,
    service: o.service ?? "cutover",
    calls,
    rate: o.rate,
    holdMs: o.media ? TRAFFIC_MEDIA_HOLD_MS : TRAFFIC_HOLD_MS,
    callIdTag: o.callIdPrefix,
    recvTimeoutMs: TRAFFIC_CALL_TIMEOUT_MS,
    ...files,
    logRotation: TRAFFIC_LOG_ROTATION,
    ...(o.media ? { media: o.media } : {}),
  });
  const proc = startSipp(argv, { cwd: o.runDir, signal: o.signal });
  let stopped: Promise<SippExit> | undefined;
  return {
    argv,
    pid: proc.pid,
    files,
    stop(graceMs = TRAFFIC_CALL_TIMEOUT_MS + 2000) {
      stopped ??= (async () => {
        try {
          // SIPp's soft quit: no new calls, exit once the calls under way have ended
          process.kill(proc.pid, "SIGUSR1");
        } catch {
          // already gone
        }
        const timer = new Promise<"late">((r) => setTimeout(() => r("late"), graceMs).unref());
        if ((await Promise.race([proc.done, timer])) === "late") await proc.stop();
        return proc.done;
      })();
      return stopped;
    },
  };
}
