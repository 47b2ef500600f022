import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startHepCollector, type HepCollector } from "../../src/hep/collector.js";
import type { HepPacket } from "../../src/hep/decode.js";
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

describe("HEP: the lab's Kamailio mirrors every SIP message to the collector", () => {
  let f: LabFixture;
  let c: HepCollector;
  const packets: HepPacket[] = [];
  before(async () => {
    f = await labFixture();
    c = await startHepCollector({ address: "127.0.0.1", port: f.ports.hep, onPacket: (p) => packets.push(p) });
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await c.close();
    await f.dispose();
  });

  test("HEPv3 for every message of every call, agreeing with the backends' own logs", async () => {
    const old = await placeCalls(f, 5, "hep-old");
    assert.equal(old.code, 0);
    const apply = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(apply.code, 0, apply.stderr);
    const both = await placeCalls(f, 6, "hep-both");
    assert.equal(both.code, 0);
    await c.settle();
    const s = c.stats();
    assert.equal(s.malformed, 0, JSON.stringify(s.firstMalformation));
    assert.equal(s.kernelDrops, 0);
    // per Call-ID: the INVITEs Kamailio forwarded, as HEP shows them, = what each backend logged
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.old, old.tag).size, old.old);
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.new, old.tag).size, 0);
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.old, both.tag).size, both.old);
    assert.equal(invitesForwardedTo(packets, f.ports.sip, f.ports.new, both.tag).size, both.new);
    assert.deepEqual([old.old, both.old, both.new], [5, 3, 3]);
    // every call: INVITE, 100 (Kamailio's own), 100, 180, 200 (x2), ACK (x2), BYE (x2), 200 to BYE (x2)
    const ours = packets.filter((p) => /Call-ID: e2e-hep-/i.test(p.payload.toString("latin1")));
    assert.ok(ours.length >= 11 * 14, `${ours.length} mirrored messages for 11 calls`);
    assert.ok(ours.every((p) => p.captureId === 1 && p.protocolType === 1 && p.ipProtocol === 17));
  });
});
