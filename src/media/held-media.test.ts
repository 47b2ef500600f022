import assert from "node:assert/strict";
import { test } from "node:test";
import { SIPP_BASE_SSRC } from "../sipp/media.js";
import { COUNT_AFTER_BYE_MS, HeldMedia } from "./held-media.js";
import { pcapOf, rtp, type Frame } from "./pcap-fixture.js";
import { callMedia, rtpPacketsOf, type CallSignals } from "./rtp.js";

const id = (n: number): string => `pbxc-r1-traffic-${n}-4242@127.0.0.1`;
const CALLER: [string, number] = ["127.0.0.1", 30000];
const OFFER = { address: "127.0.0.1:30000", formats: [0] };
const FS1: [string, number] = ["127.0.0.1", 16100];
const FS2: [string, number] = ["127.0.0.1", 16102];
const t0 = 1_700_000_000_000;
const stream = (n: number, at: number, f: Omit<Frame, "ms">): Frame[] =>
  Array.from({ length: n }, (_, i) => ({ ...f, ms: at + 20 * i }));

/** calls 1 and 3 answered at FS1 (FreeSWITCH-like: its own SSRC back), call 2 at FS2 (echo of the caller's SSRC) */
function scenario(): { signals: Map<string, CallSignals>; frames: Frame[] } {
  const signals = new Map<string, CallSignals>([
    [id(1), { offer: OFFER, answer: { address: "127.0.0.1:16100", formats: [0] }, byeAt: t0 + 1000 }],
    [id(2), { offer: OFFER, answer: { address: "127.0.0.1:16102", formats: [0] }, byeAt: t0 + 1500 }],
    [id(3), { offer: OFFER, answer: { address: "127.0.0.1:16100", formats: [0] }, byeAt: t0 + 3000 }],
  ]);
  const frames = [
    ...stream(50, t0, { src: CALLER, dst: FS1, payload: rtp(SIPP_BASE_SSRC) }),
    ...stream(49, t0 + 1, { src: FS1, dst: CALLER, payload: rtp(0x1111) }),
    ...stream(50, t0 + 500, { src: CALLER, dst: FS2, payload: rtp(SIPP_BASE_SSRC + 1) }),
    ...stream(30, t0 + 501, { src: FS2, dst: CALLER, payload: rtp(SIPP_BASE_SSRC + 1) }),
    ...stream(50, t0 + 2000, { src: CALLER, dst: FS1, payload: rtp(SIPP_BASE_SSRC + 2) }),
    ...stream(50, t0 + 2001, { src: FS1, dst: CALLER, payload: rtp(0x3333) }),
  ].sort((x, y) => x.ms! - y.ms!);
  return { signals, frames };
}

test("HeldMedia: each call counted once, from its own packets, as callMedia counts it over everything; its packets let go at once", () => {
  const { signals, frames } = scenario();
  const packets = rtpPacketsOf(pcapOf(frames));
  const whole = callMedia([id(1), id(2), id(3)], signals, packets, 1000);
  const h = new HeldMedia(1000);
  const now = t0 + 100;
  for (const n of [1, 2, 3]) h.addStream(id(n), n - 1, now);
  for (const [callId, s] of signals) h.addSignals(callId, s, now);
  const counted = [];
  // the capture as it is read: each call ready once the capture has run COUNT_AFTER_BYE_MS past its BYE
  for (const p of packets) {
    h.addPacket(p);
    counted.push(...h.countReady(now));
  }
  assert.deepEqual(
    counted.map((c) => c.callId),
    [id(1), id(2)],
  );
  // call 1's own FS1 stream went with it; call 3's is still held
  assert.equal(h.packets, 100);
  counted.push(...h.countReady(now, true));
  assert.deepEqual(counted, whole);
  assert.equal(h.packets, 0);
  // a late packet of a counted call is not held again
  h.addPacket({ ...packets[0]!, ms: t0 + 3100 });
  assert.equal(h.packets, 0);
  assert.deepEqual(h.countReady(now, true), []);
});

test("HeldMedia: a call is ready once the capture ran past its BYE (or it is overdue), not before", () => {
  const h = new HeldMedia(1000);
  h.addStream(id(1), 0, t0);
  h.addSignals(id(1), { offer: OFFER, answer: { address: "127.0.0.1:16100", formats: [0] }, byeAt: t0 + 1000 }, t0);
  const at = (ms: number): void =>
    h.addPacket({ src: "127.0.0.1:30000", dst: "127.0.0.1:16100", ssrc: SIPP_BASE_SSRC, seq: 0, ts: 0, pt: 0, ms });
  at(t0 + 1000 + COUNT_AFTER_BYE_MS - 1);
  assert.equal(h.countReady(t0).length, 0);
  at(t0 + 1000 + COUNT_AFTER_BYE_MS);
  assert.equal(h.countReady(t0).length, 1);
  // no BYE: counted as it is once overdue
  h.addStream(id(2), 1, t0);
  assert.equal(h.countReady(t0 + 11_000).length, 0);
  assert.equal(h.countReady(t0 + 11_001).length, 1);
});

test("HeldMedia: a count behind the capture never calls a call overdue before the capture reached its end", () => {
  const h = new HeldMedia(1000);
  h.addStream(id(1), 0, t0);
  h.addSignals(id(1), { offer: OFFER, answer: { address: "127.0.0.1:16100", formats: [0] } }, t0);
  const at = (ms: number): void =>
    h.addPacket({ src: "127.0.0.1:30000", dst: "127.0.0.1:16100", ssrc: SIPP_BASE_SSRC, seq: 0, ts: 0, pt: 0, ms });
  at(t0 + 20);
  // long past its end by the wall clock, but the capture read so far is at its start: not yet
  assert.equal(h.countReady(t0 + 60_000, false, false).length, 0);
  // the capture read up to its overdue time: counted
  at(t0 + 11_001);
  const [c] = h.countReady(t0 + 60_000, false, false);
  assert.equal(c?.callId, id(1));
  assert.ok((c?.sent ?? 0) >= 1, JSON.stringify(c));
  // caught up (nothing left unread): the wall clock decides, as before
  h.addStream(id(2), 1, t0 + 20_000);
  assert.equal(h.countReady(t0 + 31_001, false, false).length, 0);
  assert.equal(h.countReady(t0 + 31_001, false, true).length, 1);
});

test("HeldMedia: packets no call claims are let go by capture time, counted calls after a while", () => {
  const h = new HeldMedia(1000);
  // a PBX's stream nobody answered from, and a caller's stream whose log line never came
  h.addPacket({ src: "127.0.0.1:9", dst: "127.0.0.1:30000", ssrc: 0x77, seq: 0, ts: 0, pt: 0, ms: t0 });
  h.addPacket({ src: "127.0.0.1:30000", dst: "127.0.0.1:9", ssrc: SIPP_BASE_SSRC + 5, seq: 0, ts: 0, pt: 0, ms: t0 });
  h.prune(t0);
  assert.equal(h.packets, 2);
  // the capture moves on past a call's longest life
  h.addPacket({
    src: "127.0.0.1:30000",
    dst: "127.0.0.1:9",
    ssrc: SIPP_BASE_SSRC + 6,
    seq: 0,
    ts: 0,
    pt: 0,
    ms: t0 + 11_001,
  });
  h.prune(t0);
  assert.equal(h.packets, 1);
  h.addStream(id(7), 6, t0);
  assert.equal(h.countReady(t0, true).length, 1);
  assert.equal(h.calls, 1);
  h.prune(t0 + 5001);
  assert.equal(h.calls, 0);
});
