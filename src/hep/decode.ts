/**
 * HEPv3 (the Homer Encapsulation Protocol, as Kamailio's siptrace sends it) decoder: pure, no I/O.
 *
 * A datagram is `"HEP3"`, a 16-bit total length, then chunks: vendor id (16), type id (16), chunk
 * length (16, header included), value. Generic chunks (vendor 0) carry the captured packet's IP
 * family and protocol, addresses, ports, capture time, capture agent id and the payload (the SIP
 * message). Chunks of other vendors and unknown types are skipped. Bad input is returned as a typed
 * malformation, never thrown: a collector counts it and carries on.
 */

export interface HepEndpoint {
  address: string;
  port: number;
}

export interface HepPacket {
  /** address family of the captured packet: 2 = IPv4, 10 = IPv6 (chunk 1) */
  ipFamily: "ipv4" | "ipv6";
  /** IP protocol of the captured packet: 17 = UDP, 6 = TCP (chunk 2) */
  ipProtocol: number;
  src: HepEndpoint;
  dst: HepEndpoint;
  /** capture time, seconds and microseconds since the epoch (chunks 9, 10) */
  tsSec: number;
  tsUsec: number;
  /** application protocol of the payload: 1 = SIP (chunk 11); undefined when absent */
  protocolType: number | undefined;
  /** capture agent id (chunk 12, siptrace's hep_capture_id); undefined when absent */
  captureId: number | undefined;
  /** correlation id (chunk 17); Kamailio sends one only when sip_trace() is given one */
  correlationId: string | undefined;
  /** the captured payload (chunk 15): a view into the datagram, not a copy */
  payload: Buffer;
}

export type HepMalformationReason =
  /** shorter than the 6-byte HEP3 header */
  | "truncated"
  /** does not start with "HEP3" and is no older HEP version either */
  | "not-hep"
  /** HEP version 1 or 2 (siptrace's default is 1): the sender must set hep_version 3 */
  | "hep-v1"
  | "hep-v2"
  /** the header's total length differs from the datagram's length */
  | "length-mismatch"
  /** a chunk header or value runs past the end of the packet, or claims fewer than 6 bytes */
  | "bad-chunk-length"
  /** a chunk of fixed size (address, port, time, id) has the wrong size or an invalid value */
  | "bad-chunk-value"
  /** a chunk the packet cannot be used without is absent */
  | "missing-chunk";

export interface HepMalformation {
  reason: HepMalformationReason;
  /** one line for a human: what exactly was wrong */
  detail: string;
}

export type HepDecodeResult = { ok: true; packet: HepPacket } | { ok: false; malformation: HepMalformation };

/** Generic chunk type ids (vendor 0) this decoder reads. */
export const HepChunk = {
  ipFamily: 1,
  ipProtocol: 2,
  srcIpv4: 3,
  dstIpv4: 4,
  srcIpv6: 5,
  dstIpv6: 6,
  srcPort: 7,
  dstPort: 8,
  tsSec: 9,
  tsUsec: 10,
  protocolType: 11,
  captureId: 12,
  payload: 15,
  correlationId: 17,
} as const;

const HEADER_LEN = 6;
const CHUNK_HEADER_LEN = 6;
const FAMILY_IPV4 = 2;
const FAMILY_IPV6 = 10;

function bad(reason: HepMalformationReason, detail: string): HepDecodeResult {
  return { ok: false, malformation: { reason, detail } };
}

/** Is it an older HEP header (version byte 1 or 2 followed by a plausible header length)? */
function olderHepVersion(b: Buffer): 1 | 2 | undefined {
  if (b.length < 2) return undefined;
  const version = b[0];
  const headerLen = b[1]!;
  // the length byte counts the 8-byte header and both addresses: 16 (IPv4) or 40 (IPv6), in v1 and
  // in v2 alike (v2's time and capture id follow; Kamailio 5.6.3 sends 0x02 0x10 for IPv4)
  if (headerLen !== 16 && headerLen !== 40) return undefined;
  return version === 1 ? 1 : version === 2 ? 2 : undefined;
}

function isHep3(b: Buffer): boolean {
  // "HEP3"
  return b[0] === 0x48 && b[1] === 0x45 && b[2] === 0x50 && b[3] === 0x33;
}

/** Decode one HEP datagram. Never throws; anything wrong is a malformation. */
// eslint-disable-next-line max-lines-per-function -- a pure decoder, read top to bottom as the wire format is
export function decodeHep(b: Buffer): HepDecodeResult {
  if (b.length < 4) {
    // too short to tell: a prefix of "HEP3" or of an older header is cut off, anything else is not HEP
    const prefix = "HEP3".startsWith(b.toString("latin1")) || olderHepVersion(b) !== undefined;
    return prefix
      ? bad("truncated", `${b.length} bytes: shorter than the 6-byte HEP3 header`)
      : bad("not-hep", `not a HEP packet: ${b.length} bytes 0x${b.toString("hex")}`);
  }
  if (!isHep3(b)) {
    const v = olderHepVersion(b);
    if (v !== undefined) {
      return bad(
        `hep-v${v}`,
        `HEPv${v} packet: only HEPv3 is read; set siptrace's hep_version to 3 (its default is 1)`,
      );
    }
    return bad("not-hep", `not a HEP packet: starts with 0x${b.subarray(0, 4).toString("hex")}, not "HEP3"`);
  }
  if (b.length < HEADER_LEN) return bad("truncated", `${b.length} bytes: shorter than the 6-byte HEP3 header`);
  const total = b.readUInt16BE(4);
  if (total !== b.length) {
    return bad("length-mismatch", `header says ${total} bytes, the datagram has ${b.length}`);
  }

  let ipFamily: number | undefined;
  let ipProtocol: number | undefined;
  let src4: string | undefined;
  let dst4: string | undefined;
  let src6: string | undefined;
  let dst6: string | undefined;
  let srcPort: number | undefined;
  let dstPort: number | undefined;
  let tsSec: number | undefined;
  let tsUsec: number | undefined;
  let protocolType: number | undefined;
  let captureId: number | undefined;
  let correlationId: string | undefined;
  let payload: Buffer | undefined;

  let off = HEADER_LEN;
  while (off < total) {
    if (off + CHUNK_HEADER_LEN > total) {
      return bad("bad-chunk-length", `${total - off} stray bytes at offset ${off}: too short for a chunk header`);
    }
    const vendor = b.readUInt16BE(off);
    const type = b.readUInt16BE(off + 2);
    const len = b.readUInt16BE(off + 4);
    if (len < CHUNK_HEADER_LEN) {
      return bad(
        "bad-chunk-length",
        `chunk type ${type} at offset ${off} claims ${len} bytes, less than its own 6-byte header`,
      );
    }
    if (off + len > total) {
      return bad(
        "bad-chunk-length",
        `chunk type ${type} at offset ${off} claims ${len} bytes, only ${total - off} left`,
      );
    }
    const v = off + CHUNK_HEADER_LEN;
    const vlen = len - CHUNK_HEADER_LEN;
    if (vendor === 0) {
      const fixed = (size: number): boolean => vlen === size;
      switch (type) {
        case HepChunk.ipFamily:
          if (!fixed(1)) return badSize("IP family", 1, vlen);
          ipFamily = b[v]!;
          break;
        case HepChunk.ipProtocol:
          if (!fixed(1)) return badSize("IP protocol", 1, vlen);
          ipProtocol = b[v]!;
          break;
        case HepChunk.srcIpv4:
        case HepChunk.dstIpv4: {
          if (!fixed(4)) return badSize("IPv4 address", 4, vlen);
          const a = ipv4Text(b, v);
          if (type === HepChunk.srcIpv4) src4 = a;
          else dst4 = a;
          break;
        }
        case HepChunk.srcIpv6:
        case HepChunk.dstIpv6: {
          if (!fixed(16)) return badSize("IPv6 address", 16, vlen);
          const a = formatIpv6(b, v);
          if (type === HepChunk.srcIpv6) src6 = a;
          else dst6 = a;
          break;
        }
        case HepChunk.srcPort:
        case HepChunk.dstPort:
          if (!fixed(2)) return badSize("port", 2, vlen);
          if (type === HepChunk.srcPort) srcPort = b.readUInt16BE(v);
          else dstPort = b.readUInt16BE(v);
          break;
        case HepChunk.tsSec:
          if (!fixed(4)) return badSize("timestamp seconds", 4, vlen);
          tsSec = b.readUInt32BE(v);
          break;
        case HepChunk.tsUsec:
          if (!fixed(4)) return badSize("timestamp microseconds", 4, vlen);
          tsUsec = b.readUInt32BE(v);
          if (tsUsec > 999_999)
            return bad("bad-chunk-value", `timestamp microseconds ${tsUsec} is not below 1,000,000`);
          break;
        case HepChunk.protocolType:
          if (!fixed(1)) return badSize("protocol type", 1, vlen);
          protocolType = b[v]!;
          break;
        case HepChunk.captureId:
          // 32 bits in HEPv3; some agents send 16
          if (fixed(4)) captureId = b.readUInt32BE(v);
          else if (fixed(2)) captureId = b.readUInt16BE(v);
          else return badSize("capture id", 4, vlen);
          break;
        case HepChunk.payload:
          payload = b.subarray(v, v + vlen);
          break;
        case HepChunk.correlationId:
          correlationId = b.toString("utf8", v, v + vlen);
          break;
        default:
          // unknown generic chunk (auth key, keep-alive timer, compressed payload, ...): skipped
          break;
      }
    }
    off += len;
  }

  if (ipFamily === undefined) return bad("missing-chunk", "no IP family chunk (type 1)");
  if (ipFamily !== FAMILY_IPV4 && ipFamily !== FAMILY_IPV6) {
    return bad("bad-chunk-value", `IP family ${ipFamily} is neither IPv4 (2) nor IPv6 (10)`);
  }
  const v4 = ipFamily === FAMILY_IPV4;
  const srcAddr = v4 ? src4 : src6;
  const dstAddr = v4 ? dst4 : dst6;
  if (srcAddr === undefined)
    return bad("missing-chunk", `no source ${v4 ? "IPv4 (type 3)" : "IPv6 (type 5)"} address chunk`);
  if (dstAddr === undefined)
    return bad("missing-chunk", `no destination ${v4 ? "IPv4 (type 4)" : "IPv6 (type 6)"} address chunk`);
  if (srcPort === undefined) return bad("missing-chunk", "no source port chunk (type 7)");
  if (dstPort === undefined) return bad("missing-chunk", "no destination port chunk (type 8)");
  if (tsSec === undefined) return bad("missing-chunk", "no timestamp seconds chunk (type 9)");
  if (payload === undefined) return bad("missing-chunk", "no payload chunk (type 15)");
  return {
    ok: true,
    packet: {
      ipFamily: v4 ? "ipv4" : "ipv6",
      ipProtocol: ipProtocol ?? 17,
      src: { address: srcAddr, port: srcPort },
      dst: { address: dstAddr, port: dstPort },
      tsSec,
      tsUsec: tsUsec ?? 0,
      protocolType,
      captureId,
      correlationId,
      payload,
    },
  };
}

/**
 * The dotted text of IPv4 addresses already seen, by their 32-bit value: a lab or a site mirrors a
 * handful of addresses, so packets share one string each instead of making one per packet (and
 * whoever keys maps by it hashes it once). Bounded: cleared when it holds 4,096.
 */
const ipv4Texts = new Map<number, string>();
function ipv4Text(b: Buffer, v: number): string {
  const n = (b[v]! << 24) | (b[v + 1]! << 16) | (b[v + 2]! << 8) | b[v + 3]! | 0;
  let t = ipv4Texts.get(n);
  if (t === undefined) {
    if (ipv4Texts.size >= 4096) ipv4Texts.clear();
    t = `${b[v]}.${b[v + 1]}.${b[v + 2]}.${b[v + 3]}`;
    ipv4Texts.set(n, t);
  }
  return t;
}

function badSize(what: string, want: number, got: number): HepDecodeResult {
  return bad("bad-chunk-value", `${what} chunk has ${got} value bytes, expected ${want}`);
}

/** RFC 5952 text form of 16 bytes at `off`: lower-case hex, the longest run of zero groups as `::`. */
export function formatIpv6(b: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(off + i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}
