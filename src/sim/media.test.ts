import assert from "node:assert/strict";
import { test } from "node:test";
import type { LoggedMessage } from "../sip/message-log.js";
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import { callMedia, mediaAssertion, oneWayReason, rtpPacketsOf, sdpAddressesOf, type CallMedia } from "./media.js";

/** a classic pcap of Ethernet frames (what dumpcap writes for lo), each an IPv4/UDP datagram */
function pcapOf(frames: { src: [string, number]; dst: [string, number]; payload: Buffer }[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const recs = frames.map((f) => {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip[9] = 17;
    Buffer.from(f.src[0].split(".").map(Number)).copy(ip, 12);
    Buffer.from(f.dst[0].split(".").map(Number)).copy(ip, 16);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(f.src[1], 0);
    udp.writeUInt16BE(f.dst[1], 2);
    const frame = Buffer.concat([Buffer.alloc(14), ip, udp, f.payload]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...recs]);
}

function rtp(ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160);
  b[0] = 0x80;
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

const CALLER: [string, number] = ["127.0.0.1", 30000];
const PBX: [string, number] = ["127.0.0.1", 6000];

test("rtpPacketsOf: IPv4/UDP RTP datagrams of a pcap with their addresses and SSRC; non-RTP payloads skipped", () => {
  const p = rtpPacketsOf(
    pcapOf([
      { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC) },
      { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC) },
      { src: CALLER, dst: ["127.0.0.1", 30040], payload: Buffer.alloc(12) },
    ]),
  );
  assert.deepEqual(p, [
    { src: "127.0.0.1:30000", dst: "127.0.0.1:6000", ssrc: 0xca110000 },
    { src: "127.0.0.1:6000", dst: "127.0.0.1:30000", ssrc: 0xca110000 },
  ]);
  assert.throws(() => rtpPacketsOf(Buffer.alloc(24, 1)), /not a classic pcap file/);
});

const INVITE =
  "INVITE sip:cutover@127.0.0.1:5060 SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 30000 RTP/AVP 0\r\n";
const OK =
  "SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 0\r\n";
const BYE_OK = "SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n\r\n";

test("sdpAddressesOf: the caller's offer (its INVITE) and the answer (the 2xx it received) per Call-ID", () => {
  const rec = (direction: "sent" | "received", text: string): LoggedMessage => ({
    offset: 0,
    stamp: "",
    direction,
    transport: "UDP",
    text,
  });
  const sdp = sdpAddressesOf([rec("sent", INVITE), rec("received", OK), rec("received", BYE_OK)]);
  assert.deepEqual([...sdp], [["c1", { offer: "127.0.0.1:30000", answer: "127.0.0.1:6000" }]]);
});

const sdp = new Map([
  ["c1", { offer: "127.0.0.1:30000", answer: "127.0.0.1:6000" }],
  ["c2", { offer: "127.0.0.1:30000", answer: "127.0.0.1:6000" }],
]);

test("callMedia: the k-th stream's SSRC is the k-th logged call's; sent, received from the answer, and from elsewhere", () => {
  const frames = [
    ...Array.from({ length: 50 }, () => ({ src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC) })),
    ...Array.from({ length: 49 }, () => ({ src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC) })),
    ...Array.from({ length: 50 }, () => ({ src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC + 1) })),
    { src: ["127.0.0.9", 7000] as [string, number], dst: CALLER, payload: rtp(SIPP_BASE_SSRC + 1) },
  ];
  const calls = callMedia(["c2", "c1"], sdp, rtpPacketsOf(pcapOf(frames)), 1000);
  const by = Object.fromEntries(calls.map((c) => [c.callId, c]));
  assert.deepEqual([by.c2!.sent, by.c2!.received, by.c2!.receivedElsewhere], [50, 49, 0]);
  assert.deepEqual([by.c1!.sent, by.c1!.received, by.c1!.receivedElsewhere], [50, 0, 1]);
  assert.equal(oneWayReason(by.c2!), undefined);
  assert.equal(
    oneWayReason(by.c1!),
    "PBX->caller 0 packets from 127.0.0.1:6000 (expected >= 45 of 50); 1 packets came back from an address not in the 200 OK's SDP",
  );
});

test("callMedia: an answered call whose stream never started counts 0 both ways", () => {
  const calls = callMedia(["c1"], sdp, [], 1000);
  assert.deepEqual(
    calls.map((c) => [c.callId, c.sent, c.received]),
    [
      ["c1", 0, 0],
      ["c2", 0, 0],
    ],
  );
});

const call = (sent: number, received: number): CallMedia => ({
  callId: "c",
  caller: "127.0.0.1:30000",
  answered: "127.0.0.1:6000",
  sent,
  received,
  receivedElsewhere: 0,
  expected: 50,
});

test("media-both-ways: 90% of the expected packets each way passes; below it or 0 fails naming the direction", () => {
  assert.equal(oneWayReason(call(45, 45)), undefined);
  assert.match(oneWayReason(call(44, 50)) ?? "", /^caller->PBX 44 packets \(expected >= 45 of 50\)$/);
  assert.match(oneWayReason(call(50, 0)) ?? "", /^PBX->caller 0 packets from 127\.0\.0\.1:6000/);
  const a = mediaAssertion("new", [call(50, 50), { ...call(50, 0), callId: "bad" }]);
  assert.equal(a.verdict, "fail");
  assert.equal(a.numbers.noAudioPbxToCaller, 1);
  assert.match(a.offenders[0] ?? "", /^bad: PBX->caller 0 packets/);
  assert.equal(mediaAssertion("new", [call(50, 50)]).verdict, "pass");
  assert.equal(mediaAssertion("new", undefined, "dumpcap failed").verdict, "inconclusive");
  assert.equal(mediaAssertion("new", []).verdict, "inconclusive");
});
