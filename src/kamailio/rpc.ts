import http from "node:http";

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
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private nextId = 1;

  private readonly path: string;
  private readonly authorization: (() => string | undefined) | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs = 2000,
    /** authorization: the Authorization header's value, asked for at each call (the lab's secret) */
    opts: { path?: string; authorization?: () => string | undefined } = {},
  ) {
    this.path = opts.path ?? "/RPC";
    this.authorization = opts.authorization;
    this.endpoint = `http://${host}:${port}${this.path}`;
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
    return new Promise((resolve, reject) => {
      const req = http.request(
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
      req.on("error", (e: NodeJS.ErrnoException) =>
        reject(new RpcUnavailableError(this.endpoint, e.code ?? e.message)),
      );
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
