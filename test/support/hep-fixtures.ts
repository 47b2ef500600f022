/**
 * Recorded HEP datagrams (test/fixtures/kamailio-5.6.3-hep*) and a HEPv3 builder for packets no
 * Kamailio sends (IPv6, vendor chunks, deliberately broken lengths).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { FIXTURES } from "./fixtures.js";

/** A `.hex` fixture: one datagram per line, `#` lines are comments. */
export function hexDatagrams(name: string): Buffer[] {
  return readFileSync(path.join(FIXTURES, name), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => Buffer.from(l, "hex"));
}

export function binDatagram(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, name));
}

/** The 56 datagrams Kamailio 5.6.3 mirrored for 4 calls in profile `both` (see the fixture's header). */
export function recordedBothCalls(): Buffer[] {
  return hexDatagrams("kamailio-5.6.3-hep3-both-4-calls.hex");
}

export interface HepChunkSpec {
  vendor?: number;
  type: number;
  value: Buffer;
  /** override the chunk length field (to break it) */
  length?: number;
}

/** HEPv3 datagram from chunks; `totalLength` overrides the header's length field. */
export function buildHep3(chunks: HepChunkSpec[], totalLength?: number): Buffer {
  const parts = chunks.map((c) => {
    const h = Buffer.alloc(6);
    h.writeUInt16BE(c.vendor ?? 0, 0);
    h.writeUInt16BE(c.type, 2);
    h.writeUInt16BE(c.length ?? 6 + c.value.length, 4);
    return Buffer.concat([h, c.value]);
  });
  const body = Buffer.concat(parts);
  const head = Buffer.from("HEP3\0\0", "latin1");
  head.writeUInt16BE(totalLength ?? 6 + body.length, 4);
  return Buffer.concat([head, body]);
}

const u8 = (n: number): Buffer => Buffer.from([n]);
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export interface SipDatagramSpec {
  src: [string, number];
  dst: [string, number];
  tsSec?: number;
  tsUsec?: number;
  payload: string;
}

/** The chunks Kamailio sends for one IPv4 UDP SIP message, in Kamailio's order. */
export function sipChunks(s: SipDatagramSpec): HepChunkSpec[] {
  const ip4 = (a: string): Buffer => Buffer.from(a.split(".").map(Number));
  return [
    { type: 1, value: u8(2) },
    { type: 2, value: u8(17) },
    { type: 3, value: ip4(s.src[0]) },
    { type: 4, value: ip4(s.dst[0]) },
    { type: 7, value: u16(s.src[1]) },
    { type: 8, value: u16(s.dst[1]) },
    { type: 9, value: u32(s.tsSec ?? 1_796_150_630) },
    { type: 10, value: u32(s.tsUsec ?? 0) },
    { type: 11, value: u8(1) },
    { type: 12, value: u32(1) },
    { type: 15, value: Buffer.from(s.payload, "latin1") },
  ];
}

export function sipDatagram(s: SipDatagramSpec): Buffer {
  return buildHep3(sipChunks(s));
}

export { u8, u16, u32 };
