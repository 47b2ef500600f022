/**
 * SIP URIs as dispatcher destinations (pure). Only what a destination needs: scheme sip/sips,
 * optional user, host (IPv4, [IPv6] or a DNS name), optional port 1-65535, `;params`
 * (transport validated). Headers (`?`), whitespace and `#` (a comment in dispatcher.list) are refused.
 *
 * The boundary normalises once (`canonicalSipUri`): one endpoint has one spelling, so
 * `SIP:127.0.0.01` and `sip:127.0.0.1:5060` are the same destination everywhere after it.
 */

export type SipTransport = "udp" | "tcp" | "tls" | "sctp" | "ws" | "wss";
const TRANSPORTS: readonly SipTransport[] = ["udp", "tcp", "tls", "sctp", "ws", "wss"];

export interface SipUri {
  scheme: "sip" | "sips";
  user: string | undefined;
  host: string;
  port: number | undefined;
  transport: SipTransport | undefined;
  /** every `;name[=value]` parameter in order, names lower-cased */
  params: readonly { name: string; value: string | undefined }[];
}

export type SipUriResult = { ok: true; uri: SipUri } | { ok: false; error: string };

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/i;
const USER = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$/;
const TOKEN = /^[A-Za-z0-9\-_.!~*'%+`[\]/:&$]+$/;

/**
 * An IPv4 octet with a leading zero is read as decimal by some parsers and as octal by others
 * (inet_aton, WHATWG URLs): `010` is 10 or 8. Only where both readings agree (`01`..`07`, `00`) is it
 * one address; otherwise it is refused rather than guessed.
 */
export function ipv4AmbiguityProblem(host: string): string | undefined {
  const v4 = IPV4.exec(host);
  if (!v4) return undefined;
  const bad = v4
    .slice(1)
    .find((o) => o.length > 1 && o.startsWith("0") && !(/^[0-7]+$/.test(o) && parseInt(o, 8) === parseInt(o, 10)));
  return bad === undefined
    ? undefined
    : `host ${host} has the octet ${bad}, which reads as decimal ${parseInt(bad, 10)} or octal; write it without leading zeros`;
}

function checkHost(host: string): string | undefined {
  if (host === "") return "has no host";
  const v4 = IPV4.exec(host);
  if (v4) {
    if (!v4.slice(1).every((o) => Number(o) <= 255)) return `host ${host} is not a valid IPv4 address`;
    return ipv4AmbiguityProblem(host);
  }
  if (host.startsWith("[")) return IPV6.test(host) ? undefined : `host ${host} is not a valid [IPv6] reference`;
  if (/^[\d.]+$/.test(host)) return `host ${host} is not a valid IPv4 address`;
  return HOSTNAME.test(host) ? undefined : `host ${JSON.stringify(host)} is not a valid host name`;
}

/** Parse and validate one destination URI. The error says what is wrong, quoting the input. */
export function parseSipUri(text: string): SipUriResult {
  const fail = (why: string): SipUriResult => ({ ok: false, error: `invalid SIP URI ${JSON.stringify(text)}: ${why}` });
  if (text.length === 0) return fail("it is empty");
  if (/\s/.test(text)) return fail("it contains whitespace");
  if (text.includes("#")) return fail("it contains '#', which starts a comment in dispatcher.list");
  if (text.length > 512) return fail("it is longer than 512 characters");
  const m = /^([A-Za-z]+):(.*)$/.exec(text);
  if (!m) return fail("it has no scheme (expected sip: or sips:)");
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "sip" && scheme !== "sips") return fail(`scheme ${m[1]}: is not sip: or sips:`);
  let rest = m[2]!;
  if (rest.includes("?")) return fail("headers (?...) are not allowed in a dispatcher destination");
  let user: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER.test(user)) return fail(`user part ${JSON.stringify(user)} is empty or has invalid characters`);
  }
  const [hostport = "", ...paramParts] = rest.split(";");
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith("[")) {
    const close = hostport.indexOf("]");
    if (close < 0) return fail("IPv6 host has no closing ]");
    host = hostport.slice(0, close + 1);
    const after = hostport.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return fail(`unexpected ${JSON.stringify(after)} after the host`);
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const colon = hostport.indexOf(":");
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    portText = colon >= 0 ? hostport.slice(colon + 1) : undefined;
  }
  const hostError = checkHost(host);
  if (hostError) return fail(hostError);
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return fail(`port ${JSON.stringify(portText)} is not a number`);
    port = Number(portText);
    if (port < 1 || port > 65535) return fail(`port ${port} is outside 1-65535`);
  }
  const params: { name: string; value: string | undefined }[] = [];
  let transport: SipTransport | undefined;
  for (const part of paramParts) {
    const eq = part.indexOf("=");
    const name = (eq >= 0 ? part.slice(0, eq) : part).toLowerCase();
    const value = eq >= 0 ? part.slice(eq + 1) : undefined;
    if (!TOKEN.test(name)) return fail(`parameter ${JSON.stringify(part)} has an empty or invalid name`);
    if (value !== undefined && !TOKEN.test(value)) return fail(`parameter ${name} has an empty or invalid value`);
    if (params.some((p) => p.name === name)) return fail(`parameter ${name} appears twice`);
    if (name === "transport") {
      const t = (value ?? "").toLowerCase();
      if (!(TRANSPORTS as readonly string[]).includes(t)) {
        return fail(`transport=${value ?? ""} is not one of ${TRANSPORTS.join(", ")}`);
      }
      transport = t as SipTransport;
    }
    params.push({ name, value });
  }
  if (scheme === "sips" && (transport === "udp" || transport === "sctp")) {
    return fail(`sips: needs a TLS transport, not transport=${transport}`);
  }
  return { ok: true, uri: { scheme, user, host, port, transport, params } };
}

/** The port a URI reaches: its own, else the scheme's or transport's default (5061 for TLS, else 5060). */
export function effectivePort(u: SipUri): number {
  return u.port ?? (u.scheme === "sips" || u.transport === "tls" || u.transport === "wss" ? 5061 : 5060);
}

/** An IPv4 literal without leading zeros (`127.0.0.01` -> `127.0.0.1`, read as decimal); other hosts lower-cased. */
export function canonicalHost(host: string): string {
  const v4 = IPV4.exec(host);
  if (v4)
    return v4
      .slice(1)
      .map((o) => String(Number(o)))
      .join(".");
  return host.toLowerCase();
}

/**
 * The one spelling of a destination: scheme and host lower-cased, IPv4 without leading zeros,
 * the port always written (the default port of an IP literal is the same endpoint; a host name
 * without a port would mean DNS SRV, which no SIP policy allows), parameter names lower-cased and
 * the transport value too. Idempotent.
 */
export function formatSipUri(u: SipUri): string {
  const params = u.params.map((p) => {
    const value = p.name === "transport" && p.value !== undefined ? p.value.toLowerCase() : p.value;
    return `;${p.name}${value === undefined ? "" : `=${value}`}`;
  });
  return `${u.scheme}:${u.user !== undefined ? `${u.user}@` : ""}${canonicalHost(u.host)}:${effectivePort(u)}${params.join("")}`;
}

/** Parse, validate and normalise a destination URI (see formatSipUri). */
export function canonicalSipUri(text: string): { ok: true; uri: SipUri; text: string } | { ok: false; error: string } {
  const r = parseSipUri(text);
  if (!r.ok) return r;
  const canonical = formatSipUri(r.uri);
  return { ok: true, uri: { ...r.uri, host: canonicalHost(r.uri.host), port: effectivePort(r.uri) }, text: canonical };
}

/**
 * Do two destination URIs reach the same host and port (scheme default ports applied, host
 * case-insensitive)? Old and new backends must not: that would be one PBX under two names.
 */
export function sameHostPort(a: SipUri, b: SipUri): boolean {
  return canonicalHost(a.host) === canonicalHost(b.host) && effectivePort(a) === effectivePort(b);
}
