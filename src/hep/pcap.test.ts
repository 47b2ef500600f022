import assert from "node:assert/strict";
import { test } from "node:test";
import { binDatagram, recordedBothCalls } from "../../test/support/hep-fixtures.js";
import { decodeHep, type HepPacket } from "./decode.js";
import { LINKTYPE_RAW, pcapGlobalHeader, pcapRecord } from "./pcap.js";

function packet(d: Buffer): HepPacket {
  const r = decodeHep(d);
  if (!r.ok) throw new Error(r.malformation.detail);
  return r.packet;
}

/** The Internet checksum over a range verifies when the folded sum is 0xffff. */
function checksumOk(b: Buffer, start: number, end: number, initial = 0): boolean {
  let sum = initial;
  for (let i = start; i + 1 < end; i += 2) sum += b.readUInt16BE(i);
  if ((end - start) % 2) sum += b[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

test("global header: classic pcap, microseconds, LINKTYPE_RAW", () => {
  const h = pcapGlobalHeader();
  assert.equal(h.length, 24);
  assert.equal(h.readUInt32LE(0), 0xa1b2c3d4);
  assert.deepEqual([h.readUInt16LE(4), h.readUInt16LE(6)], [2, 4]);
  assert.equal(h.readUInt32LE(20), LINKTYPE_RAW);
});

test("a recorded INVITE becomes IPv4/UDP with its real addresses, ports, time and bytes", () => {
  const p = packet(binDatagram("kamailio-5.6.3-hep3-invite-relayed.bin"));
  const r = pcapRecord(p);
  const ipLen = 20 + 8 + p.payload.length;
  assert.equal(r.length, 16 + ipLen);
  assert.deepEqual(
    [r.readUInt32LE(0), r.readUInt32LE(4), r.readUInt32LE(8), r.readUInt32LE(12)],
    [p.tsSec, p.tsUsec, ipLen, ipLen],
  );
  const ip = r.subarray(16);
  assert.equal(ip[0], 0x45);
  assert.equal(ip.readUInt16BE(2), ipLen);
  assert.equal(ip[9], 17);
  assert.deepEqual([...ip.subarray(12, 16)], [127, 0, 0, 1]);
  assert.deepEqual([...ip.subarray(16, 20)], [127, 0, 0, 1]);
  assert.ok(checksumOk(ip, 0, 20), "IPv4 header checksum");
  assert.deepEqual(
    [ip.readUInt16BE(20), ip.readUInt16BE(22), ip.readUInt16BE(24)],
    [25060, 25063, 8 + p.payload.length],
  );
  assert.ok(ip.subarray(28).equals(p.payload));
});

test("IPv6 packets get an IPv6 header and a valid UDP checksum", () => {
  const base = packet(recordedBothCalls()[0]!);
  const p: HepPacket = {
    ...base,
    ipFamily: "ipv6",
    src: { address: "::1", port: 5060 },
    dst: { address: "2001:db8::5", port: 5080 },
  };
  const r = pcapRecord(p);
  const ip = r.subarray(16);
  assert.equal(ip[0]! >> 4, 6);
  assert.equal(ip.readUInt16BE(4), 8 + p.payload.length);
  assert.equal(ip[15 + 8], 1, "::1");
  assert.equal(ip.subarray(24, 40).toString("hex"), "20010db8000000000000000000000005");
  // pseudo-header sum (addresses, UDP length, next header) + the UDP datagram
  let pseudo = 0;
  for (let i = 8; i < 40; i += 2) pseudo += ip.readUInt16BE(i);
  pseudo += 8 + p.payload.length + 17;
  assert.ok(checksumOk(ip, 40, ip.length, pseudo), "UDP checksum");
});

test("a payload larger than an IPv4 packet is cut, its original length kept", () => {
  const base = packet(recordedBothCalls()[0]!);
  const r = pcapRecord({ ...base, payload: Buffer.alloc(70_000, 0x41) });
  assert.equal(r.readUInt32LE(8), 65535);
  assert.equal(r.readUInt32LE(12), 70_028);
  assert.equal(r.length, 16 + 65535);
});

test("the writer: every record in order across chunk boundaries; the file follows the capture before close", async () => {
  const { mkdtempSync, readFileSync, rmSync, statSync } = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { openPcapWriter } = await import("./pcap.js");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pcap-test-"));
  try {
    const file = path.join(dir, "capture.pcap");
    const ps = recordedBothCalls().map(packet);
    const w = openPcapWriter(file);
    w.write(ps[0]!);
    const deadline = Date.now() + 3000;
    while (statSync(file).size < 24 + pcapRecord(ps[0]!).length) {
      if (Date.now() > deadline) assert.fail("the first record never reached the file before close");
      await new Promise((r) => setTimeout(r, 20));
    }
    const written = [ps[0]!];
    for (let i = 0; i < 1000; i++) {
      // ~700 KiB: several chunks, and records of the largest size (a cut 64 KiB payload) among them
      const p = i % 300 === 299 ? { ...ps[i % ps.length]!, payload: Buffer.alloc(70_000, 0x41) } : ps[i % ps.length]!;
      w.write(p);
      written.push(p);
    }
    await w.close();
    assert.equal(w.records, 1001);
    const b = readFileSync(file);
    // byte for byte what pcapRecord makes of each packet, in order, after the global header
    assert.ok(
      b.equals(Buffer.concat([pcapGlobalHeader(), ...written.map((p) => pcapRecord(p))])),
      "file = header + every record",
    );
    assert.ok(b.subarray(0, 24).equals(pcapGlobalHeader()));
    let off = 24;
    let n = 0;
    while (off < b.length) {
      const incl = b.readUInt32LE(off + 8);
      const expected = n === 0 ? ps[0]! : ps[(n - 1) % ps.length]!;
      assert.equal(b.readUInt32LE(off + 4), expected.tsUsec, `record ${n} in order`);
      off += 16 + incl;
      n++;
    }
    assert.equal(off, b.length);
    assert.equal(n, 1001);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a capped capture: the start (capture.pcap) and the latest segments kept, each a whole pcap, the middle let go and counted", async () => {
  const { mkdtempSync, readdirSync, readFileSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { openPcapWriter, pcapKeptText, pcapSegmentPath, PCAP_SEGMENTS } = await import("./pcap.js");
  assert.equal(pcapSegmentPath("/r/capture.pcap", 1), "/r/capture.pcap");
  assert.equal(pcapSegmentPath("/r/capture.pcap", 12), "/r/capture.12.pcap");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pcap-test-"));
  try {
    const file = path.join(dir, "capture.pcap");
    const ps = recordedBothCalls().map(packet);
    const maxBytes = PCAP_SEGMENTS * 64 * 1024;
    const w = openPcapWriter(file, { maxBytes });
    const written: HepPacket[] = [];
    for (let i = 0; i < 20_000; i++) {
      const p = ps[i % ps.length]!;
      w.write(p);
      written.push(p);
    }
    await w.close();
    const k = w.kept();
    assert.equal(w.records, 20_000);
    assert.equal(k.files.length, PCAP_SEGMENTS);
    assert.equal(k.files[0], "capture.pcap");
    assert.deepEqual(readdirSync(dir).sort(), [...k.files].sort(), "the files it says it kept, and only those");
    assert.ok(k.bytes <= maxBytes + 70_000, `${k.bytes} bytes kept under the cap ${maxBytes}`);
    assert.equal(k.records + k.dropped.records, 20_000, "every record kept or counted as let go");
    assert.ok(k.dropped.files > 0);
    // each kept file is a whole pcap: the header, then records in capture order; the last one ends the capture
    let total = 0;
    let last = -1;
    for (const f of k.files) {
      const b = readFileSync(path.join(dir, f));
      assert.ok(b.subarray(0, 24).equals(pcapGlobalHeader()), f);
      let off = 24;
      while (off < b.length) {
        off += 16 + b.readUInt32LE(off + 8);
        total++;
      }
      assert.equal(off, b.length, `${f} ends on a record`);
      if (f === k.files.at(-1)) last = b.length;
    }
    assert.equal(total, k.records);
    assert.ok(last > 24);
    const tail = readFileSync(path.join(dir, k.files.at(-1)!));
    const lastRecord = pcapRecord(written.at(-1)!);
    assert.ok(
      tail.subarray(tail.length - lastRecord.length).equals(lastRecord),
      "the latest segment ends with the last packet",
    );
    assert.match(
      pcapKeptText(k),
      /capture\.pcap \+ capture\.\d+\.pcap, .*: the run's start and its latest part, under the 0\.5 MB cap; \d+ segment\(s\) between them deleted/,
    );
    // uncapped: one file, as before
    const one = openPcapWriter(path.join(dir, "one.pcap"));
    for (const p of ps) one.write(p);
    await one.close();
    assert.deepEqual(one.kept().files, ["one.pcap"]);
    assert.equal(one.kept().dropped.files, 0);
    assert.match(pcapKeptText(one.kept()), /^one\.pcap \(0\.0 MB, 56 records\)$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a capped capture of another capture's records (the media stream): each segment starts with that capture's header, records kept byte for byte", async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { openPcapSegments, RAW_PCAP_RECORD, PCAP_SEGMENTS } = await import("./pcap.js");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pcap-raw-"));
  try {
    // an Ethernet capture's header (link type 1), and records of 16 + 200 bytes
    const header = Buffer.from(pcapGlobalHeader());
    header.writeUInt32LE(1, 20);
    const record = (i: number): Buffer => {
      const r = Buffer.alloc(216, i % 251);
      r.writeUInt32LE(i, 0);
      r.writeUInt32LE(200, 8);
      r.writeUInt32LE(200, 12);
      return r;
    };
    const file = path.join(dir, "media.pcap");
    const w = openPcapSegments(file, RAW_PCAP_RECORD, { header, maxBytes: PCAP_SEGMENTS * 64 * 1024 });
    // and one record bigger than a write chunk
    const big = Buffer.alloc(16 + 300_000, 7);
    big.writeUInt32LE(300_000, 8);
    for (let i = 0; i < 10_000; i++) w.write(i === 5000 ? big : record(i));
    await w.close();
    const k = w.kept();
    assert.equal(w.records, 10_000);
    assert.equal(k.files[0], "media.pcap");
    assert.ok(k.dropped.files > 0);
    assert.equal(k.records + k.dropped.records, 10_000);
    const first = readFileSync(file);
    assert.ok(first.subarray(0, 24).equals(header));
    assert.ok(first.subarray(24, 24 + 216).equals(record(0)));
    const last = readFileSync(path.join(dir, k.files.at(-1)!));
    assert.ok(last.subarray(0, 24).equals(header));
    assert.ok(last.subarray(last.length - 216).equals(record(9999)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
