import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { hostProblem, isLoopbackV4, type SipPolicy } from "./sip-policy.js";
import { buildOptions, header, parseSipMessage } from "./message.js";

export interface OptionsResult {
  reachable: boolean;
  /** final status code (undefined when nothing answered) */
  status: number | undefined;
  reason: string | undefined;
  rttMs: number | undefined;
  /** Server header, or User-Agent when Server is absent (FreeSWITCH sends only User-Agent) */
  server: string | undefined;
  /** which header `server` came from */
  serverHeader?: "Server" | "User-Agent" | undefined;
  /** why it is unreachable */
  error: string | undefined;
}

export interface OptionsTarget {
  address: string;
  port: number;
  /** request-URI user part; without one the target answers for itself */
  user?: string;
}

/**
 * Where a probe to a non-loopback target comes from: a local address on the target's network (the
 * Docker lab: its bridge's gateway) and the SIP policy the target must be inside.
 */
export interface ProbeOrigin {
  localAddress: string;
  policy: SipPolicy;
}

/**
 * Send one SIP OPTIONS over UDP and wait for a final response. Loopback only.
 * Provisional responses are skipped; the request is retransmitted 100, 300, 700 and 1500 ms after the first
 * send (intervals doubling from 100 ms: RFC 3261 timer E, shortened), as long as that is before `timeoutMs`.
 */
export async function probeOptions(
  target: OptionsTarget,
  timeoutMs = 1000,
  from?: ProbeOrigin,
  /** the request's Call-ID (to find its mirror in a HEP capture); a random one by default */
  callId = `probe-${randomBytes(8).toString("hex")}@pbx-cutover`,
): Promise<OptionsResult> {
  if (from === undefined && !isLoopbackV4(target.address)) {
    throw new Error(`refusing to send SIP to ${target.address}: only loopback (127.0.0.0/8) is allowed`);
  }
  const problem = from ? hostProblem(from.policy, target.address) : undefined;
  if (problem !== undefined) throw new Error(`refusing to send SIP to ${target.address}: ${problem}`);
  const sock = dgram.createSocket("udp4");
  const uri = `sip:${target.user ? `${target.user}@` : ""}${target.address}:${target.port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, from?.localAddress ?? "127.0.0.1", () => {
        sock.off("error", reject);
        resolve();
      });
    });
    const local = sock.address();
    const payload = Buffer.from(
      buildOptions({
        uri,
        localAddress: local.address,
        localPort: local.port,
        callId,
        branch: `z9hG4bK${randomBytes(6).toString("hex")}`,
        fromTag: randomBytes(4).toString("hex"),
        userAgent: "pbx-cutover",
      }),
    );
    const started = performance.now();
    return await new Promise<OptionsResult>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (r: OptionsResult): void => {
        for (const t of timers) clearTimeout(t);
        resolve(r);
      };
      sock.on("message", (buf) => {
        const msg = parseSipMessage(buf.toString("utf8"));
        if (!msg || msg.kind !== "response" || header(msg, "call-id") !== callId) return;
        if ((msg.status ?? 0) < 200) return;
        finish({
          reachable: true,
          status: msg.status,
          reason: msg.reason,
          rttMs: performance.now() - started,
          server: header(msg, "server") ?? header(msg, "user-agent"),
          serverHeader:
            header(msg, "server") !== undefined
              ? "Server"
              : header(msg, "user-agent") !== undefined
                ? "User-Agent"
                : undefined,
          error: undefined,
        });
      });
      sock.on("error", (err) =>
        finish({
          reachable: false,
          status: undefined,
          reason: undefined,
          rttMs: undefined,
          server: undefined,
          error: err.message,
        }),
      );
      const send = (): void => sock.send(payload, target.port, target.address);
      send();
      for (const at of [100, 300, 700, 1500]) if (at < timeoutMs) timers.push(setTimeout(send, at));
      timers.push(
        setTimeout(
          () =>
            finish({
              reachable: false,
              status: undefined,
              reason: undefined,
              rttMs: undefined,
              server: undefined,
              error: `no SIP response from ${target.address}:${target.port} within ${timeoutMs} ms`,
            }),
          timeoutMs,
        ),
      );
    });
  } finally {
    sock.close();
  }
}
