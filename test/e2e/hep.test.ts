import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { startHepCapture, type HepCapture } from "../../src/hep/capture.js";
import type { HepPacket } from "../../src/hep/decode.js";
import { byeAnsweredBy, forwardedTo } from "../../src/hep/evidence.js";
import { labRpc } from "../support/lab-runtime.js";
import { parseSipMessage } from "../../src/sip/message.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { placeCalls } from "../support/sip-call.js";

/** Call-IDs (with `tag`) of INVITEs Kamailio sent to `port`, as mirrored. */
function invitesForwardedTo(packets: HepPacket[], sipPort: number, port: number, tag: string): Set<string> {
  const ids = new Set<string>();
  for (const p of packets) {
    if (p.src.port !== sipPort || p.dst.port !== port) continue;
    const m = parseSipMessage(p.payload.toString("latin1"));
    const id = m?.headers.get("call-id")?.[0];
    if (m?.method === "INVITE" && id?.startsWith(tag)) ids.add(id);
  }
  return ids;
}

/** the calls with fewer than 14 mirrored messages, each with its messages' first lines */
function shortCalls(ps: HepPacket[]): string {
  const by = new Map<string, string[]>();
  for (const p of ps) {
    const text = p.payload.toString("latin1");
    const id = /^Call-ID:\s*(\S+)/im.exec(text)?.[1] ?? "?";
    by.set(id, [...(by.get(id) ?? []), text.slice(0, text.indexOf("\r\n"))]);
  }
  return JSON.stringify([...by].filter(([, l]) => l.length < 14));
}

describe("HEP: the lab's Kamailio mirrors every SIP message to the collector", () => {
  let f: LabFixture;
  let c: HepCapture;
  const packets: HepPacket[] = [];
  before(async () => {
    f = await labFixture();
    c = await startHepCapture({
      address: "127.0.0.1",
      port: f.ports.hep,
      proxy: [`127.0.0.1:${f.ports.sip}`],
      pcapPath: path.join(f.dir, "capture.pcap"),
      onPacket: (p) => packets.push(p),
    });
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await c.stop();
    await f.dispose();
  });

  test("HEPv3 for every message of every call, agreeing with the backends' own logs", async () => {
    const old = await placeCalls(f, 5, "hep-old");
    assert.equal(old.code, 0);
    const apply = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(apply.code, 0, apply.stderr);
    const both = await placeCalls(f, 6, "hep-both");
    assert.equal(both.code, 0);
    // every call: INVITE, 100 (Kamailio's own), 100, 180, 200 (x2), ACK (x2), BYE (x2), 200 to BYE (x2);
    // on a loaded machine a Kamailio worker may mirror its last copies after a quiet spell: wait for them (bounded)
    const ours = (): HepPacket[] => packets.filter((p) => /Call-ID: e2e-hep-/i.test(p.payload.toString("latin1")));
    await c.settle();
    for (const end = Date.now() + 5000; ours().length < 11 * 14 && Date.now() < end;) await c.settle(100, 500);
    const s = c.summary();
    assert.equal(s.malformed, 0, s.firstMalformation);
    // per Call-ID: the INVITEs Kamailio forwarded, as HEP shows them, = what each backend logged
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.old, old.tag).size, old.old);
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.new, old.tag).size, 0);
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.old, both.tag).size, both.old);
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.new, both.tag).size, both.new);
    assert.deepEqual([old.old, both.old, both.new], [5, 3, 3]);
    assert.ok(
      ours().length >= 11 * 14,
      `${ours().length} mirrored messages for 11 calls (datagrams the kernel dropped at the collector: ${s.kernelDrops}); short: ${shortCalls(ours())}`,
    );
    assert.ok(ours().every((p) => p.captureId === 1 && p.protocolType === 1 && p.ipProtocol === 17));
  });

  test("evidence per Call-ID from HEP alone: INVITE, ACK and BYE to one backend, answered 200 by it, in its dialog", () => {
    const e = c.evidence;
    const calls = [...e.calls.values()].filter((c) => c.callId.startsWith("e2e-hep-"));
    assert.equal(calls.length, 11);
    const backend = { [`127.0.0.1:${f.ports.old}`]: "old", [`127.0.0.1:${f.ports.new}`]: "new" };
    const routed = { old: 0, new: 0 } as Record<string, number>;
    for (const c of calls) {
      const invite = forwardedTo(c, "INVITE");
      assert.equal(invite.length, 1, `${c.callId}: one backend`);
      routed[backend[invite[0]!]!]!++;
      assert.deepEqual(forwardedTo(c, "ACK"), invite, c.callId);
      assert.deepEqual(forwardedTo(c, "BYE"), invite, c.callId);
      assert.equal(c.answerToInvite?.status, 200);
      assert.equal(c.answerToBye?.status, 200);
      assert.equal(byeAnsweredBy(c), invite[0]);
      assert.equal(c.answerToBye?.toTag, c.dialogToTag);
    }
    assert.deepEqual(routed, { old: 8, new: 3 });
  });

  test("capture.pcap opens in tshark with the INVITE count per destination port the tool counted", async () => {
    const s = await c.stop();
    assert.equal(s.kernelDrops, 0);
    assert.equal(s.malformed, 0);
    assert.equal(s.pcap.records, packets.length);
    assert.equal(s.datagrams, packets.length);
    const file = s.pcap.path;
    const ours = new Map<number, number>();
    for (const p of packets) {
      if (p.payload.subarray(0, 7).toString("latin1") === "INVITE ")
        ours.set(p.dst.port, (ours.get(p.dst.port) ?? 0) + 1);
    }
    // decode the lab's ports as SIP: tshark's port table wins over its SIP heuristics, so a random
    // port another protocol owns (26000 is Quake's) would otherwise show no SIP at all
    const decodeAs = [f.ports.sip, f.ports.old, f.ports.new].flatMap((p) => ["-d", `udp.port==${p},sip`]);
    const { stdout } = await promisify(execFile)("tshark", [
      "-r",
      file,
      ...decodeAs,
      "-Y",
      'sip.Method == "INVITE"',
      "-T",
      "fields",
      "-e",
      "udp.dstport",
    ]);
    const theirs = new Map<number, number>();
    for (const port of stdout.split("\n").filter(Boolean).map(Number)) theirs.set(port, (theirs.get(port) ?? 0) + 1);
    assert.deepEqual(theirs, ours);
    assert.equal(ours.get(f.ports.sip), 11, "11 INVITEs reached Kamailio");
    assert.equal(ours.get(f.ports.old), 8);
    assert.equal(ours.get(f.ports.new), 3);
    const frames = await promisify(execFile)("tshark", ["-r", file, "-T", "fields", "-e", "frame.number"]);
    assert.equal(frames.stdout.trim().split("\n").length, packets.length, "every mirrored message is a frame");
  });
});

describe("HEP: --hep-mirror off starts Kamailio silent; siptrace.status on switches mirroring live", () => {
  let f: LabFixture;
  let c: HepCapture;
  const packets: HepPacket[] = [];
  before(async () => {
    f = await labFixture();
    c = await startHepCapture({
      address: "127.0.0.1",
      port: f.ports.hep,
      proxy: [`127.0.0.1:${f.ports.sip}`],
      pcapPath: path.join(f.dir, "capture.pcap"),
      onPacket: (p) => packets.push(p),
    });
    const up = await f.cli(["lab", "up", "--hep-mirror", "off", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await c.stop();
    await f.dispose();
  });

  test("no mirror while off; every message once switched on", async () => {
    const silent = await placeCalls(f, 2, "hep-off");
    assert.equal(silent.code, 0);
    await c.settle();
    assert.equal(c.summary().datagrams, 0, "nothing mirrored with --hep-mirror off");
    const rpc = labRpc(f);
    try {
      assert.equal(await rpc.call("siptrace.status", ["on"]), "Enabled");
    } finally {
      rpc.close();
    }
    const loud = await placeCalls(f, 2, "hep-on");
    assert.equal(loud.code, 0);
    await c.settle();
    const ids = new Set(packets.map((p) => /Call-ID: (\S+)/i.exec(p.payload.toString("latin1"))?.[1]));
    assert.ok(
      [...ids].every((id) => id?.startsWith(loud.tag)),
      "only the calls placed after the switch",
    );
    assert.equal(ids.size, 2);
    assert.ok(packets.length >= 2 * 14, `${packets.length} mirrored messages`);
  });
});
