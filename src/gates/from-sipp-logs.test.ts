import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { FIXTURES } from "../../test/support/fixtures.js";
import type { HepCall } from "../hep/evidence.js";
import { parseMessageLogBuffer, type LoggedMessage } from "../sip/message-log.js";
import { evaluateGates } from "./gate.js";
import { backendsByCallId, callRecordsFromUacLog } from "./from-sipp-logs.js";
import { windowMetrics } from "./metrics.js";

const log = (name: string): LoggedMessage[] => parseMessageLogBuffer(readFileSync(path.join(FIXTURES, name))).records;
const id = (n: number): string => `pbxc-5f3a9c-both-${n}-26178@127.0.0.1`;

describe("call records from recorded SIPp 3.6.1 logs (4 calls through Kamailio 5.6.3, round-robin)", () => {
  const backends = backendsByCallId({
    old: log("sipp-3.6.1-uas-old.messages.log"),
    new: log("sipp-3.6.1-uas-new.messages.log"),
  });
  const uac = log("sipp-3.6.1-uac-call.messages.log");

  it("each call's backend from the backends' logs (round-robin's first call went to the list's last line, new)", () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backends.get(id(n))),
      ["new", "old", "new", "old"],
    );
  });

  it("timings from the UAC's own log, by hand from its stamps", () => {
    const r = callRecordsFromUacLog(uac, backends, { final: true });
    assert.deepEqual([r.pending, r.unrouted], [[], []]);
    const one = r.records.find((c) => c.callId === id(1))!;
    // INVITE 22:56:42.304378, 100 at .322490 (not counted), 180 at .328843
    assert.equal((one.firstProvisionalOrFinalMs! - one.inviteSentMs).toFixed(3), "24.465");
    assert.equal(one.finalStatus, 200);
    assert.equal(one.timedOut, false);
    const srd = r.records.map((c) => (c.firstProvisionalOrFinalMs! - c.inviteSentMs).toFixed(3));
    assert.deepEqual(srd, ["24.465", "8.105", "2.634", "2.625"]);
    const sdd = r.records.map((c) => (c.byeFinalMs! - c.byeSentMs!).toFixed(3));
    assert.deepEqual(sdd, ["1.874", "7.121", "1.075", "0.436"]);
    const m = windowMetrics(r.records, { fromMs: 0, toMs: undefined });
    assert.deepEqual(
      [m.old.invites, m.old.ser.percent, m.old.isa.percent, m.new.invites, m.new.ser.percent],
      [2, 100, 0, 2, 100],
    );
    assert.equal(m.new.srd.p95Ms!.toFixed(3), "24.465");
    // 2 calls per backend: too few for the default gates
    assert.equal(evaluateGates([{ kind: "relative", metric: "ser", maxWorseBy: 2 }], m, 50).verdict, "inconclusive");
  });

  it("while the burst runs, a call without a final answer is pending; afterwards it timed out", () => {
    const cut = uac.findIndex(
      (r) => r.direction === "received" && r.text.startsWith("SIP/2.0 200") && r.text.includes(id(1)),
    );
    const early = uac.slice(0, cut);
    assert.ok(callRecordsFromUacLog(early, backends, { final: false }).pending.includes(id(1)));
    const done = callRecordsFromUacLog(early, backends, { final: true }).records.find((c) => c.callId === id(1))!;
    assert.deepEqual([done.timedOut, done.finalStatus], [true, undefined]);
    assert.equal(
      (done.firstProvisionalOrFinalMs! - done.inviteSentMs).toFixed(3),
      "24.465",
      "its 180 still counts for SRD",
    );
  });

  it("a call Kamailio answered itself (503 No destination) belongs to no backend", () => {
    const r = callRecordsFromUacLog(log("sipp-3.6.1-uac-call-503.messages.log"), backends, { final: true });
    assert.deepEqual(r, { records: [], pending: [], unrouted: ["pbxc-5f3a9c-new-1-26184@127.0.0.1"] });
  });
});

describe("backends from HEP (where Kamailio forwarded the INVITE)", () => {
  it("names the backend by its dispatcher endpoint; other destinations and calls without an INVITE leg are left out", async () => {
    const { backendsFromHep } = await import("./from-hep.js");
    const call = (callId: string, to: string | undefined): HepCall =>
      ({
        callId,
        forwarded: to === undefined ? {} : { INVITE: [{ to, transactions: 1, retransmissions: 0, firstUs: 0 }] },
      }) as unknown as HepCall;
    const m = backendsFromHep(
      [call("a", "127.0.0.1:15070"), call("b", "127.0.0.1:15080"), call("c", "127.0.0.1:9999"), call("d", undefined)],
      {
        old: "127.0.0.1:15070",
        new: "127.0.0.1:15080",
      },
    );
    assert.deepEqual(
      [...m],
      [
        ["a", "old"],
        ["b", "new"],
      ],
    );
  });
});
