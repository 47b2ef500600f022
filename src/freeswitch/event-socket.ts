import net from "node:net";

/**
 * A minimal FreeSWITCH event-socket (mod_event_socket, inbound) client: authenticate, run one
 * `api` command, leave. Frames are headers, a blank line, then Content-Length bytes of body:
 *   server: Content-Type: auth/request
 *   client: auth <password>
 *   server: Content-Type: command/reply / Reply-Text: +OK accepted   (or -ERR invalid)
 *   client: api version
 *   server: Content-Type: api/response / Content-Length: N / <N bytes>
 * The password is sent on the socket and nowhere else: never logged, never in errors.
 */

export interface EslFrame {
  headers: Map<string, string>;
  body: string;
}

/** Incremental frame parser (pure): feed bytes, take complete frames. */
export class EslFrameParser {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): EslFrame[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: EslFrame[] = [];
    for (;;) {
      const end = this.buf.indexOf("\n\n");
      if (end < 0) break;
      const head = this.buf.subarray(0, end).toString("utf8");
      const headers = new Map<string, string>();
      for (const line of head.split("\n")) {
        const c = line.indexOf(":");
        if (c > 0) headers.set(line.slice(0, c).trim().toLowerCase(), decodeURIComponentSafe(line.slice(c + 1).trim()));
      }
      const len = Number(headers.get("content-length") ?? 0);
      if (this.buf.length < end + 2 + len) break;
      const body = this.buf.subarray(end + 2, end + 2 + len).toString("utf8");
      this.buf = this.buf.subarray(end + 2 + len);
      if (head.trim() === "" && len === 0) continue; // stray blank lines between frames
      out.push({ headers, body });
    }
    return out;
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class EventSocketError extends Error {
  constructor(
    message: string,
    readonly kind: "unreachable" | "auth-failed" | "protocol" | "timeout",
  ) {
    super(message);
    this.name = "EventSocketError";
  }
}

export interface EslEndpoint {
  host: string;
  port: number;
}

/**
 * Connect, authenticate, run `api <command>`, return its body. Rejects with EventSocketError
 * (kind tells unreachable / auth-failed / protocol / timeout). Messages never contain the password.
 */
export async function eslApi(ep: EslEndpoint, password: string, command: string, timeoutMs = 2000): Promise<string> {
  if (/[\r\n]/.test(password) || /[\r\n]/.test(command)) {
    throw new EventSocketError("event socket password and command must be single lines", "protocol");
  }
  const where = `${ep.host}:${ep.port}`;
  return new Promise<string>((resolve, reject) => {
    const sock = net.connect({ host: ep.host, port: ep.port });
    const parser = new EslFrameParser();
    let stage: "auth-request" | "auth-reply" | "api" | "done" = "auth-request";
    const finish = (err: EventSocketError | undefined, value?: string): void => {
      if (stage === "done") return;
      stage = "done";
      clearTimeout(timer);
      if (!sock.destroyed) {
        if (err === undefined) sock.end("exit\n\n");
        sock.destroy();
      }
      if (err) reject(err);
      else resolve(value ?? "");
    };
    const timer = setTimeout(
      () =>
        finish(
          new EventSocketError(`event socket ${where}: no reply within ${timeoutMs} ms (stage ${stage})`, "timeout"),
        ),
      timeoutMs,
    );
    sock.on("error", (e: NodeJS.ErrnoException) =>
      finish(new EventSocketError(`event socket ${where}: ${e.code ?? e.message}`, "unreachable")),
    );
    sock.on("close", () =>
      finish(
        new EventSocketError(
          `event socket ${where} closed the connection during ${stage}`,
          stage === "auth-reply" ? "auth-failed" : "protocol",
        ),
      ),
    );
    sock.on("data", (chunk: Buffer) => {
      for (const f of parser.push(chunk)) {
        const type = f.headers.get("content-type") ?? "";
        if (type === "text/disconnect-notice") {
          finish(
            new EventSocketError(
              `event socket ${where} disconnected during ${stage}`,
              stage === "auth-reply" ? "auth-failed" : "protocol",
            ),
          );
          return;
        }
        if (stage === "auth-request") {
          if (type !== "auth/request") {
            finish(
              new EventSocketError(
                `event socket ${where}: expected auth/request, got ${type || "no content type"}`,
                "protocol",
              ),
            );
            return;
          }
          stage = "auth-reply";
          sock.write(`auth ${password}\n\n`);
        } else if (stage === "auth-reply") {
          const reply = f.headers.get("reply-text") ?? "";
          if (type !== "command/reply" || !reply.startsWith("+OK")) {
            finish(
              new EventSocketError(`event socket ${where}: authentication refused (${reply || type})`, "auth-failed"),
            );
            return;
          }
          stage = "api";
          sock.write(`api ${command}\n\n`);
        } else if (stage === "api") {
          if (type !== "api/response") {
            finish(
              new EventSocketError(
                `event socket ${where}: expected api/response, got ${type || "no content type"}`,
                "protocol",
              ),
            );
            return;
          }
          if (f.body.startsWith("-ERR")) {
            finish(new EventSocketError(`event socket ${where}: api ${command}: ${f.body.trim()}`, "protocol"));
            return;
          }
          finish(undefined, f.body);
          return;
        }
      }
    });
  });
}
