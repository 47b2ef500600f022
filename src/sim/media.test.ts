import assert from "node:assert/strict";
import { test } from "node:test";
import type { LoggedMessage } from "../sip/message-log.js";
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import {
  callMedia,
  callSignalsOf,
  mediaAssertion,
  oneWayReason,
  pbxRtpByCall,
  rtpPacketsOf,
  type CallMedia,
} from "./media.js";

/** a classic pcap of Ethernet frames (what dumpcap writes for lo), each an IPv4/UDP datagram */
type Frame = { src: [string, number]; dst: [string, number]; payload: Buffer; ms?: number };
function pcapOf(frames: Frame[]): Buffer {
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
    const ms = f.ms ?? 0;
    rec.writeUInt32LE(Math.floor(ms / 1000), 0);
    rec.writeUInt32LE(Math.round((ms % 1000) * 1000), 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    return Buffer.concat([rec, frame]);
  });
  return Buffer.concat([head, ...recs]);
}

function rtp(ssrc: number, pt = 0): Buffer {
  const b = Buffer.alloc(12 + 160);
  b[0] = 0x80;
  b[1] = pt;
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** `n` packets 20 ms apart from `at` */
const stream = (n: number, at: number, f: Omit<Frame, "ms">): Frame[] =>
  Array.from({ length: n }, (_, i) => ({ ...f, ms: at + 20 * i }));

const CALLER: [string, number] = ["127.0.0.1", 30000];
const PBX: [string, number] = ["127.0.0.1", 6000];

test("rtpPacketsOf: IPv4/UDP RTP datagrams of a pcap with addresses, SSRC, payload type and time; non-RTP skipped", () => {
  const p = rtpPacketsOf(
    pcapOf([
      { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC), ms: 1_700_000_000_020.5 },
      { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC, 8), ms: 1_700_000_000_040 },
      { src: CALLER, dst: ["127.0.0.1", 30040], payload: Buffer.alloc(12) },
    ]),
  );
  assert.deepEqual(p, [
    { src: "127.0.0.1:30000", dst: "127.0.0.1:6000", ssrc: 0xca110000, pt: 0, ms: 1_700_000_000_020.5 },
    { src: "127.0.0.1:6000", dst: "127.0.0.1:30000", ssrc: 0xca110000, pt: 8, ms: 1_700_000_000_040 },
  ]);
  assert.throws(() => rtpPacketsOf(Buffer.alloc(24, 1)), /not a classic pcap file/);
});

const INVITE =
  "INVITE sip:cutover@127.0.0.1:5060 SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 30000 RTP/AVP 0\r\n";
const OK =
  "SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 6000 RTP/AVP 0\r\n";
const BYE = "BYE sip:cutover@127.0.0.1:6000 SIP/2.0\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n\r\n";
const BYE_OK = "SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\n\r\n";

test("callSignalsOf: the caller's offer (its INVITE), the answer (the 2xx it received) and its BYE's time per Call-ID", () => {
  const rec = (direction: "sent" | "received", text: string, stamp = ""): LoggedMessage => ({
    offset: 0,
    stamp,
    direction,
    transport: "UDP",
    text,
  });
  const signals = callSignalsOf([
    rec("sent", INVITE),
    rec("received", OK),
    rec("sent", BYE, "2026-11-23 22:51:52.507765"),
    rec("received", BYE_OK),
  ]);
  assert.deepEqual(
    [...signals],
    [
      [
        "c1",
        {
          offer: { address: "127.0.0.1:30000", formats: [0] },
          answer: { address: "127.0.0.1:6000", formats: [0] },
          byeAt: new Date(2026, 10, 23, 22, 51, 52).getTime() + 507.765,
        },
      ],
    ],
  );
});

const OFFER = { address: "127.0.0.1:30000", formats: [0] };
const sdp = new Map([
  ["c1", { offer: OFFER, answer: { address: "127.0.0.1:6000", formats: [0] } }],
  ["c2", { offer: OFFER, answer: { address: "127.0.0.1:6000", formats: [0] } }],
]);

test("callMedia: the k-th stream's SSRC is the k-th logged call's; sent, received from the answer, and from elsewhere", () => {
  const frames = [
    ...stream(50, 0, { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(49, 1, { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(50, 0, { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC + 1) }),
    { src: ["127.0.0.9", 7000] as [string, number], dst: CALLER, payload: rtp(SIPP_BASE_SSRC + 1), ms: 100 },
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
  offeredFormats: [0],
  answeredFormats: [0],
  sent,
  received,
  receivedElsewhere: 0,
  wrongPayload: 0,
  windowMs: 1000,
  expected: 50,
});

test("media-both-ways: 90% of the expected packets each way passes; below it or 0 fails naming the direction", () => {
  assert.equal(oneWayReason(call(45, 45)), undefined);
  // the caller's own shortfall is not the PBX's: what comes back is judged against what was sent
  assert.equal(oneWayReason(call(44, 44)), undefined);
  assert.match(
    oneWayReason(call(44, 39)) ?? "",
    /^PBX->caller 39 packets from 127\.0\.0\.1:6000 \(expected >= 40 of 44\)$/,
  );
  assert.match(
    oneWayReason(call(0, 0)) ?? "",
    /^caller->PBX 0 packets \(the caller's stream did not run\); PBX->caller 0/,
  );
  assert.match(oneWayReason(call(50, 0)) ?? "", /^PBX->caller 0 packets from 127\.0\.0\.1:6000/);
  const a = mediaAssertion("new", [call(50, 50), { ...call(50, 0), callId: "bad" }]);
  assert.equal(a.verdict, "fail");
  assert.equal(a.numbers.noAudioPbxToCaller, 1);
  assert.match(a.offenders[0] ?? "", /^bad: PBX->caller 0 packets/);
  assert.equal(mediaAssertion("new", [call(50, 50)]).verdict, "pass");
  assert.equal(mediaAssertion("new", undefined, "dumpcap failed").verdict, "inconclusive");
  assert.equal(mediaAssertion("new", []).verdict, "inconclusive");
  // a call whose stream never started is not judged: the caller's, not the PBX's
  const starved = mediaAssertion("new", [call(50, 50), { ...call(0, 0), callId: "starved" }]);
  assert.equal(starved.verdict, "pass");
  assert.match(
    starved.details,
    /^1\/1 calls with audio both ways; .*; 1 not judged \(the caller's stream never started\)$/,
  );
  assert.equal(mediaAssertion("new", [call(0, 0)]).verdict, "inconclusive");
});

test("callMedia: a PBX that sends its own stream (FreeSWITCH's echo: its SSRC, its port per call) counts for the call answered there; a port used again by a later call goes to that call", () => {
  const fs1: [string, number] = ["127.0.0.1", 16100];
  const fs2: [string, number] = ["127.0.0.1", 16102];
  const t0 = 1_700_000_000_000;
  const signals = new Map([
    ["a", { offer: OFFER, answer: { address: "127.0.0.1:16100", formats: [0] }, byeAt: t0 + 1000 }],
    ["b", { offer: OFFER, answer: { address: "127.0.0.1:16102", formats: [0] }, byeAt: t0 + 1500 }],
    ["c", { offer: OFFER, answer: { address: "127.0.0.1:16100", formats: [0] }, byeAt: t0 + 3000 }],
  ]);
  const frames = [
    ...stream(50, t0, { src: CALLER, dst: fs1, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(49, t0 + 1, { src: fs1, dst: CALLER, payload: rtp(0x1111) }),
    ...stream(50, t0 + 500, { src: CALLER, dst: fs2, payload: rtp(SIPP_BASE_SSRC + 1) }),
    ...stream(30, t0 + 501, { src: fs2, dst: CALLER, payload: rtp(0x2222) }),
    ...stream(50, t0 + 2000, { src: CALLER, dst: fs1, payload: rtp(SIPP_BASE_SSRC + 2) }),
    ...stream(50, t0 + 2001, { src: fs1, dst: CALLER, payload: rtp(0x3333) }),
  ].sort((x, y) => x.ms! - y.ms!);
  const calls = callMedia(["a", "b", "c"], signals, rtpPacketsOf(pcapOf(frames)), 1000);
  assert.deepEqual(
    calls.map((c) => [c.callId, c.sent, c.received, c.receivedElsewhere, c.expected]),
    [
      ["a", 50, 49, 0, 50],
      ["b", 50, 30, 0, 50],
      ["c", 50, 50, 0, 50],
    ],
  );
  assert.equal(oneWayReason(calls[0]!), undefined);
  assert.match(
    oneWayReason(calls[1]!) ?? "",
    /^PBX->caller 30 packets from 127\.0\.0\.1:16102 \(expected >= 45 of 50\)$/,
  );
});

test("callMedia: what is expected is the time media flowed, from the caller's first packet to its BYE (a stream that started late is not held against the PBX)", () => {
  const t0 = 1_700_000_000_000;
  const signals = new Map([
    ["a", { offer: OFFER, answer: { address: "127.0.0.1:6000", formats: [0] }, byeAt: t0 + 300 }],
  ]);
  // held 400 ms, the stream started 100 ms late: 15 packets each way in the 300 ms it flowed
  const frames = [
    ...stream(15, t0, { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(14, t0 + 1, { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC) }),
  ].sort((x, y) => x.ms! - y.ms!);
  const [a] = callMedia(["a"], signals, rtpPacketsOf(pcapOf(frames)), 400);
  assert.deepEqual([a!.windowMs, a!.expected, a!.sent, a!.received], [300, 15, 15, 14]);
  assert.equal(oneWayReason(a!), undefined);
  // without a BYE in the log: the caller's last packet (and its 20 ms) ends it
  const [b] = callMedia(
    ["a"],
    new Map([["a", { ...signals.get("a")!, byeAt: undefined }]]),
    rtpPacketsOf(pcapOf(frames)),
    400,
  );
  assert.equal(b!.windowMs, 300);
});

test("media-both-ways: an answer whose payload types the offer does not hold is a codec mismatch; packets back in another payload type are named", () => {
  const mismatch = { ...call(50, 50), answeredFormats: [8], wrongPayload: 50 };
  assert.equal(
    oneWayReason(mismatch),
    "codec mismatch: the 200 OK answers payload 8, the INVITE offered 0; 50 packets came back with a payload type the answer did not name",
  );
  const signals = new Map([["a", { offer: OFFER, answer: { address: "127.0.0.1:6000", formats: [8] } }]]);
  const frames = [
    { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC) },
    { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC, 0) },
  ];
  const [a] = callMedia(["a"], signals, rtpPacketsOf(pcapOf(frames)), 20);
  assert.deepEqual([a!.answeredFormats, a!.wrongPayload], [[8], 1]);
});

test("media-both-ways with the PBX's own count: a caller->PBX loss is the PBX receiving too few; PBX->caller says whether the PBX sent none or its packets were lost on the way", () => {
  const pbx = (inPackets: number, outPackets: number): CallMedia["pbx"] => ({
    backend: "new",
    inPackets,
    outPackets,
    inMos: 4.5,
  });
  assert.equal(oneWayReason({ ...call(50, 49), pbx: pbx(50, 49) }), undefined);
  assert.equal(
    oneWayReason({ ...call(50, 0), pbx: pbx(50, 0) }),
    "PBX->caller 0 packets from 127.0.0.1:6000 (expected >= 45 of 50); new's PBX sent none",
  );
  assert.equal(
    oneWayReason({ ...call(50, 0), pbx: pbx(50, 50) }),
    "PBX->caller 0 packets from 127.0.0.1:6000 (expected >= 45 of 50); new's PBX sent 50: lost between it and the caller",
  );
  assert.equal(
    oneWayReason({ ...call(50, 0), pbx: pbx(0, 0) }),
    "caller->PBX: new's PBX received 0 of the caller's 50 packets (expected >= 45 of 50); PBX->caller 0 packets from 127.0.0.1:6000 (expected >= 45 of 50); new's PBX sent none",
  );
});

test("pbxRtpByCall: each call's counts from the FreeSWITCH that reported them, by Call-ID", () => {
  const fsCall = (callId: string, rtp?: { inPackets: number; outPackets: number; inMos: number | undefined }) => ({
    callId,
    channels: [],
    createdAtMs: 1,
    answeredAtMs: 2,
    hungUpAtMs: 3,
    hangupCause: "NORMAL_CLEARING",
    hangupDisposition: "recv_bye",
    byeReceived: true,
    complete: true,
    ...(rtp ? { rtp } : {}),
  });
  const m = pbxRtpByCall({
    old: [fsCall("a", { inPackets: 50, outPackets: 50, inMos: 4.5 })],
    new: [fsCall("b", { inPackets: 50, outPackets: 0, inMos: 4.5 }), fsCall("c")],
  });
  assert.deepEqual([...m.keys()], ["a", "b"]);
  assert.deepEqual(m.get("b"), { backend: "new", inPackets: 50, outPackets: 0, inMos: 4.5 });
});

test("callMedia: two streams that took their SSRCs out of the order their calls logged them are matched by where each was sent (its call's answered address)", () => {
  const OLD: [string, number] = ["127.0.0.1", 6000];
  const NEW: [string, number] = ["127.0.0.1", 6002];
  const signals = new Map([
    ["a", { offer: OFFER, answer: { address: "127.0.0.1:6000", formats: [0] } }],
    ["b", { offer: OFFER, answer: { address: "127.0.0.1:6002", formats: [0] } }],
  ]);
  // a logged first but its stream took the second SSRC: SSRC 0 went to new (b's), SSRC 1 to old (a's)
  const frames = [
    ...stream(50, 0, { src: CALLER, dst: NEW, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(50, 1, { src: NEW, dst: CALLER, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(50, 2, { src: CALLER, dst: OLD, payload: rtp(SIPP_BASE_SSRC + 1) }),
    ...stream(50, 3, { src: OLD, dst: CALLER, payload: rtp(SIPP_BASE_SSRC + 1) }),
  ].sort((x, y) => x.ms! - y.ms!);
  const calls = callMedia(["a", "b"], signals, rtpPacketsOf(pcapOf(frames)), 1000);
  assert.deepEqual(
    calls.map((c) => [c.callId, c.sent, c.received, c.receivedElsewhere]),
    [
      ["a", 50, 50, 0],
      ["b", 50, 50, 0],
    ],
  );
});
