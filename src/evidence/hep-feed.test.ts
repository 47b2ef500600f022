import assert from "node:assert/strict";
import { test } from "node:test";
import { recordedBothCalls } from "../../test/support/hep-fixtures.js";
import { decodeHep, type HepPacket } from "../hep/decode.js";
import { hepView } from "../hep/evidence-source.js";
import { disagreements, evidenceAgreesAssertion } from "../sim/evidence-agrees.js";
import { callRow, EvidenceBook } from "./book.js";
import { HepFeed } from "./hep-feed.js";

const view = hepView(["127.0.0.1:25060"], { old: "127.0.0.1:25062", new: "127.0.0.1:25063" });

/** The 56 datagrams Kamailio 5.6.3 mirrored for 4 calls in `both`, as calls of run "abc123"'s burst both. */
function packets(): HepPacket[] {
  return recordedBothCalls().map((d) => {
    const r = decodeHep(d);
    if (!r.ok) throw new Error(r.malformation.detail);
    const text = r.packet.payload.toString("latin1").replace(/hep-fixture-(\d+)-(\d+)@/g, "pbxc-abc123-both-$1-$2@");
    return { ...r.packet, payload: Buffer.from(text, "latin1") };
  });
}

function feedAll(ps: HepPacket[]): { book: EvidenceBook; feed: HepFeed } {
  const book = new EvidenceBook("abc123");
  const feed = new HepFeed(view);
  for (const p of ps) feed.push(p);
  feed.drain(book);
  book.settle("both");
  return { book, feed };
}

test("4 recorded calls from HEP alone: INVITE and BYE at one backend each, answered by it, every call completed, in its dialog", () => {
  const { book, feed } = feedAll(packets());
  const rows = [...book.calls.values()].map(callRow);
  assert.equal(rows.length, 4);
  assert.ok(
    rows.every(
      (r) =>
        r.inviteBackend === r.byeBackend &&
        r.inviteStatus === 200 &&
        r.byeStatus === 200 &&
        r.byeBackendAnswer === 200 &&
        r.outcome === "completed",
    ),
    JSON.stringify(rows),
  );
  assert.deepEqual(rows.map((r) => r.inviteBackend).sort(), ["new", "new", "old", "old"]);
  assert.ok(rows.every((r) => r.dialogToTag !== null && r.byeToTag === r.dialogToTag));
  assert.deepEqual(book.invitesOf("both").transactions, { old: 2, new: 2 });
  assert.deepEqual(feed.unanswered(), []);
  assert.equal(feed.ignored, 0);
});

test("a backend's answer mirrored before the forwarded request (another Kamailio worker) still counts as its answer", () => {
  const ps = packets();
  // swap each BYE forwarded to a backend with the backend's 200 that follows it
  const isByeToBackend = (p: HepPacket): boolean =>
    p.src.port === 25060 && p.dst.port !== 25065 && p.payload.subarray(0, 4).toString() === "BYE ";
  for (let i = 0; i < ps.length; i++) {
    if (!isByeToBackend(ps[i]!)) continue;
    const j = ps.findIndex(
      (p, k) =>
        k > i &&
        p.dst.port === 25060 &&
        p.src.port === ps[i]!.dst.port &&
        /^SIP\/2\.0 200.*\r\nCSeq: \d+ BYE/s.test(p.payload.toString("latin1")),
    );
    assert.ok(j > i);
    [ps[i], ps[j]] = [ps[j]!, ps[i]!];
    i = j;
  }
  const { book } = feedAll(ps);
  assert.ok(
    [...book.calls.values()].map(callRow).every((r) => r.byeBackendAnswer === 200 && r.outcome === "completed"),
  );
});

test("a request Kamailio forwarded that no backend answered did not reach it (a stopped backend): the call is lost, not routed", () => {
  const ps = packets();
  const call2 = (p: HepPacket): boolean => p.payload.toString("latin1").includes("pbxc-abc123-both-2-");
  // call 2 as a dead backend sees it: Kamailio's forwards only, no answer from the backend, none to the caller
  const dead = ps.filter(
    (p) =>
      !call2(p) ||
      (p.src.port === 25060 && p.dst.port !== 25065 && p.payload.subarray(0, 7).toString() === "INVITE ") ||
      (p.dst.port === 25060 && p.src.port === 25065 && p.payload.subarray(0, 7).toString() === "INVITE "),
  );
  const { book, feed } = feedAll(dead);
  book.finishBurst("both");
  const row = [...book.calls.values()].map(callRow).find((r) => String(r.callId).includes("-both-2-"))!;
  assert.equal(row.inviteBackend, null);
  assert.equal(row.outcome, "failed");
  assert.deepEqual(
    feed.unanswered().map((u) => [u.backend, u.method]),
    [["old", "INVITE"]],
  );
  assert.deepEqual(book.invitesOf("both").transactions, { old: 1, new: 2 });
});

test("evidence-agrees: the same calls from two books agree; a BYE one source missed is listed with the difference", () => {
  const a = feedAll(packets()).book;
  const b = feedAll(packets()).book;
  assert.deepEqual(disagreements([...a.calls.values()], [...b.calls.values()]), []);
  assert.equal(evidenceAgreesAssertion("both", [...a.calls.values()], [...b.calls.values()]).verdict, "pass");
  // drop the BYE Kamailio forwarded for call 3 (and its answer) from one source
  const missing = packets().filter(
    (p) =>
      !(
        p.payload.toString("latin1").includes("-both-3-") &&
        /^(BYE |SIP\/2\.0 200[^\r]*\r\n(?:[^\r]*\r\n)*?CSeq: \d+ BYE)/.test(p.payload.toString("latin1")) &&
        p.src.port !== 25065 &&
        p.dst.port !== 25065
      ),
  );
  const c = feedAll(missing).book;
  const v = evidenceAgreesAssertion("both", [...a.calls.values()], [...c.calls.values()]);
  assert.equal(v.verdict, "fail");
  assert.equal(v.numbers.disagree, 1);
  assert.match(
    v.offenders[0]!,
    /^pbxc-abc123-both-3-\d+@127\.0\.0\.1: byeBackend sipp (old|new) \/ hep none; byeBackendAnswer sipp 200 \/ hep none$/,
  );
  // a call only one book has
  const only = evidenceAgreesAssertion("both", [...a.calls.values()].slice(0, 3), [...b.calls.values()]);
  assert.match(only.offenders[0]!, /inviteBackend sipp \(no such call\) \/ hep (old|new)/);
});
