/**
 * SIPp command lines as argument arrays (pure). The runner spawns them; nothing here touches a shell.
 */

export interface UacBurst {
  /** where calls are sent: the proxy */
  proxy: { address: string; port: number };
  /** local address to bind (SIPp picks a free port itself) */
  localAddress: string;
  /** request-URI user part */
  service: string;
  calls: number;
  /** calls per second (fractions allowed) */
  rate: number;
  /** how long each call is held before BYE (the scenario's <pause/>) */
  holdMs: number;
  /**
   * Call-ID prefix unique to this run and burst: Call-IDs are `<tag>-<call number>-<pid>@<ip>`
   * (SIPp's own default `%u-%p@%s` repeats across runs and confuses transaction matching).
   */
  callIdTag: string;
  /** a call whose next expected message does not come within this time fails (never hangs) */
  recvTimeoutMs: number;
  /** -trace_msg target: every message sent and received, the per-call evidence */
  messageLog: string;
  /** -trace_stat target: SIPp's own counters (CSV, ';' separated) */
  statFile: string;
  /** -trace_err target: SIPp's complaints (unexpected messages, timeouts) */
  errorFile: string;
  /**
   * a long run's logs rotate (SIPp's -ringbuffer_size / -ringbuffer_files): each file at most
   * `fileBytes`, SIPp keeping the latest `files` rotated ones beside the current (named after the
   * scenario, its pid and a timestamp); never for a burst whose log is followed
   */
  logRotation?: { fileBytes: number; files: number };
  /** media on: the caller's media base port (-mp) and the -trace_logs file the media action writes */
  media?: { port: number; logFile: string };
}

/** Upper bound for a burst: sending time + hold + two receive timeouts + slack (SIPp quits then). */
export function burstTimeoutS(b: Pick<UacBurst, "calls" | "rate" | "holdMs" | "recvTimeoutMs">): number {
  return Math.ceil(b.calls / b.rate + (b.holdMs + 2 * b.recvTimeoutMs) / 1000 + 10);
}

/** A call id tag is used inside SIPp's -cid_str: letters, digits and dashes only. */
export function isCallIdTag(tag: string): boolean {
  return /^[A-Za-z0-9-]{1,64}$/.test(tag);
}

function rateArg(rate: number): string {
  return String(Math.round(rate * 1000) / 1000);
}

export function uacArgv(bin: string, scenario: string, b: UacBurst): string[] {
  if (!isCallIdTag(b.callIdTag)) throw new Error(`call id tag ${JSON.stringify(b.callIdTag)} must be [A-Za-z0-9-]`);
  if (!(b.calls >= 1 && Number.isInteger(b.calls))) throw new Error(`calls must be a positive integer, got ${b.calls}`);
  if (!(b.rate > 0)) throw new Error(`rate must be positive, got ${b.rate}`);
  return [
    bin,
    `${b.proxy.address}:${b.proxy.port}`,
    "-sf",
    scenario,
    "-i",
    b.localAddress,
    // the remote-control socket on the same (loopback) address, never on all interfaces
    "-ci",
    b.localAddress,
    "-s",
    b.service,
    "-m",
    String(b.calls),
    "-l",
    String(b.calls),
    "-r",
    rateArg(b.rate),
    "-rp",
    "1000",
    "-d",
    String(b.holdMs),
    "-cid_str",
    `${b.callIdTag}-%u-%p@%s`,
    "-recv_timeout",
    String(b.recvTimeoutMs),
    "-timeout",
    `${burstTimeoutS(b)}s`,
    "-timeout_error",
    // high rates: read more of the socket per scheduling cycle than SIPp's default 1000
    "-max_recv_loops",
    "5000",
    "-trace_msg",
    "-message_file",
    b.messageLog,
    "-trace_stat",
    "-stf",
    b.statFile,
    "-trace_err",
    "-error_file",
    b.errorFile,
    ...(b.logRotation
      ? ["-ringbuffer_size", String(b.logRotation.fileBytes), "-ringbuffer_files", String(b.logRotation.files)]
      : []),
    ...(b.media ? ["-mp", String(b.media.port), "-trace_logs", "-log_file", b.media.logFile] : []),
    "-nostdin",
  ];
}
