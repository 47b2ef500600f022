import http from "node:http";

/**
 * What a FusionPBX web UI answers at `/`: a fresh tree redirects to its installer
 * (/core/install/install.php), an installed one to its login page. `classifyFusionpbxPage` is pure;
 * `probeFusionpbxPage` does the GETs (loopback http only, one same-origin redirect followed).
 */
export type FusionpbxPage = "installer" | "login" | "other";

/**
 * Which FusionPBX page a 200 body is (pure): its installer form (titled FusionPBX, under
 * /core/install/, with its `step` field), its login form (a username and a password field on a page
 * styled by FusionPBX's theme, /themes/<name>/css.php; titled "Login" in 5.5.7), or something else.
 */
export function classifyFusionpbxPage(pathname: string, body: string): FusionpbxPage {
  const titled = /<title>[^<]*FusionPBX[^<]*<\/title>/i.test(body);
  if (titled && /\/core\/install\//.test(pathname) && /name=['"]step['"]/.test(body)) return "installer";
  const themed = /href=['"][^'"]*\/themes\/[\w-]+\/css\.php['"]/.test(body);
  if ((titled || themed) && /name=['"]username['"]/.test(body) && /name=['"]password['"]/.test(body)) return "login";
  return "other";
}

export interface FusionpbxPageProbe {
  reachable: boolean;
  /** the final response's status (after at most one same-origin redirect) */
  status: number | undefined;
  /** e.g. "302 -> /core/install/install.php, 200" */
  chain: string;
  page: FusionpbxPage | undefined;
  rttMs: number | undefined;
  error: string | undefined;
}

interface Got {
  status: number;
  location: string | undefined;
  body: string;
}

const MAX_BODY = 256 * 1024;

function get(url: URL, timeoutMs: number): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, headers: { "user-agent": "pbx-cutover verify" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          location: typeof res.headers.location === "string" ? res.headers.location : undefined,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no HTTP response within ${timeoutMs} ms`)));
    req.on("error", (e: NodeJS.ErrnoException) => reject(new Error(e.code ?? e.message)));
  });
}

/** GET `url`; a redirect to the same origin is followed once; the final 200 body is classified. */
export async function probeFusionpbxPage(url: string, timeoutMs = 2000): Promise<FusionpbxPageProbe> {
  const started = performance.now();
  const first = new URL(url);
  if (first.protocol !== "http:") {
    return {
      reachable: false,
      status: undefined,
      chain: "",
      page: undefined,
      rttMs: undefined,
      error: `${first.protocol} is not probed (http only)`,
    };
  }
  try {
    let r = await get(first, timeoutMs);
    let at = first;
    let chain = String(r.status);
    if (r.status >= 300 && r.status < 400 && r.location !== undefined) {
      const next = new URL(r.location, first);
      chain += ` -> ${next.origin === first.origin ? next.pathname : next.href}`;
      if (next.origin === first.origin) {
        r = await get(next, timeoutMs);
        at = next;
        chain += `, ${r.status}`;
      }
    }
    const page = r.status === 200 ? classifyFusionpbxPage(at.pathname, r.body) : undefined;
    return { reachable: true, status: r.status, chain, page, rttMs: performance.now() - started, error: undefined };
  } catch (err) {
    return {
      reachable: false,
      status: undefined,
      chain: "",
      page: undefined,
      rttMs: undefined,
      error: (err as Error).message,
    };
  }
}
