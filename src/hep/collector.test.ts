import assert from "node:assert/strict";
import dgram from "node:dgram";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { EnvironmentError } from "../core/errors.js";
import { binDatagram, recordedBothCalls, sipDatagram } from "../../test/support/hep-fixtures.js";
import { startHepCollector, type HepCollector } from "./collector.js";
import { decodeHep, type HepPacket } from "./decode.js";

// The collector on real loopback sockets (no Kamailio: test/e2e/hep.test.ts has that).

async function sendAll(datagrams: Buffer[], port: number): Promise<void> {
  const s = dgram.createSocket("udp4");
  for (const d of datagrams) await new Promise<void>((r, j) => s.send(d, port, "127.0.0.1", (e) => (e ? j(e) : r())));
  s.close();
}

async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("recorded datagrams are decoded and handed over; malformed ones are counted by reason, never fatal", async () => {
  const got: HepPacket[] = [];
  const c = await startHepCollector({ address: "127.0.0.1", port: 0, onPacket: (p) => got.push(p) });
  try {
    assert.ok(c.port > 0, "ephemeral port");
    const good = recordedBothCalls();
    const bad = [
      Buffer.from("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n"),
      binDatagram("kamailio-5.6.3-hep1-invite.bin"),
      good[0]!.subarray(0, 100),
      Buffer.alloc(0),
    ];
    await sendAll([...good.slice(0, 20), ...bad, ...good.slice(20)], c.port);
    await until(() => c.stats().datagrams === good.length + bad.length, "every datagram");
    const s = c.stats();
    assert.equal(s.packets, 56);
    assert.equal(got.length, 56);
    assert.equal(s.malformed, 4);
    assert.deepEqual(s.malformedByReason, { "not-hep": 1, "hep-v1": 1, "length-mismatch": 1, truncated: 1 });
    assert.equal(s.firstMalformation?.reason, "not-hep");
    assert.equal(s.kernelDrops, 0);
    assert.ok(s.recvBufferBytes >= 212_992, `receive buffer ${s.recvBufferBytes}`);
    assert.equal(
      got.filter((p) => p.payload.toString("latin1").startsWith("INVITE ")).length,
      8,
      "4 calls: INVITE in, INVITE out",
    );
  } finally {
    await c.close();
  }
});

test("--hep-forward relays every datagram byte for byte, malformed ones too", async () => {
  const homer = dgram.createSocket("udp4");
  const relayed: Buffer[] = [];
  homer.on("message", (m) => relayed.push(m));
  await new Promise<void>((r) => homer.bind(0, "127.0.0.1", () => r()));
  const c = await startHepCollector({
    address: "127.0.0.1",
    port: 0,
    forward: { host: "127.0.0.1", port: homer.address().port },
  });
  try {
    const sent = [...recordedBothCalls().slice(0, 10), Buffer.from("not hep at all")];
    await sendAll(sent, c.port);
    await until(() => relayed.length === sent.length, "relayed datagrams");
    assert.deepEqual(relayed.map((b) => b.toString("hex")).sort(), sent.map((b) => b.toString("hex")).sort());
    await until(() => c.stats().forwarded === sent.length, "forward callbacks");
    assert.equal(c.stats().forwardErrors, 0);
  } finally {
    await c.close();
    homer.close();
  }
});

test("a forward host that does not resolve and a taken port are environment errors (exit 3), nothing left bound", async () => {
  await assert.rejects(
    startHepCollector({ address: "127.0.0.1", port: 0, forward: { host: "no-such-host.invalid", port: 9060 } }),
    (e: unknown) => e instanceof EnvironmentError && /cannot resolve no-such-host\.invalid/.test(e.message),
  );
  const first = await startHepCollector({ address: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startHepCollector({ address: "127.0.0.1", port: first.port }),
      (e: unknown) =>
        e instanceof EnvironmentError &&
        new RegExp(`port ${first.port}/udp on 127\\.0\\.0\\.1 is in use by pid ${process.pid}`).test(e.message),
    );
  } finally {
    await first.close();
  }
});

test("datagrams the kernel drops (buffer full while the process is busy) are reported from /proc/net/udp", async () => {
  const c: HepCollector = await startHepCollector({ address: "127.0.0.1", port: 0, recvBufferBytes: 4096 });
  try {
    const d = recordedBothCalls()[2]!;
    const s = dgram.createSocket("udp4");
    // queue 300 sends, then keep the event loop busy so the collector cannot read while they land
    let done = 0;
    for (let i = 0; i < 300; i++) s.send(d, c.port, "127.0.0.1", () => done++);
    const until2 = Date.now() + 300;
    while (Date.now() < until2) {
      /* busy: nothing is read */
    }
    await until(() => done === 300, "sends");
    await c.settle(30);
    s.close();
    const st = c.stats();
    assert.ok((st.kernelDrops ?? 0) > 0, `kernel drops ${st.kernelDrops}`);
    assert.equal(st.datagrams + (st.kernelDrops ?? 0), 300, "every datagram either read or counted as dropped");
  } finally {
    await c.close();
  }
});

test("reading in rounds: after the queue is read the socket rests for the pause, and every datagram is still read, in order", async () => {
  const got: number[] = [];
  const c = await startHepCollector({
    address: "127.0.0.1",
    port: 0,
    readPauseMs: 250,
    onPacket: () => got.push(performance.now()),
  });
  const order: string[] = [];
  const c2 = await startHepCollector({
    address: "127.0.0.1",
    port: 0,
    readPauseMs: 5,
    onPacket: (p) => order.push(p.payload.toString("latin1", 0, 40)),
  });
  try {
    const d = recordedBothCalls();
    await sendAll([d[0]!], c.port);
    await until(() => got.length === 1, "the first datagram");
    const sentAt = performance.now();
    await sendAll([d[1]!], c.port);
    await until(() => got.length === 2, "the second datagram", 5000);
    // the first round read the queue empty, so the socket rested: the second waited in the kernel
    assert.ok(got[1]! - sentAt >= 100, `read ${Math.round(got[1]! - sentAt)} ms after it was sent: no pause`);
    // many rounds (more than libuv's 32 per wake-up at once, then rests): all read, none dropped, in order
    const many = Array.from({ length: 40 }, () => d).flat();
    await sendAll(many, c2.port);
    await until(() => order.length === many.length, "every datagram", 5000);
    assert.deepEqual(
      order,
      many.map((b) => decodeHepPayloadStart(b)),
    );
    assert.equal(c2.stats().kernelDrops, 0);
  } finally {
    await c.close();
    await c2.close();
  }
});

test("readPauseMs 0 reads continuously: every datagram", async () => {
  let got = 0;
  const c = await startHepCollector({ address: "127.0.0.1", port: 0, readPauseMs: 0, onPacket: () => got++ });
  try {
    const d = recordedBothCalls();
    await sendAll([...d, ...d], c.port);
    await until(() => got === 2 * d.length, "every datagram");
  } finally {
    await c.close();
  }
});

function decodeHepPayloadStart(b: Buffer): string {
  const r = decodeHep(b);
  if (!r.ok) throw new Error(r.malformation.detail);
  return r.packet.payload.toString("latin1", 0, 40);
}
test("settleUntil: resolves once a packet captured at or after the time was read, though traffic never pauses; settle would wait out its maxMs", async () => {
  const c = await startHepCollector({ address: "127.0.0.1", port: 0 });
  const s = dgram.createSocket("udp4");
  const at = (ms: number): Buffer =>
    sipDatagram({
      src: ["127.0.0.1", 5060],
      dst: ["127.0.0.1", 5070],
      tsSec: Math.floor(ms / 1000),
      tsUsec: Math.round((ms % 1000) * 1000),
      payload: "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: a\r\n\r\n",
    });
  // a packet every 2 ms, captured 1 s ago: never quiet, never late enough
  const stream = setInterval(() => s.send(at(Date.now() - 1000), c.port, "127.0.0.1"), 2);
  try {
    await until(() => c.stats().datagrams > 5, "the stream");
    const target = Date.now() + 100;
    const t0 = performance.now();
    const timer = setTimeout(() => s.send(at(target), c.port, "127.0.0.1"), 150);
    await c.settleUntil(target, 50, 2000);
    const took = performance.now() - t0;
    clearTimeout(timer);
    assert.ok(took >= 140 && took < 1000, `resolved after ${took.toFixed(0)} ms: on the packet captured at the target`);
    assert.ok((c.stats().latestCaptureUs ?? 0) >= target * 1000);
    const t1 = performance.now();
    await c.settle(50, 300);
    assert.ok(performance.now() - t1 >= 290, "settle never sees 50 ms of quiet while the stream runs");
  } finally {
    clearInterval(stream);
    s.close();
    await c.close();
  }
});

/** 300 datagrams sent from another thread, one a millisecond, while this thread is busy for 700 ms */
async function sendWhileBusy(c: HepCollector): Promise<void> {
  const d = recordedBothCalls()[2]!;
  const sender = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     const s = require("node:dgram").createSocket("udp4");
     let n = 0;
     const t = setInterval(() => {
       s.send(Buffer.from(workerData.d), workerData.port, "127.0.0.1");
       if (++n === 300) { clearInterval(t); setTimeout(() => { s.close(); parentPort.postMessage("sent"); }, 50); }
     }, 1);`,
    { eval: true, workerData: { d, port: c.port } },
  );
  const sent = new Promise<void>((r) => sender.once("message", () => r()));
  const busyUntil = Date.now() + 700;
  while (Date.now() < busyUntil) {
    /* busy: nothing is read on this thread */
  }
  await sent;
  await sender.terminate();
  await c.settle(50);
}

test("thread: the socket is read on its own thread, so a busy main thread loses nothing (the same collector on the main thread does)", async () => {
  // 64 KiB asked (the kernel grants twice that): far less than 300 datagrams, far more than a read round's
  const here = await startHepCollector({ address: "127.0.0.1", port: 0, recvBufferBytes: 64 * 1024 });
  try {
    await sendWhileBusy(here);
    const st = here.stats();
    assert.ok((st.kernelDrops ?? 0) > 0, `main thread: kernel drops ${st.kernelDrops}`);
    assert.equal(st.datagrams + (st.kernelDrops ?? 0), 300);
  } finally {
    await here.close();
  }
  let handed = 0;
  const c = await startHepCollector({
    address: "127.0.0.1",
    port: 0,
    recvBufferBytes: 64 * 1024,
    thread: true,
    onPacket: () => handed++,
  });
  try {
    await sendWhileBusy(c);
    const st = c.stats();
    assert.equal(st.kernelDrops ?? 0, 0, `own thread: kernel drops ${st.kernelDrops}`);
    assert.equal(st.datagrams, 300);
    assert.equal(handed, 300);
  } finally {
    await c.close();
  }
  // a taken port is still exit 3 naming its owner
  const first = await startHepCollector({ address: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      () => startHepCollector({ address: "127.0.0.1", port: first.port, thread: true }),
      (e: unknown) =>
        e instanceof EnvironmentError &&
        new RegExp(`port ${first.port}/udp on 127\\.0\\.0\\.1 is in use by pid ${process.pid}`).test(e.message),
    );
  } finally {
    await first.close();
  }
});
