/**
 * A target's SIP policy (pure): which addresses its dispatcher destinations and the endpoints
 * `verify` probes may have. Only IP literals inside the policy's CIDR list pass; host names are
 * refused before anything is resolved (Kamailio would query DNS at reload, and routing would
 * follow whatever DNS says), IPv6 is refused until a policy lists IPv6 networks.
 *
 * The native lab allows 127.0.0.0/8 only; the Docker lab its compose network plus loopback (the
 * ports it publishes). A later production target lists its own networks explicitly.
 */
import { canonicalHost, canonicalSipUri, ipv4AmbiguityProblem, type SipUri } from "./sip-uri.js";

export interface SipPolicy {
  /** for messages: "the lab's SIP policy" */
  name: string;
  /** IPv4 CIDRs, e.g. 127.0.0.0/8 */
  allow: readonly string[];
}

interface Cidr {
  base: number;
  mask: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4ToInt(addr: string): number | undefined {
  const m = IPV4.exec(addr);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

/** `a.b.c.d/n` -> base and mask; undefined when it is not one. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const base = ipv4ToInt(m[1]!);
  const bits = Number(m[2]);
  if (base === undefined || bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (base & mask) >>> 0, mask };
}

/** A policy from a name and CIDRs; throws for a CIDR that is not one (a programming or config error upstream). */
export function sipPolicy(name: string, allow: readonly string[]): SipPolicy {
  for (const c of allow)
    if (!parseCidr(c)) throw new Error(`SIP policy ${name}: ${JSON.stringify(c)} is not an IPv4 CIDR`);
  return { name, allow: [...allow] };
}

/** The native lab: loopback IPv4 only. */
export const LAB_LOOPBACK_POLICY: SipPolicy = sipPolicy("the lab's SIP policy", ["127.0.0.0/8"]);

function inPolicy(policy: SipPolicy, addr: number): boolean {
  return policy.allow.some((c) => {
    const cidr = parseCidr(c)!;
    return (addr & cidr.mask) >>> 0 === cidr.base;
  });
}

/** An IPv4 address in 127.0.0.0/8 (the lab sends SIP nowhere else). */
export function isLoopbackV4(addr: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** Why a host is not allowed, or undefined when it is. Never resolves anything. */
export function hostProblem(policy: SipPolicy, host: string): string | undefined {
  const allowed = `allowed: ${policy.allow.join(", ")}`;
  if (host === "") return "has no host";
  const bracketed = host.startsWith("[") ? host : host.includes(":") ? `[${host}]` : undefined;
  if (bracketed !== undefined) {
    return `IPv6 address ${bracketed.toLowerCase()} is outside ${policy.name}, which lists IPv4 networks only (${allowed})`;
  }
  const addr = ipv4ToInt(host);
  const ambiguous = ipv4AmbiguityProblem(host);
  if (ambiguous !== undefined) return ambiguous;
  if (addr === undefined) {
    if (/^[\d.]+$/.test(host)) return `${host} is not a valid IPv4 address`;
    return `host name ${host} is not allowed: ${policy.name} takes IP addresses only, so nothing is resolved through DNS (${allowed})`;
  }
  return inPolicy(policy, addr) ? undefined : `${canonicalHost(host)} is outside ${policy.name} (${allowed})`;
}

/**
 * A destination URI checked against the policy: syntax, then the host. The text comes back in
 * its canonical spelling (canonicalSipUri); the error quotes the input.
 */
export function checkDestination(
  policy: SipPolicy,
  text: string,
): { ok: true; uri: SipUri; text: string } | { ok: false; error: string } {
  const r = canonicalSipUri(text);
  if (!r.ok) return r;
  // maddr overrides where a request is sent (RFC 3261 19.1.1): it obeys the policy too
  const maddr = r.uri.params.find((p) => p.name === "maddr");
  const problem = hostProblem(policy, r.uri.host) ?? (maddr ? maddrProblem(policy, maddr.value) : undefined);
  return problem === undefined ? r : { ok: false, error: `${JSON.stringify(text)}: ${problem}` };
}

function maddrProblem(policy: SipPolicy, value: string | undefined): string | undefined {
  const p = hostProblem(policy, value ?? "");
  return p === undefined ? undefined : `maddr ${p}`;
}
