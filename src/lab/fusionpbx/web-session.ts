/**
 * A browser-less FusionPBX session (HTTP over loopback): the login page, the login form posted with
 * `user@domain` (both versions take the domain from the user name; from the Host header 5.3 keeps
 * the port and finds no domain), then the dashboard. `classifyLogin` is pure.
 */

export interface LoginCredentials {
  username: string;
  domain: string;
  password: string;
}

export interface LoginResult {
  ok: boolean;
  /** e.g. "GET /login.php 200, POST /login.php 302 -> /core/dashboard/, GET /core/dashboard/ 200 (Dashboard - FusionPBX)" */
  chain: string;
  /** the dashboard page's title when reached */
  title?: string;
  error?: string;
  /** the session cookie ("PHPSESSID=...") of a successful login, for a browser to reuse */
  cookie?: string;
  /** the dashboard's body when reached */
  body?: string;
}

/** The `<title>` of a page (pure). */
export function pageTitle(body: string): string | undefined {
  const m = /<title>([^<]*)<\/title>/i.exec(body);
  return m ? m[1]!.trim() : undefined;
}

/** A dashboard page: FusionPBX titles it "Dashboard - FusionPBX" in 5.3 and 5.5 (pure). */
export function isDashboard(body: string): boolean {
  return /^Dashboard\b/i.test(pageTitle(body) ?? "");
}

class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair!.indexOf("=");
      if (eq > 0) this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

const UA = "pbx-cutover fusionpbx-login";

/** Log in to the FusionPBX at `base` (http://addr:port) and open its dashboard. Never throws. */
export async function loginToFusionpbx(base: string, c: LoginCredentials, timeoutMs = 20_000): Promise<LoginResult> {
  const jar = new CookieJar();
  const chain: string[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  const go = async (method: "GET" | "POST", p: string, form?: Record<string, string>): Promise<Response> => {
    const res = await fetch(new URL(p, base), {
      method,
      redirect: "manual",
      signal,
      headers: {
        "user-agent": UA,
        cookie: jar.header(),
        ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    jar.take(res);
    const loc = res.headers.get("location");
    chain.push(`${method} ${p} ${res.status}${loc ? ` -> ${loc}` : ""}`);
    return res;
  };
  try {
    const page = await go("GET", "/login.php");
    await page.text();
    if (page.status !== 200) return { ok: false, chain: chain.join(", "), error: "the login page did not answer 200" };
    const post = await go("POST", "/login.php", { username: `${c.username}@${c.domain}`, password: c.password });
    await post.text();
    const dash = await go("GET", "/core/dashboard/");
    const body = await dash.text();
    const title = pageTitle(body);
    chain[chain.length - 1] += title ? ` (${title})` : "";
    if (dash.status === 200 && isDashboard(body)) {
      return { ok: true, chain: chain.join(", "), ...(title ? { title } : {}), cookie: jar.header(), body };
    }
    return {
      ok: false,
      chain: chain.join(", "),
      ...(title ? { title } : {}),
      error: "the login did not reach the dashboard (wrong credentials, or not installed)",
    };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ok: false, chain: chain.join(", "), error: e.cause?.code ?? e.message };
  }
}

/**
 * GET a page in a logged-in session (the cookie of `loginToFusionpbx`, and its User-Agent: FusionPBX
 * binds a session to the User-Agent it logged in with).
 */
export async function sessionGet(
  base: string,
  p: string,
  cookie: string,
  timeoutMs = 20_000,
): Promise<{ status: number; body: string }> {
  const res = await fetch(new URL(p, base), {
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
    headers: { "user-agent": UA, cookie },
  });
  return { status: res.status, body: await res.text() };
}
