/**
 * Raw SIP requests over UDP for end-to-end tests: send exactly the request a test wrote (a stray
 * BYE, a re-INVITE for a dialog nobody holds, ...) to a loopback port and collect every response.
 */
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { header, parseSipMessage, type SipMessage } from "../../src/sip/message.js";

export interface RequestSpec {
  method: string;
  /** host:port the request goes to (loopback) */
  to: { address: string; port: number };
  callId?: string;
  /** the To-tag of the dialog this request claims to belong to; none = out of dialog */
  toTag?: string;
  cseq?: number;
  /** the top Via branch (a retransmission, a CANCEL or the ACK of a non-2xx repeat the original's) */
  branch?: string;
  /** the From-tag (a retransmission repeats the original's) */
  fromTag?: string;
  body?: string;
}

export interface Built {
  text: string;
  callId: string;
  branch: string;
  fromTag: string;
}

export function buildRequest(r: RequestSpec, local: { address: string; port: number }): Built {
  const callId = r.callId ?? `stray-${randomBytes(6).toString("hex")}@pbx-cutover-test`;
  const branch = r.branch ?? `z9hG4bK${randomBytes(6).toString("hex")}`;
  const fromTag = r.fromTag ?? "t" + randomBytes(4).toString("hex");
  const uri = `sip:svc@${r.to.address}:${r.to.port}`;
  const body = r.body ?? "";
  const text = [
    `${r.method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${local.address}:${local.port};branch=${branch}`,
    `From: <sip:test@${local.address}:${local.port}>;tag=${fromTag}`,
    `To: <${uri}>${r.toTag ? `;tag=${r.toTag}` : ""}`,
    `Call-ID: ${callId}`,
    `CSeq: ${r.cseq ?? 2} ${r.method}`,
    `Contact: <sip:test@${local.address}:${local.port}>`,
    `Max-Forwards: 70`,
    ...(body ? [`Content-Type: application/sdp`] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    ``,
    body,
  ].join("\r\n");
  return { text, callId, branch, fromTag };
}

/** One UDP socket on loopback that sends requests and collects responses per Call-ID. */
export class SipTestClient {
  private readonly sock = dgram.createSocket("udp4");
  private readonly got: SipMessage[] = [];
  private waiters: (() => void)[] = [];

  async open(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.sock.once("error", reject);
      this.sock.bind(0, "127.0.0.1", () => resolve());
    });
    this.sock.on("message", (buf) => {
      const m = parseSipMessage(buf.toString("latin1"));
      if (!m) return;
      this.got.push(m);
      for (const w of this.waiters) w();
    });
    return this;
  }

  get local(): { address: string; port: number } {
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  send(r: RequestSpec): Built {
    const b = buildRequest(r, this.local);
    this.sock.send(Buffer.from(b.text, "latin1"), r.to.port, r.to.address);
    return b;
  }

  /** send a request's exact text (e.g. a retransmission that differs from the original) */
  sendText(text: string, to: { address: string; port: number }): void {
    this.sock.send(Buffer.from(text, "latin1"), to.port, to.address);
  }

  /** responses received so far for a Call-ID (and CSeq method, if given) */
  responses(callId: string, method?: string): SipMessage[] {
    return this.got.filter(
      (m) =>
        m.kind === "response" &&
        header(m, "call-id") === callId &&
        (method === undefined || (header(m, "cseq") ?? "").endsWith(` ${method}`)),
    );
  }

  /** wait until a final response for the Call-ID arrives (or `timeoutMs`); returns it or undefined */
  async final(callId: string, method: string, timeoutMs = 2000): Promise<SipMessage | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const f = this.responses(callId, method).find((m) => (m.status ?? 0) >= 200);
      if (f) return f;
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.waiters.push(done);
      });
      this.waiters = [];
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** The tag parameter of a To header value. */
export function toTagOf(m: SipMessage): string | undefined {
  return /;\s*tag=([^;>\s]+)/i.exec(header(m, "to") ?? "")?.[1];
}
