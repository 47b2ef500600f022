import http from "node:http";
import https from "node:https";
import { EnvironmentError } from "../core/errors.js";

/** Kamailio answered with a JSON-RPC error object (e.g. 500 "Ongoing reload"). */
export class RpcReplyError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    readonly reply: string,
  ) {
    super(`${method}: Kamailio replied ${code} ${reply}`);
    this.name = "RpcReplyError";
  }
}

/** Kamailio's RPC could not be reached (connection refused, timeout, garbage). */
export class RpcUnavailableError extends Error {
  constructor(
    readonly endpoint: string,
    readonly cause_: string,
  ) {
    super(`Kamailio RPC at ${endpoint} is unavailable: ${cause_}`);
    this.name = "RpcUnavailableError";
  }
}

/**
 * Kamailio's HTTP front refused the caller (401/403 from the operator's check in
 * event_route[xhttp:request]): wrong or missing credentials. Final (never retried), exit 3.
 */
export class RpcRefusedError extends EnvironmentError {
  constructor(
    readonly endpoint: string,
    readonly status: number,
  ) {
    super(`Kamailio RPC at ${endpoint} refused the request: HTTP ${status} (wrong or missing credentials?)`, [
      "check the target file's rpc auth (the secret file or environment variable it names) against the node's kamailio.cfg",
    ]);
    this.name = "RpcRefusedError";
  }
}

/**
 * The node's TLS certificate did not verify against the CAs the client trusts (or names another
 * address): final (a retry meets the same certificate), exit 3. The check is never skipped.
 */
export class RpcTlsError extends EnvironmentError {
  constructor(
    readonly endpoint: string,
    readonly code: string,
    detail: string,
    caSource: string,
  ) {
    super(
      `Kamailio RPC at ${endpoint}: its TLS certificate is not trusted (${detail}; ${code}), checked against ${caSource}; nothing was sent`,
      [
        "name the CA (PEM) that signed the node's certificate in the target file's rpc.http.caFile; the certificate must name the address in rpc.http.url",
      ],
    );
    this.name = "RpcTlsError";
  }
}

/** Node's codes for a server certificate that did not verify (OpenSSL's, and Node's own host check). */
const CERT_ERROR =
  /^(?:ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_[A-Z_]+|.*_CERT_.*)$/;

export interface HttpRpcOptions {
  path?: string;
  /** the Authorization header's value, asked for at each call (the lab's secret, a target's token); never in messages */
  authorization?: () => string | undefined;
  /**
   * https: the CA certificates (PEM) the server's certificate must chain to (default: the system's),
   * and where they came from, for messages
   */
  tls?: { ca?: string | Buffer; caSource?: string };
  /** for messages: who this is (a node's name), before the URL */
  label?: string;
  /**
   * a 401/403: "final" = RpcRefusedError (a target's credentials are wrong: exit 3, not retried);
   * "unavailable" (default) = RpcUnavailableError, retried like an unreachable RPC (the lab's secret
   * changes with every `lab up`, and is read again at each call)
   */
  onRefused?: "final" | "unavailable";
}

export interface RpcClient {
  call(method: string, params?: readonly (string | number)[]): Promise<unknown>;
  /** where it talks to, for messages */
  readonly endpoint: string;
  close(): void;
}

/**
 * JSON-RPC 2.0 over HTTP to Kamailio's jsonrpcs module (served by xhttp).
 * Keeps one connection alive so a verified apply costs two round trips, not two handshakes.
 */
export class HttpJsonRpcClient implements RpcClient {
  readonly endpoint: string;
  private readonly agent: http.Agent;
  private nextId = 1;

  private readonly path: string;
  private readonly authorization: (() => string | undefined) | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 2000,
    private readonly opts: HttpRpcOptions = {},
  ) {
    this.path = opts.path ?? "/RPC";
    this.authorization = opts.authorization;
    const url = `${opts.tls ? "https" : "http"}://${host}:${port}${this.path}`;
    this.endpoint = opts.label ? `${opts.label} (${url})` : url;
    this.agent = opts.tls
      ? new https.Agent({ keepAlive: true, maxSockets: 1, ...(opts.tls.ca ? { ca: opts.tls.ca } : {}) })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  call(method: string, params: readonly (string | number)[] = []): Promise<unknown> {
    const id = this.nextId++;
    const body = JSON.stringify({ jsonrpc: "2.0", method, params, id });
    let authorization: string | undefined;
    try {
      authorization = this.authorization?.();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const request = this.opts.tls ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.host,
          port: this.port,
          path: this.path,
          method: "POST",
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            ...(authorization === undefined ? {} : { authorization }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (e) => reject(new RpcUnavailableError(this.endpoint, e.message)));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if ((res.statusCode === 401 || res.statusCode === 403) && this.opts.onRefused === "final") {
              reject(new RpcRefusedError(this.endpoint, res.statusCode));
              return;
            }
            if (res.statusCode === 401) {
              reject(
                new RpcUnavailableError(
                  this.endpoint,
                  `HTTP 401: it refused ${authorization === undefined ? "a caller without" : "this caller's"} secret (the lab's, readable only by the user who started it, changes with every \`lab up\`)`,
                ),
              );
              return;
            }
            let reply: { result?: unknown; error?: { code?: number; message?: string } };
            try {
              reply = JSON.parse(text) as typeof reply;
            } catch {
              reject(new RpcUnavailableError(this.endpoint, `HTTP ${res.statusCode ?? "?"}, not a JSON-RPC reply`));
              return;
            }
            if (reply.error !== undefined) {
              reject(new RpcReplyError(method, reply.error.code ?? 0, reply.error.message ?? ""));
            } else {
              resolve(reply.result);
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no reply within ${this.timeoutMs} ms`)));
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (this.opts.tls && e.code !== undefined && CERT_ERROR.test(e.code)) {
          const source = this.opts.tls.caSource ?? (this.opts.tls.ca ? "the given CA" : "the system's CAs");
          reject(new RpcTlsError(this.endpoint, e.code, e.message, source));
          return;
        }
        reject(new RpcUnavailableError(this.endpoint, e.code ?? e.message));
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
