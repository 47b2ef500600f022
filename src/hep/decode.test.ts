import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSipMessage } from "../sip/message.js";
import {
  binDatagram,
  buildHep3,
  recordedBothCalls,
  sipChunks,
  u16,
  u32,
  u8,
  type HepChunkSpec,
} from "../../test/support/hep-fixtures.js";
import { decodeHep, formatIpv6, type HepDecodeResult, type HepPacket } from "./decode.js";

function ok(r: HepDecodeResult): HepPacket {
  if (!r.ok) assert.fail(`expected a packet, got ${r.malformation.reason}: ${r.malformation.detail}`);
  return r.packet;
}

function reason(r: HepDecodeResult): string {
  assert.equal(r.ok, false, "expected a malformation");
  return r.ok ? "" : r.malformation.reason;
}

test("the INVITE Kamailio 5.6.3 relayed to the new backend, as siptrace mirrored it", () => {
  const p = ok(decodeHep(binDatagram("kamailio-5.6.3-hep3-invite-relayed.bin")));
  assert.equal(p.ipFamily, "ipv4");
  assert.equal(p.ipProtocol, 17);
  assert.deepEqual(p.src, { address: "127.0.0.1", port: 25060 });
  assert.deepEqual(p.dst, { address: "127.0.0.1", port: 25063 });
  assert.equal(p.tsSec, 1_796_150_630);
  assert.equal(p.tsUsec, 558_654);
  assert.equal(p.protocolType, 1);
  assert.equal(p.captureId, 1);
  assert.equal(p.correlationId, undefined);
  const sip = parseSipMessage(p.payload.toString("latin1"));
  assert.equal(sip?.method, "INVITE");
  assert.match(sip?.headers.get("call-id")?.[0] ?? "", /^hep-fixture-1-\d+@127\.0\.0\.1$/);
  assert.match(sip?.headers.get("record-route")?.[0] ?? "", /127\.0\.0\.1:25060/);
});

test("a backend's 200 OK as Kamailio received it", () => {
  const p = ok(decodeHep(binDatagram("kamailio-5.6.3-hep3-200-from-backend.bin")));
  assert.deepEqual(p.src, { address: "127.0.0.1", port: 25063 });
  assert.deepEqual(p.dst, { address: "127.0.0.1", port: 25060 });
  assert.match(p.payload.toString("latin1"), /^SIP\/2\.0 200 OK\r\n/);
});

test("every datagram of 4 recorded calls decodes; the payload is a view sized by its chunk", () => {
  const all = recordedBothCalls();
  assert.equal(all.length, 56);
  const packets = all.map((d) => ok(decodeHep(d)));
  for (const [i, p] of packets.entries()) {
    assert.ok(p.payload.buffer === all[i]!.buffer, "payload is not copied");
    assert.ok(parseSipMessage(p.payload.toString("latin1")), `datagram ${i} carries SIP`);
  }
  const invitesTo = (port: number): number =>
    packets.filter((p) => p.dst.port === port && p.payload.toString("latin1").startsWith("INVITE ")).length;
  assert.equal(invitesTo(25060), 4, "4 INVITEs reached Kamailio");
  assert.equal(invitesTo(25062), 2, "round robin: 2 to old");
  assert.equal(invitesTo(25063), 2, "and 2 to new");
  const times = packets.map((p) => p.tsSec * 1e6 + p.tsUsec);
  assert.deepEqual(
    [...times].sort((a, b) => a - b),
    times,
    "mirrored in capture order",
  );
});

test("HEPv1 and HEPv2 from Kamailio 5.6.3 (hep_version 1, 2) are named, with the fix", () => {
  const v1 = decodeHep(binDatagram("kamailio-5.6.3-hep1-invite.bin"));
  assert.equal(reason(v1), "hep-v1");
  assert.match(v1.ok ? "" : v1.malformation.detail, /set siptrace's hep_version to 3/);
  assert.equal(reason(decodeHep(binDatagram("kamailio-5.6.3-hep2-invite.bin"))), "hep-v2");
});

test("not HEP: raw SIP, other bytes, a prefix too short to tell", () => {
  const sipText = Buffer.from("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n");
  assert.equal(reason(decodeHep(sipText)), "not-hep");
  assert.equal(reason(decodeHep(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 10]))), "not-hep");
  assert.equal(reason(decodeHep(Buffer.from("XY"))), "not-hep");
  assert.equal(reason(decodeHep(Buffer.from("HEP2\0\x06"))), "not-hep");
  assert.equal(reason(decodeHep(Buffer.alloc(0))), "truncated");
  assert.equal(reason(decodeHep(Buffer.from("HE"))), "truncated");
  assert.equal(reason(decodeHep(Buffer.from("HEP3\0"))), "truncated");
});

test("a recorded packet cut short at any length is a malformation, never a packet or a throw", () => {
  const full = binDatagram("kamailio-5.6.3-hep3-invite-relayed.bin");
  for (let n = 0; n < full.length; n++) {
    const r = decodeHep(full.subarray(0, n));
    assert.equal(r.ok, false, `cut at ${n}`);
    assert.ok(r.ok || ["truncated", "length-mismatch"].includes(r.malformation.reason), `cut at ${n}`);
  }
  // cut short and the header's length patched to match: the broken chunk is found
  const cut = Buffer.from(full.subarray(0, full.length - 100));
  cut.writeUInt16BE(cut.length, 4);
  assert.equal(reason(decodeHep(cut)), "bad-chunk-length");
});

test("wrong lengths: header longer or shorter than the datagram, chunks too short or too long", () => {
  const chunks = sipChunks({
    src: ["127.0.0.1", 5060],
    dst: ["127.0.0.1", 5070],
    payload: "BYE sip:a@b SIP/2.0\r\n\r\n",
  });
  const good = buildHep3(chunks);
  ok(decodeHep(good));
  assert.equal(reason(decodeHep(buildHep3(chunks, good.length + 1))), "length-mismatch");
  assert.equal(reason(decodeHep(buildHep3(chunks, good.length - 1))), "length-mismatch");
  assert.equal(reason(decodeHep(Buffer.concat([good, Buffer.from([0])]))), "length-mismatch");
  const withChunkLen = (i: number, length: number): Buffer =>
    buildHep3(chunks.map((c, j) => (j === i ? { ...c, length } : c)));
  assert.equal(reason(decodeHep(withChunkLen(0, 5))), "bad-chunk-length");
  assert.equal(reason(decodeHep(withChunkLen(0, 0))), "bad-chunk-length");
  assert.equal(reason(decodeHep(withChunkLen(chunks.length - 1, 60_000))), "bad-chunk-length");
  // a wrong length inside the packet shifts every later chunk: whatever is hit, it is a malformation
  assert.equal(decodeHep(withChunkLen(4, 9)).ok, false);
  // stray bytes after the last chunk, counted in the header
  const stray = Buffer.concat([good, Buffer.from([0, 0, 0])]);
  stray.writeUInt16BE(stray.length, 4);
  assert.equal(reason(decodeHep(stray)), "bad-chunk-length");
});

test("unknown chunks and other vendors' chunks are skipped", () => {
  const base = sipChunks({
    src: ["127.0.0.1", 5060],
    dst: ["127.0.0.1", 5070],
    payload: "ACK sip:a@b SIP/2.0\r\n\r\n",
  });
  const extra: HepChunkSpec[] = [
    { type: 14, value: Buffer.from("auth-key") },
    { type: 99, value: Buffer.alloc(0) },
    { vendor: 0x0003, type: 1, value: Buffer.from([7]) }, // another vendor's "type 1" is not the IP family
    { vendor: 0x0003, type: 15, value: Buffer.from("not the payload") },
  ];
  const p = ok(decodeHep(buildHep3([...extra.slice(0, 2), ...base.slice(0, 6), ...extra.slice(2), ...base.slice(6)])));
  assert.equal(p.ipFamily, "ipv4");
  assert.equal(p.payload.toString(), "ACK sip:a@b SIP/2.0\r\n\r\n");
  assert.equal(p.src.port, 5060);
});

test("correlation id, 16-bit capture id, IPv6 addresses", () => {
  const ip6 = (s: string): Buffer => {
    const b = Buffer.alloc(16);
    if (s === "::1") b[15] = 1;
    else Buffer.from("20010db8000000000000000000000005", "hex").copy(b);
    return b;
  };
  const p = ok(
    decodeHep(
      buildHep3([
        { type: 1, value: u8(10) },
        { type: 2, value: u8(17) },
        { type: 5, value: ip6("::1") },
        { type: 6, value: ip6("2001:db8::5") },
        { type: 7, value: u16(5060) },
        { type: 8, value: u16(5080) },
        { type: 9, value: u32(1) },
        { type: 12, value: u16(2001) },
        { type: 15, value: Buffer.from("x") },
        { type: 17, value: Buffer.from("call-1@h") },
      ]),
    ),
  );
  assert.equal(p.ipFamily, "ipv6");
  assert.deepEqual(p.src, { address: "::1", port: 5060 });
  assert.deepEqual(p.dst, { address: "2001:db8::5", port: 5080 });
  assert.equal(p.tsUsec, 0, "no microseconds chunk: 0");
  assert.equal(p.captureId, 2001);
  assert.equal(p.correlationId, "call-1@h");
  assert.equal(p.protocolType, undefined);
});

test("missing and invalid chunks", () => {
  const base = sipChunks({ src: ["127.0.0.1", 5060], dst: ["127.0.0.1", 5070], payload: "x" });
  const without = (type: number): Buffer => buildHep3(base.filter((c) => c.type !== type));
  const replace = (type: number, value: Buffer): Buffer =>
    buildHep3(base.map((c) => (c.type === type ? { ...c, value } : c)));
  for (const t of [1, 3, 4, 7, 8, 9, 15])
    assert.equal(reason(decodeHep(without(t))), "missing-chunk", `without chunk ${t}`);
  ok(decodeHep(without(10)));
  ok(decodeHep(without(11)));
  ok(decodeHep(without(12)));
  assert.equal(reason(decodeHep(replace(1, u8(10)))), "missing-chunk", "IPv6 family with IPv4 addresses");
  assert.equal(reason(decodeHep(replace(1, u8(7)))), "bad-chunk-value");
  assert.equal(reason(decodeHep(replace(7, Buffer.from([1, 2, 3])))), "bad-chunk-value");
  assert.equal(reason(decodeHep(replace(3, Buffer.from([127, 0, 0])))), "bad-chunk-value");
  assert.equal(reason(decodeHep(replace(10, u32(1_000_000)))), "bad-chunk-value");
  assert.equal(reason(decodeHep(replace(12, u8(1)))), "bad-chunk-value");
});

test("random corruption of recorded packets never throws", () => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const all = recordedBothCalls();
  let malformed = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(all[rnd(all.length)]!);
    for (let k = 0; k < 1 + rnd(4); k++) b[rnd(Math.min(b.length, 120))] = rnd(256);
    const r = decodeHep(rnd(5) === 0 ? b.subarray(0, rnd(b.length)) : b);
    if (!r.ok) malformed++;
  }
  assert.ok(malformed > 500, `corruption was detected (${malformed})`);
});

test("IPv6 text form (RFC 5952)", () => {
  const f = (hex: string): string => formatIpv6(Buffer.from(hex, "hex"), 0);
  assert.equal(f("00000000000000000000000000000001"), "::1");
  assert.equal(f("00000000000000000000000000000000"), "::");
  assert.equal(f("20010db8000000010000000000000001"), "2001:db8:0:1::1");
  assert.equal(f("20010db8000100010001000100010001"), "2001:db8:1:1:1:1:1:1");
  assert.equal(f("fe800000000000000000000000000000"), "fe80::");
});
