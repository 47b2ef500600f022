import http from "node:http";
import https from "node:https";

export interface HttpProbeResult {
  reachable: boolean;
  /** 200 or 302: a fresh FusionPBX redirects to its install wizard or login page */
  up: boolean;
  status: number | undefined;
  location: string | undefined;
  rttMs: number | undefined;
  error: string | undefined;
}

/** Statuses that count as "up" for a FusionPBX URL. */
export function httpStatusIsUp(status: number): boolean {
  return status === 200 || status === 302;
}

/** One GET, redirects not followed, body discarded. */
export function probeHttp(url: string, timeoutMs = 2000): Promise<HttpProbeResult> {
  const started = performance.now();
  const mod = url.startsWith("https:") ? https : http;
  return new Promise((resolve) => {
    const req = mod.get(url, { timeout: timeoutMs, headers: { "user-agent": "pbx-cutover verify" } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({
        reachable: true,
        up: httpStatusIsUp(status),
        status,
        location: typeof res.headers.location === "string" ? res.headers.location : undefined,
        rttMs: performance.now() - started,
        error: undefined,
      });
      req.destroy();
    });
    req.on("timeout", () => req.destroy(new Error(`no HTTP response within ${timeoutMs} ms`)));
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ reachable: false, up: false, status: undefined, location: undefined, rttMs: undefined, error: e.code ?? e.message }),
    );
  });
}
