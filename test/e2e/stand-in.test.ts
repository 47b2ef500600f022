/**
 * The lab's SIPp stand-in backends (assets/sipp/uas-answer.xml on the real SIPp 3.6.1) answer like a
 * PBX: a request for a dialog they do not hold gets 481 Call/Transaction Does Not Exist, never a 200
 * that would make a dead dialog look alive. Requests go straight to a backend's port.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { header } from "../../src/sip/message.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { buildRequest, SipTestClient, toTagOf } from "../support/sip-request.js";

const SDP = "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";

describe("SIPp stand-in backends answer unknown dialogs with 481 (real SIPp)", () => {
  let fx: LabFixture;
  let sip: SipTestClient;
  let old: { address: string; port: number };
  before(async () => {
    fx = await labFixture();
    const up = await fx.cli(["lab", "up", ...fx.flags]);
    assert.equal(up.code, 0, up.stderr);
    old = { address: "127.0.0.1", port: fx.ports.old };
    sip = await new SipTestClient().open();
  });
  after(async () => {
    sip.close();
    await fx.dispose();
  });

  for (const method of ["BYE", "INFO", "UPDATE", "REFER", "NOTIFY", "MESSAGE"]) {
    test(`${method} for a dialog the backend does not hold: 481, To-tag kept`, async () => {
      const r = sip.send({ method, to: old, toTag: "deadbeef" });
      const f = await sip.final(r.callId, method);
      assert.equal(f?.status, 481, `${method} answered ${f?.startLine ?? "nothing"}`);
      assert.equal(toTagOf(f), "deadbeef");
      assert.match(header(f, "server") ?? "", /SIPp stand-in/);
    });
  }

  test("re-INVITE (INVITE with a To-tag) for an unknown dialog: 481; the ACK for it gets no answer", async () => {
    const r = sip.send({ method: "INVITE", to: old, toTag: "cafe01", body: SDP });
    const f = await sip.final(r.callId, "INVITE");
    assert.equal(f?.status, 481, f?.startLine);
    assert.equal(
      sip.responses(r.callId, "INVITE").filter((m) => (m.status ?? 0) < 200).length,
      0,
      "no 100/180 for a dead dialog",
    );
    sip.send({
      method: "ACK",
      to: old,
      toTag: "cafe01",
      callId: r.callId,
      branch: r.branch,
      fromTag: r.fromTag,
      cseq: 2,
    });
    assert.equal(await sip.final(r.callId, "ACK", 500), undefined);
  });

  test("a retransmitted stray BYE is answered 481 again", async () => {
    const r = sip.send({ method: "BYE", to: old, toTag: "beef02" });
    assert.equal((await sip.final(r.callId, "BYE"))?.status, 481);
    sip.send({ method: "BYE", to: old, toTag: "beef02", callId: r.callId, branch: r.branch, fromTag: r.fromTag });
    const deadline = performance.now() + 2000;
    while (sip.responses(r.callId, "BYE").length < 2 && performance.now() < deadline)
      await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(
      sip.responses(r.callId, "BYE").map((m) => m.status),
      [481, 481],
    );
  });

  test("CANCEL for an unknown transaction: 481 with a To-tag added", async () => {
    const r = sip.send({ method: "CANCEL", to: old, cseq: 1 });
    const f = await sip.final(r.callId, "CANCEL");
    assert.equal(f?.status, 481, f?.startLine);
    assert.ok(toTagOf(f), "a final response to a request without To-tag carries one");
  });

  test("an ACK nobody expects gets no answer", async () => {
    const r = sip.send({ method: "ACK", to: old, toTag: "abc", cseq: 1 });
    assert.equal(await sip.final(r.callId, "ACK", 500), undefined);
    assert.deepEqual(sip.responses(r.callId), []);
  });

  test("OPTIONS: 200; an initial INVITE is still a call: 200 with a To-tag, ACK, BYE 200 with that tag", async () => {
    const o = sip.send({ method: "OPTIONS", to: old, cseq: 1 });
    assert.equal((await sip.final(o.callId, "OPTIONS"))?.status, 200);
    const inv = sip.send({ method: "INVITE", to: old, cseq: 1, body: SDP });
    const ok = await sip.final(inv.callId, "INVITE");
    assert.equal(ok?.status, 200, ok?.startLine);
    const tag = toTagOf(ok);
    assert.ok(tag);
    sip.send({ method: "ACK", to: old, toTag: tag, callId: inv.callId, fromTag: inv.fromTag, cseq: 1 });
    const bye = sip.send({ method: "BYE", to: old, toTag: tag, callId: inv.callId, fromTag: inv.fromTag, cseq: 2 });
    const byeOk = await sip.final(bye.callId, "BYE");
    assert.equal(byeOk?.status, 200, byeOk?.startLine);
    assert.equal(toTagOf(byeOk), tag);
  });
});

describe("faulty stand-ins (lab flags --new-stand-in 503-one-in-five, --old-stand-in slow; real SIPp)", () => {
  let fx: LabFixture;
  let sip: SipTestClient;
  let refusing: { address: string; port: number };
  let slow: { address: string; port: number };
  before(async () => {
    fx = await labFixture();
    const up = await fx.cli(["lab", "up", ...fx.flags, "--new-stand-in", "503-one-in-five", "--old-stand-in", "slow"]);
    assert.equal(up.code, 0, up.stderr);
    refusing = { address: "127.0.0.1", port: fx.ports.new };
    slow = { address: "127.0.0.1", port: fx.ports.old };
    sip = await new SipTestClient().open();
  });
  after(async () => {
    sip.close();
    await fx.dispose();
  });

  test("503-one-in-five: of 10 INVITEs the 5th and the 10th get 503 (with a To-tag, ACK absorbed), the rest 200; OPTIONS do not count", async () => {
    const finals: number[] = [];
    for (let i = 1; i <= 10; i++) {
      if (i === 3)
        assert.equal(
          (await sip.final(sip.send({ method: "OPTIONS", to: refusing, cseq: 1 }).callId, "OPTIONS"))?.status,
          200,
        );
      const inv = sip.send({ method: "INVITE", to: refusing, cseq: 1, body: SDP });
      const f = await sip.final(inv.callId, "INVITE");
      assert.ok(f, `INVITE ${i} answered`);
      finals.push(f.status ?? 0);
      const tag = toTagOf(f);
      assert.ok(tag, "a final response carries a To-tag");
      sip.send({
        method: "ACK",
        to: refusing,
        toTag: tag,
        callId: inv.callId,
        fromTag: inv.fromTag,
        branch: f.status === 503 ? inv.branch : undefined,
        cseq: 1,
      });
      if (f.status === 200) {
        const bye = sip.send({
          method: "BYE",
          to: refusing,
          toTag: tag,
          callId: inv.callId,
          fromTag: inv.fromTag,
          cseq: 2,
        });
        assert.equal((await sip.final(bye.callId, "BYE"))?.status, 200);
      }
    }
    assert.deepEqual(finals, [200, 200, 200, 200, 503, 200, 200, 200, 200, 503]);
  });

  test("slow: 100 at once, 180 and 200 about 800 ms later", async () => {
    const t0 = performance.now();
    const inv = sip.send({ method: "INVITE", to: slow, cseq: 1, body: SDP });
    const ok = await sip.final(inv.callId, "INVITE", 5000);
    const took = performance.now() - t0;
    assert.equal(ok?.status, 200, ok?.startLine);
    assert.deepEqual(
      sip.responses(inv.callId, "INVITE").map((m) => m.status),
      [100, 180, 200],
    );
    assert.ok(took >= 790 && took < 3000, `200 after ${took.toFixed(0)} ms`);
    sip.send({ method: "ACK", to: slow, toTag: toTagOf(ok), callId: inv.callId, fromTag: inv.fromTag, cseq: 1 });
    const bye = sip.send({
      method: "BYE",
      to: slow,
      toTag: toTagOf(ok),
      callId: inv.callId,
      fromTag: inv.fromTag,
      cseq: 2,
    });
    assert.equal((await sip.final(bye.callId, "BYE"))?.status, 200);
  });

  for (const which of ["refusing", "slow"] as const) {
    test(`${which}: a BYE and a CANCEL for dialogs it does not hold still get 481`, async () => {
      const to = which === "refusing" ? refusing : slow;
      const b = sip.send({ method: "BYE", to, toTag: "deadbeef" });
      assert.equal((await sip.final(b.callId, "BYE"))?.status, 481);
      const c = sip.send({ method: "CANCEL", to, cseq: 1 });
      assert.equal((await sip.final(c.callId, "CANCEL"))?.status, 481);
    });
  }
});

/** a stand-in's pid from the lab's lab.json */
const standInPid = (fx: LabFixture, role: "old" | "new"): number =>
  (
    JSON.parse(readFileSync(path.join(fx.labDir, "lab.json"), "utf8")) as {
      components: { role: string; pid: number }[];
    }
  ).components.find((c) => c.role === role)!.pid;

describe("stand-ins absorb a retransmitted INVITE in every state of the INVITE transaction (real SIPp)", () => {
  let fx: LabFixture;
  let sip: SipTestClient;
  before(async () => {
    fx = await labFixture();
    const up = await fx.cli(["lab", "up", ...fx.flags, "--new-stand-in", "slow"]);
    assert.equal(up.code, 0, up.stderr);
    sip = await new SipTestClient().open();
  });
  after(async () => {
    sip.close();
    await fx.dispose();
  });

  /** an INVITE and its copy as a proxy re-sends it through one more hop: same transaction, other bytes */
  const inviteAndCopy = (to: { address: string; port: number }) => {
    const first = buildRequest({ method: "INVITE", to, cseq: 1, body: SDP }, sip.local);
    const copy = first.text.replace("Max-Forwards: 70", "Max-Forwards: 69");
    assert.notEqual(copy, first.text);
    return { first, copy };
  };

  async function completes(to: { address: string; port: number }, callId: string, fromTag: string): Promise<void> {
    const ok = await sip.final(callId, "INVITE", 5000);
    assert.equal(
      ok?.status,
      200,
      `the call is answered: ${JSON.stringify(sip.responses(callId, "INVITE").map((m) => m.status))}`,
    );
    const tag = toTagOf(ok);
    sip.send({ method: "ACK", to, toTag: tag, callId, fromTag, cseq: 1 });
    const bye = sip.send({ method: "BYE", to, toTag: tag, callId, fromTag, cseq: 2 });
    assert.equal((await sip.final(bye.callId, "BYE"))?.status, 200, "and hung up");
  }

  test("both copies queued while the stand-in is frozen (SIGSTOP): 100, 180, 200 once the copy is absorbed; ACK, BYE 200", async () => {
    const to = { address: "127.0.0.1", port: fx.ports.old };
    const pid = standInPid(fx, "old");
    const { first, copy } = inviteAndCopy(to);
    process.kill(pid, "SIGSTOP");
    try {
      sip.sendText(first.text, to);
      sip.sendText(copy, to);
      // both are in the stand-in's socket before it runs again
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      process.kill(pid, "SIGCONT");
    }
    await completes(to, first.callId, first.fromTag);
  });

  test("the copy between the 100 and the 180 (slow stand-in) and after the 200 before the ACK: the call completes", async () => {
    const to = { address: "127.0.0.1", port: fx.ports.new };
    const { first, copy } = inviteAndCopy(to);
    sip.sendText(first.text, to);
    const deadline = performance.now() + 5000;
    while (!sip.responses(first.callId, "INVITE").some((m) => m.status === 100) && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      sip.responses(first.callId, "INVITE").map((m) => m.status),
      [100],
      "only the 100 yet (800 ms to the 180)",
    );
    sip.sendText(copy, to);
    const ok = await sip.final(first.callId, "INVITE", 5000);
    assert.equal(ok?.status, 200);
    // after the 200, before the ACK
    sip.sendText(copy, to);
    await completes(to, first.callId, first.fromTag);
  });
});
