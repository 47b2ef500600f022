import assert from "node:assert/strict";
import { test } from "node:test";
import { dumpcapArgv, markerAt } from "./capture.js";
import { pcapOf, rtp } from "./pcap-fixture.js";

const CALLER: [string, number] = ["127.0.0.1", 30000];

test("markerAt: the 12-zero-byte datagram to the marker port, not RTP to it nor zeros to another port", () => {
  const before = pcapOf([
    { src: CALLER, dst: ["127.0.0.1", 30040], payload: rtp(1) },
    { src: CALLER, dst: ["127.0.0.1", 30038], payload: Buffer.alloc(12) },
  ]);
  assert.equal(markerAt(before, 30040), -1);
  const withMarker = pcapOf([
    { src: CALLER, dst: ["127.0.0.1", 30040], payload: rtp(1) },
    { src: CALLER, dst: ["127.0.0.1", 30040], payload: Buffer.alloc(12) },
  ]);
  const at = markerAt(withMarker, 30040);
  assert.ok(at > 0);
  assert.equal(withMarker.readUInt16BE(at), 30040);
  // cut just before the end of its payload: not yet
  assert.equal(markerAt(withMarker.subarray(0, withMarker.length - 1), 30040), -1);
});

test("dumpcapArgv: loopback, pcap format, the caller's port range", () => {
  assert.deepEqual(dumpcapArgv("dumpcap", 30000, "m.pcap"), [
    "dumpcap",
    "-i",
    "lo",
    "-P",
    "-q",
    "-f",
    "udp portrange 30000-30040",
    "-w",
    "m.pcap",
  ]);
});
