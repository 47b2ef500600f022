/**
 * The live page's HTTP server (node:http): read-only, and only where it was told to listen.
 *
 *   GET /          the page, with the latest view embedded (it renders before the stream connects)
 *   GET /events    server-sent events: `event: view`, `id: <publish number>`, data = the whole view;
 *                  a page that reconnects (EventSource sends Last-Event-ID) gets the current view at
 *                  once unless it already has it; `event: end` when the run is over and the server stops
 *   GET /view.json the latest view
 *   GET /<file>    an evidence file of the run folder the view lists (results.json, junit.xml, ...)
 *
 * Every message is a whole view, so a viewer never needs history to catch up, and a slow viewer is
 * never queued for: while its socket is full it is skipped, and it gets the latest view on drain.
 * Requests naming another host than the one listened on are refused (a loopback server must not be
 * reachable through a DNS name that points at 127.0.0.1 from a web page elsewhere).
 */
import { createReadStream } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { EnvironmentError } from "../core/errors.js";
import { findPortOwner } from "../os/ports.js";
import { contentSecurityPolicy, readPageAssets, renderPage } from "./page.js";
import { runViewOf, type RunView } from "./view-model.js";
import type { WebAddress } from "./web-address.js";

const HEARTBEAT_MS = 15_000;
const RETRY_MS = 1000;

const CONTENT_TYPES: Record<string, string> = {
  ".json": "application/json; charset=utf-8",
  ".ndjson": "application/x-ndjson; charset=utf-8",
  ".xml": "application/xml; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".pcap": "application/vnd.tcpdump.pcap",
};

interface Viewer {
  res: http.ServerResponse;
  /** the id of the last view written to it */
  sent: number;
  busy: boolean;
}

export class WebServer {
  private latest: { view: RunView; id: number; message: string };
  private readonly viewers = new Set<Viewer>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly allowedHosts: ReadonlySet<string> | undefined,
  ) {
    this.latest = WebServer.entry(runViewOf([]), 0);
    server.on("request", (req, res) => this.handle(req, res));
    this.heartbeat = setInterval(() => {
      for (const v of this.viewers) if (!v.busy) v.res.write(": keep-alive\n\n");
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Listen at `addr` (exit 3 naming it when the port is taken or the address is not this machine's). */
  static async start(addr: WebAddress): Promise<WebServer> {
    const server = http.createServer();
    server.keepAliveTimeout = 5000;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: addr.host, port: addr.port, exclusive: true }, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      throw listenError(err, addr);
    }
    const port = (server.address() as AddressInfo).port;
    const hostPart = addr.host.includes(":") ? `[${addr.host}]` : addr.host;
    const hosts = addr.loopback
      ? new Set([`${hostPart}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      : undefined;
    return new WebServer(server, `http://${hostPart}:${port}/`, hosts);
  }

  /** each publish gets the next id (a publish may change the view without a new event: the evidence listed at the end) */
  private static entry(view: RunView, id: number): { view: RunView; id: number; message: string } {
    return { view, id, message: `id: ${id}\nevent: view\ndata: ${JSON.stringify(view)}\n\n` };
  }

  /** viewers connected to the event stream right now */
  get viewerCount(): number {
    return this.viewers.size;
  }

  /** The view every viewer gets now (and every page served from now on). */
  publish(view: RunView): void {
    if (this.closed) return;
    this.latest = WebServer.entry(view, this.latest.id + 1);
    for (const v of this.viewers) this.send(v);
  }

  private send(v: Viewer): void {
    if (v.busy || v.sent === this.latest.id) return;
    v.sent = this.latest.id;
    if (!v.res.write(this.latest.message)) v.busy = true;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Cache-Control", "no-store");
    res.setHeader("Referrer-Policy", "no-referrer");
    if (this.allowedHosts && !this.allowedHosts.has(req.headers.host ?? "")) {
      return plain(res, 421, "this server answers only at its own address: open " + this.url + "\n");
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return plain(res, 405, "read-only: GET and HEAD only\n");
    }
    const url = new URL(req.url ?? "/", "http://x");
    const view = this.latest.view;
    if (url.pathname === "/" || url.pathname === "/index.html") {
      res.setHeader("Content-Security-Policy", contentSecurityPolicy("live"));
      return body(res, 200, "text/html; charset=utf-8", renderPage(view, "live", readPageAssets()), req.method);
    }
    if (url.pathname === "/view.json")
      return body(res, 200, "application/json; charset=utf-8", JSON.stringify(view), req.method);
    if (url.pathname === "/events") return this.stream(req, res);
    const name = decodeURIComponent(url.pathname.slice(1));
    const file = view.evidence.find((e) => e.name === name);
    if (file && view.runDir !== "" && !name.includes("/")) {
      const type = CONTENT_TYPES[path.extname(name)] ?? "text/plain; charset=utf-8";
      res.writeHead(200, { "Content-Type": type });
      if (req.method === "HEAD") return void res.end();
      const s = createReadStream(path.join(view.runDir, name), { flags: "r" });
      s.on("error", () => res.destroy());
      s.pipe(res);
      return;
    }
    plain(res, 404, "not found\n");
  }

  private stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.closed) return plain(res, 503, "the run is over\n");
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    res.write(`retry: ${RETRY_MS}\n\n`);
    const last = Number(req.headers["last-event-id"]);
    // a reconnecting page that already has the latest view is not sent it again
    const v: Viewer = { res, sent: Number.isInteger(last) ? last : -1, busy: false };
    this.viewers.add(v);
    res.on("drain", () => {
      v.busy = false;
      this.send(v);
    });
    res.on("close", () => this.viewers.delete(v));
    this.send(v);
  }

  /** Tell every viewer the run is over, then stop listening and drop every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const v of this.viewers) {
      v.busy = false;
      if (v.sent !== this.latest.id) v.res.write(this.latest.message);
      v.res.end("event: end\ndata: {}\n\n");
    }
    this.viewers.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      // responses just ended flush first; anything still open after that is cut
      setTimeout(() => this.server.closeAllConnections(), 200);
    });
  }
}

function plain(res: http.ServerResponse, status: number, text: string): void {
  body(res, status, "text/plain; charset=utf-8", text, "GET");
}

function body(res: http.ServerResponse, status: number, type: string, text: string, method: string | undefined): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(text) });
  res.end(method === "HEAD" ? undefined : text);
}

function listenError(err: unknown, addr: WebAddress): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${addr.host}:${addr.port}/tcp`;
  if (code === "EADDRINUSE") {
    const owner = findPortOwner("tcp", addr.host, addr.port);
    return new EnvironmentError(
      `--web: port ${addr.port}/tcp on ${addr.host} is in use${owner ? ` by pid ${owner.pid} (${owner.comm})` : ""}; nothing was started`,
      [
        `pass another port (--web ${addr.host.includes(":") ? `[${addr.host}]` : addr.host}:PORT), or --web alone for any free port`,
      ],
    );
  }
  if (code === "EADDRNOTAVAIL")
    return new EnvironmentError(
      `--web: ${addr.host} is not an address of this machine (${where}); nothing was started`,
    );
  if (code === "EACCES")
    return new EnvironmentError(
      `--web: not allowed to listen on ${where} (ports below 1024 need root); nothing was started`,
    );
  return err;
}
