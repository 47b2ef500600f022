import assert from "node:assert/strict";
import { test } from "node:test";
import type { LoggedMessage } from "../sip/message-log.js";
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import {
  audioOf,
  callMedia,
  callSignalsOf,
  mediaAssertion,
  oneWayReason,
  pbxRtpByCall,
  PcapReader,
  rtpPacketsOf,
  sippCallNumber,
  udpDatagramsOf,
  type CallMedia,
} from "./rtp.js";
import { pcapOf, rtp, type Frame } from "./pcap-fixture.js";

/** `n` packets 20 ms apart from `at` */
const stream = (n: number, at: number, f: Omit<Frame, "ms">): Frame[] =>
  Array.from({ length: n }, (_, i) => ({ ...f, ms: at + 20 * i }));

const CALLER: [string, number] = ["127.0.0.1", 30000];
const PBX: [string, number] = ["127.0.0.1", 6000];

test("rtpPacketsOf: IPv4/UDP RTP datagrams of a pcap with addresses, SSRC, payload type and time; non-RTP skipped", () => {
  const p = rtpPacketsOf(
    pcapOf([
      { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC, 0, 7, 1120), ms: 1_700_000_000_020.5 },
      { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC, 8, 65535, 2 ** 32 - 1), ms: 1_700_000_000_040 },
      { src: CALLER, dst: ["127.0.0.1", 30040], payload: Buffer.alloc(12) },
    ]),
  );
  assert.deepEqual(p, [
    {
      src: "127.0.0.1:30000",
      dst: "127.0.0.1:6000",
      ssrc: 0xca110000,
      seq: 7,
      ts: 1120,
      pt: 0,
      ms: 1_700_000_000_020.5,
    },
    {
      src: "127.0.0.1:6000",
      dst: "127.0.0.1:30000",
      ssrc: 0xca110000,
      seq: 65535,
      ts: 2 ** 32 - 1,
      pt: 8,
      ms: 1_700_000_000_040,
    },
  ]);
  // read as it grows, a byte at a time: the same datagrams
  const whole = pcapOf([
    { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC, 0, 1, 160), ms: 5 },
    { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC, 0, 1, 160), ms: 6 },
  ]);
  const r = new PcapReader();
  const got = [];
  for (let i = 0; i < whole.length; i++) got.push(...r.push(whole.subarray(i, i + 1)));
  assert.deepEqual(
    got.map((d) => [d.src, d.dst, d.ms, d.payload.length]),
    udpDatagramsOf(whole).map((d) => [d.src, d.dst, d.ms, d.payload.length]),
  );
  assert.equal(got.length, 2);
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
  callerToPbx: { received: sent, expected: sent, lost: 0, lossPercent: 0, jitterMs: 0 },
  pbxToCaller: { received, expected: received, lost: 0, lossPercent: 0, jitterMs: 0 },
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
    /^1\/1 calls with audio both ways; .*; 1 not judged \(the caller's stream never started\); PBX->caller loss 0\.00% \(0 of 50, RFC 3550\), jitter p50 0\.0 ms, max 0\.0 ms; caller's own sending jitter p50 0\.0 ms$/,
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

test("media-both-ways with the PBX's own count: the caller's packets after its BYE (a busy caller streams on until the BYE's answer) are not held against the PBX", () => {
  const t0 = 1_700_000_000_000;
  const signals = new Map([
    ["a", { offer: OFFER, answer: { address: "127.0.0.1:6000", formats: [0] }, byeAt: t0 + 290 }],
  ]);
  // 15 packets until the BYE (t0 .. t0 + 280), 10 more after it; the PBX got and echoed the 15
  const frames = [
    ...stream(25, t0, { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(15, t0 + 1, { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC) }),
  ].sort((x, y) => x.ms! - y.ms!);
  const [a] = callMedia(["a"], signals, rtpPacketsOf(pcapOf(frames)), 1000);
  assert.deepEqual([a!.sent, a!.sentBeforeBye, a!.received, a!.expected], [25, 15, 15, 14]);
  const judged = { ...a!, pbx: { backend: "old" as const, inPackets: 15, outPackets: 15, inMos: 4.5 } };
  assert.equal(oneWayReason(judged), undefined);
  assert.deepEqual(audioOf(judged), { judged: true, oneWay: false, expected: 14, lost: 0 });
  // the PBX short of what the caller sent before its BYE still fails
  assert.equal(
    oneWayReason({ ...judged, pbx: { ...judged.pbx, inPackets: 10 } }),
    "caller->PBX: old's PBX received 10 of the caller's 15 packets (expected >= 14 of 15)",
  );
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

test("callMedia: RFC 3550 loss and jitter per direction from sequence numbers, RTP timestamps and arrival times; audioOf", () => {
  const ssrc = SIPP_BASE_SSRC;
  const signals = new Map([
    [
      "c1",
      { offer: { address: "127.0.0.1:30000", formats: [0] }, answer: { address: "127.0.0.1:6000", formats: [0] } },
    ],
  ]);
  const frames: Frame[] = [];
  for (let i = 0; i < 50; i++) {
    // the caller sends 50 packets 20 ms apart (160 units each); the PBX's echo loses seq 10-14 and
    // every other packet comes back 4 ms late
    frames.push({ src: CALLER, dst: PBX, payload: rtp(ssrc, 0, 100 + i, 1000 + 160 * i), ms: 10_000 + 20 * i });
    if (i >= 10 && i < 15) continue;
    frames.push({
      src: PBX,
      dst: CALLER,
      payload: rtp(ssrc, 0, 100 + i, 1000 + 160 * i),
      ms: 10_001 + 20 * i + (i % 2) * 4,
    });
  }
  const [c] = callMedia(["c1"], signals, rtpPacketsOf(pcapOf(frames)), 1000);
  assert.deepEqual([c!.sent, c!.received], [50, 45]);
  assert.deepEqual([c!.callerToPbx.expected, c!.callerToPbx.lost, c!.callerToPbx.jitterMs], [50, 0, 0]);
  assert.deepEqual([c!.pbxToCaller.received, c!.pbxToCaller.expected, c!.pbxToCaller.lost], [45, 50, 5]);
  assert.equal(c!.pbxToCaller.lossPercent, 10);
  // |D| is 4 ms on every step but the one over the gap (D = 0 ms between two late packets): J tends to 4 ms
  const j = c!.pbxToCaller.jitterMs!;
  assert.ok(j > 3 && j < 4, String(j));
  assert.deepEqual(audioOf(c!), { judged: true, oneWay: false, expected: 50, lost: 5 });
  assert.equal(audioOf({ ...c!, received: 0 }).oneWay, true);
  assert.equal(audioOf({ ...c!, sent: 0, received: 0 }).judged, false);
});

test("callMedia: a call's SSRC is its SIPp call number's (set up when the call is created), whatever order the streams started in", () => {
  // call 1 was answered 800 ms late (a slow PBX): calls 2-13 logged their streams before it did,
  // further apart than any reordering by log position can mend
  const id = (n: number): string => `pbxc-r1-traffic-${n}-4242@127.0.0.1`;
  const OLD = "127.0.0.1:6000";
  const SLOW = "127.0.0.1:6020";
  const offer = { address: "127.0.0.1:30000", formats: [0] };
  const signals = new Map([[id(1), { offer, answer: { address: SLOW, formats: [0] } }]]);
  const to = (a: string): [string, number] => [a.split(":")[0]!, Number(a.split(":")[1])];
  const frames: Frame[] = [];
  for (let n = 2; n <= 13; n++) {
    signals.set(id(n), { offer, answer: { address: OLD, formats: [0] } });
    frames.push(...stream(50, 20 * n, { src: CALLER, dst: to(OLD), payload: rtp(SIPP_BASE_SSRC + n - 1) }));
    frames.push(...stream(50, 20 * n + 1, { src: to(OLD), dst: CALLER, payload: rtp(SIPP_BASE_SSRC + n - 1) }));
  }
  frames.push(...stream(50, 800, { src: CALLER, dst: to(SLOW), payload: rtp(SIPP_BASE_SSRC) }));
  frames.push(...stream(50, 801, { src: to(SLOW), dst: CALLER, payload: rtp(SIPP_BASE_SSRC) }));
  assert.equal(sippCallNumber(id(12)), 12);
  assert.equal(sippCallNumber("c1"), undefined);
  const logged = [...Array.from({ length: 12 }, (_, i) => id(i + 2)), id(1)];
  const calls = callMedia(logged, signals, rtpPacketsOf(pcapOf(frames)), 1000);
  assert.equal(calls.length, 13);
  for (const c of calls) {
    assert.deepEqual([c.callId, c.sent, c.received, c.receivedElsewhere], [c.callId, 50, 50, 0]);
    assert.equal(oneWayReason(c), undefined, c.callId);
  }
});

test("PcapReader.pushRtp: the same packets as the datagram path, whole or a byte at a time, into a reused buffer", () => {
  const whole = pcapOf([
    { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC, 0, 1, 160), ms: 5 },
    { src: PBX, dst: CALLER, payload: Buffer.alloc(12), ms: 5.5 },
    { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC, 8, 1, 160), ms: 6 },
    { src: ["127.0.0.9", 4000], dst: CALLER, payload: rtp(77, 0, 2, 320), ms: 7 },
  ]);
  const expected = rtpPacketsOf(whole);
  assert.equal(expected.length, 3);
  assert.deepEqual(new PcapReader().pushRtp(whole), expected);
  const r = new PcapReader();
  const reused = Buffer.alloc(1);
  const got = [];
  for (let i = 0; i < whole.length; i++) {
    whole.copy(reused, 0, i, i + 1);
    got.push(...r.pushRtp(reused));
  }
  assert.deepEqual(got, expected);
  // odd chunk sizes, each read into the same buffer overwritten before the next
  for (const size of [7, 16, 17, 40, 100]) {
    const rr = new PcapReader();
    const buf = Buffer.alloc(size);
    const out = [];
    for (let i = 0; i < whole.length; i += size) {
      const n = whole.copy(buf, 0, i, Math.min(whole.length, i + size));
      out.push(...rr.pushRtp(buf.subarray(0, n)));
      buf.fill(0xee);
    }
    assert.deepEqual(out, expected, `chunks of ${size}`);
  }
});

test("PcapReader: a stream pushed in pieces that cut the header and records anywhere gives every record once, whole, and the same datagrams", () => {
  const pcap = pcapOf(
    Array.from({ length: 20 }, (_, i) => ({
      src: CALLER,
      dst: PBX,
      payload: rtp(SIPP_BASE_SSRC + i, 0, i),
      ms: 1000 + i,
    })),
  );
  const whole = udpDatagramsOf(pcap).map((d) => d.payload.readUInt32BE(8));
  for (const piece of [1, 7, 23, 229, 231, 5000]) {
    const records: Buffer[] = [];
    const r = new PcapReader((rec) => records.push(Buffer.from(rec)));
    const ssrcs: number[] = [];
    for (let at = 0; at < pcap.length; at += piece)
      for (const d of r.push(pcap.subarray(at, at + piece))) ssrcs.push(d.payload.readUInt32BE(8));
    assert.deepEqual(ssrcs, whole, `pieces of ${piece}`);
    assert.ok(r.header?.equals(pcap.subarray(0, 24)));
    assert.ok(Buffer.concat([r.header!, ...records]).equals(pcap), `records of pieces of ${piece}`);
  }
});

test("PcapReader.pushRtp: the stream cut in two at every byte offset, each piece in one reused buffer overwritten after it: every record once, byte for byte, the same packets, the other datagrams to notRtp", () => {
  const frames: Frame[] = [
    { src: CALLER, dst: PBX, payload: rtp(SIPP_BASE_SSRC, 0, 1, 160), ms: 5 },
    { src: CALLER, dst: ["127.0.0.1", 30040], payload: Buffer.alloc(12), ms: 5.5 },
    { src: PBX, dst: CALLER, payload: rtp(SIPP_BASE_SSRC, 8, 1, 160), ms: 6 },
    { src: ["127.0.0.9", 4000], dst: CALLER, payload: rtp(77, 0, 2, 320), ms: 7 },
  ];
  const whole = pcapOf(frames);
  const expected = rtpPacketsOf(whole);
  assert.equal(expected.length, 3);
  const buf = Buffer.alloc(whole.length);
  for (let cut = 0; cut <= whole.length; cut++) {
    const records: Buffer[] = [];
    const others: string[] = [];
    const r = new PcapReader((rec) => records.push(Buffer.from(rec)));
    const got = [];
    for (const [from, to] of [
      [0, cut],
      [cut, whole.length],
    ] as const) {
      const n = whole.copy(buf, 0, from, to);
      got.push(...r.pushRtp(buf.subarray(0, n), (port, payload) => others.push(`${port}/${payload.length}`)));
      buf.fill(0xee);
    }
    assert.deepEqual(got, expected, `cut at ${cut}`);
    assert.deepEqual(others, ["30040/12"], `cut at ${cut}`);
    assert.ok(r.header?.equals(whole.subarray(0, 24)), `cut at ${cut}`);
    assert.ok(Buffer.concat([r.header!, ...records]).equals(whole), `records, cut at ${cut}`);
  }
});

test("PcapReader: a record longer than any snapshot length is no pcap stream (refused, not waited for)", () => {
  const bad = Buffer.from(pcapOf([{ src: CALLER, dst: PBX, payload: rtp(1) }]).subarray(0, 40));
  bad.writeUInt32LE(2 ** 31, 24 + 8);
  assert.throws(() => new PcapReader().pushRtp(bad), /not a pcap file or stream/);
  // its header alone in the first piece
  const r = new PcapReader();
  r.pushRtp(bad.subarray(0, 30));
  assert.throws(() => r.pushRtp(bad.subarray(30)), /not a pcap file or stream/);
});
