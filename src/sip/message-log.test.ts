import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import {
  MAX_READ_BYTES,
  MessageLogFollower,
  parseMessageLog,
  parseMessageLogBuffer,
  SKIPPED_KEPT,
} from "./message-log.js";
import { parseSipMessage } from "./message.js";

const FIXTURES = path.resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures");
const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));

test("parses a recorded SIPp 3.6.1 UAS log: every record, direction, byte-exact text", () => {
  const buf = fixture("sipp-3.6.1-uas-old.messages.log");
  const r = parseMessageLogBuffer(buf);
  assert.equal(r.consumed, buf.length);
  assert.deepEqual(r.skipped, []);
  const lines = r.records.map((m) => `${m.direction} ${m.text.split("\r\n")[0]}`);
  assert.deepEqual(lines.slice(0, 4), [
    "received INVITE sip:svc@127.0.0.1:23000 SIP/2.0",
    "sent SIP/2.0 100 Trying",
    "sent SIP/2.0 180 Ringing",
    "sent SIP/2.0 200 OK",
  ]);
  for (const m of r.records) {
    assert.ok(parseSipMessage(m.text), `record at ${m.offset} is a SIP message`);
    assert.match(m.stamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(m.transport, "UDP");
    assert.equal(m.note, undefined);
  }
  // offsets point at separators
  const text = buf.toString("latin1");
  for (const m of r.records) assert.ok(text.startsWith("-----", m.offset));
});

test("a log cut anywhere yields only complete records, and the rest completes them", () => {
  const text = fixture("sipp-3.6.1-uac-call.messages.log").toString("latin1");
  const all = parseMessageLog(text).records;
  assert.ok(all.length >= 20);
  for (const cut of [1, 30, 47, 48, 80, 85, 300, 1000, text.length - 1]) {
    const a = parseMessageLog(text.slice(0, cut));
    const b = parseMessageLog(text.slice(a.consumed), a.consumed);
    assert.deepEqual([...a.records, ...b.records], all, `cut at ${cut}`);
    assert.ok(a.records.every((m) => all.some((x) => x.offset === m.offset && x.text === m.text)));
  }
});

test("SIPp's note about an unexpected message is a note record, not a second message", () => {
  const text = fixture("sipp-3.6.1-uac-call-503.messages.log").toString("latin1");
  const r = parseMessageLog(text, 0, true);
  assert.deepEqual(
    r.records.map((m) => [m.direction, m.note ?? "", m.text.split("\r\n")[0]]),
    [
      ["sent", "", "INVITE sip:svc@127.0.0.1:23000 SIP/2.0"],
      ["received", "", "SIP/2.0 503 No destination"],
      ["received", "Unexpected UDP message received", "SIP/2.0 503 No destination"],
      ["sent", "", "ACK sip:svc@127.0.0.1:23000 SIP/2.0"],
    ],
  );
  assert.equal(r.records[2]!.text, r.records[1]!.text);
  // a note is complete only when the next separator (or the end of a finished log) is there
  const noteAt = r.records[2]!.offset;
  const cut = parseMessageLog(text.slice(0, r.records[3]!.offset - 1));
  assert.equal(cut.consumed, noteAt);
});

test("text that is not a record is reported as skipped, not silently dropped", () => {
  const good = fixture("sipp-3.6.1-uac-call-503.messages.log").toString("latin1");
  const r = parseMessageLog("garbage line\n" + good, 0, true);
  assert.equal(r.records.length, parseMessageLog(good, 0, true).records.length);
  assert.equal(r.skipped.length, 1);
  assert.equal(r.skipped[0]!.line, "garbage line");
});

test("follower: skipped text is counted, only the first SKIPPED_KEPT lines kept (a long run of them does not grow memory)", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "msglog-"));
  try {
    const file = path.join(dir, "uac.messages.log");
    const good = fixture("sipp-3.6.1-uac-call-503.messages.log").toString("latin1");
    const expected = parseMessageLog(good, 0, true).records.length;
    const n = SKIPPED_KEPT + 50;
    writeFileSync(file, "");
    const f = new MessageLogFollower(file);
    let records = 0;
    for (let i = 0; i < n; i++) {
      appendFileSync(file, `garbage ${i}\n${good}`, "latin1");
      records += (await f.poll()).length;
    }
    records += (await f.poll(true)).length;
    assert.equal(records, expected * n);
    assert.equal(f.skippedCount, n);
    assert.equal(f.skipped.length, SKIPPED_KEPT);
    assert.deepEqual(f.skipped[0]!.line, "garbage 0");
    assert.deepEqual(f.skipped.at(-1)!.line, `garbage ${SKIPPED_KEPT - 1}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("follower reads incrementally from its offset, across partial writes and a recreated file", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "msglog-"));
  try {
    const file = path.join(dir, "uas.messages.log");
    const buf = fixture("sipp-3.6.1-uas-retransmissions.messages.log");
    const expected = parseMessageLogBuffer(buf).records;
    const f = new MessageLogFollower(file);
    assert.deepEqual(await f.poll(), [], "missing file: nothing yet");
    writeFileSync(file, "");
    const got = [];
    // write in odd-sized pieces, polling in between
    for (let i = 0; i < buf.length; i += 333) {
      appendFileSync(file, buf.subarray(i, Math.min(buf.length, i + 333)));
      got.push(...(await f.poll()));
    }
    assert.deepEqual(got, expected);
    assert.equal(f.offset, buf.length);
    // a follower started at an offset sees only later records
    const later = new MessageLogFollower(file, expected[5]!.offset);
    assert.deepEqual(await later.poll(), expected.slice(5));
    // the lab restarted: the file is smaller now; read from the start
    writeFileSync(file, buf.subarray(0, expected[2]!.offset));
    assert.deepEqual(await f.poll(), expected.slice(0, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follower: a log truncated in place and rewritten (a restarted SIPp reopens it with "w") is a new generation, read from its start', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "msglog-"));
  try {
    const file = path.join(dir, "uas-old.messages.log");
    const buf = fixture("sipp-3.6.1-uas-old.messages.log");
    const all = parseMessageLogBuffer(buf).records;
    const f = new MessageLogFollower(file);
    writeFileSync(file, buf.subarray(0, all[4]!.offset));
    const first = await f.read();
    assert.equal(first.generation, 1);
    assert.deepEqual(first.records, all.slice(0, 4));
    assert.deepEqual(first.bytes, buf.subarray(0, all[4]!.offset), "the raw bytes of what was read");
    // the new writer (another log) has already written MORE than was read before: size alone cannot tell
    const other = fixture("sipp-3.6.1-uas-new.messages.log");
    assert.ok(other.length > all[4]!.offset);
    const ino = statSync(file).ino;
    writeFileSync(file, other);
    assert.equal(statSync(file).ino, ino, "same inode: truncated in place");
    const second = await f.read();
    assert.equal(second.generation, 2);
    assert.match(second.recreated?.why ?? "", /rewritten in place/);
    assert.deepEqual(second.records, parseMessageLogBuffer(other).records, "the new log is read from its start");
    assert.deepEqual(second.bytes, other);
    // plain truncation to a smaller size
    writeFileSync(file, buf.subarray(0, all[2]!.offset));
    const third = await f.read();
    assert.equal(third.generation, 3);
    assert.match(third.recreated?.why ?? "", /^truncated: \d+ -> \d+ bytes$/);
    assert.deepEqual(third.records, all.slice(0, 2));
    // nothing changed: no new generation
    assert.equal((await f.read()).recreated, undefined);
    assert.deepEqual(
      f.recreations.map((r) => r.generation),
      [2, 3],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("follower: a log replaced by a new file (another inode) is a new generation; a follower started at an offset keeps its place", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "msglog-"));
  try {
    const file = path.join(dir, "uas-new.messages.log");
    const buf = fixture("sipp-3.6.1-uas-new.messages.log");
    const all = parseMessageLogBuffer(buf).records;
    writeFileSync(file, buf.subarray(0, all[3]!.offset));
    const f = new MessageLogFollower(file, all[1]!.offset);
    assert.deepEqual(
      (await f.poll()).map((r) => r.offset),
      [all[1]!.offset, all[2]!.offset],
    );
    appendFileSync(file, buf.subarray(all[3]!.offset, all[5]!.offset));
    const more = await f.read();
    assert.equal(more.recreated, undefined, "appending is not recreating");
    assert.deepEqual(more.records, all.slice(3, 5));
    // the old log moved away (its inode stays in use, so the new file cannot get the same number)
    renameSync(file, `${file}.old`);
    assert.deepEqual((await f.read()).records, [], "gone: nothing to read");
    const other = fixture("sipp-3.6.1-uas-old.messages.log");
    const otherRecs = parseMessageLogBuffer(other).records;
    writeFileSync(file, other.subarray(0, otherRecs[6]!.offset));
    const r = await f.read();
    assert.equal(r.generation, 2);
    assert.match(r.recreated?.why ?? "", /^renamed away/);
    assert.deepEqual(r.records, otherRecs.slice(0, 6));
    // deleted and created again: replaced
    rmSync(file);
    rmSync(`${file}.old`);
    writeFileSync(file, other.subarray(0, otherRecs[2]!.offset));
    await f.close();
    const again = await f.read();
    assert.equal(again.generation, 3);
    assert.equal(again.recreated?.why, "replaced: inode changed");
    assert.deepEqual(again.records, otherRecs.slice(0, 2));
    await f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("follower: a log rotated by SIPp (-ringbuffer: closed, renamed, a new one created) is read to its end before the new one", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "msglog-"));
  try {
    const file = path.join(dir, "uac.messages.log");
    const buf = fixture("sipp-3.6.1-uas-new.messages.log");
    const all = parseMessageLogBuffer(buf).records;
    const other = fixture("sipp-3.6.1-uas-old.messages.log");
    const otherRecs = parseMessageLogBuffer(other).records;
    writeFileSync(file, buf.subarray(0, all[2]!.offset));
    const f = new MessageLogFollower(file);
    assert.deepEqual(await f.poll(), all.slice(0, 2));
    // between two polls the writer logs more, rotates, and logs into the new file
    appendFileSync(file, buf);
    writeFileSync(file, buf.subarray(0, all[4]!.offset), { flag: "a" });
    renameSync(file, path.join(dir, "uac_1_messages_1796653346.1.log"));
    writeFileSync(file, other.subarray(0, otherRecs[3]!.offset));
    const tail = await f.read();
    assert.equal(tail.generation, 1);
    assert.equal(tail.recreated, undefined);
    assert.deepEqual(
      tail.records.map((r) => r.offset),
      parseMessageLogBuffer(Buffer.concat([buf.subarray(0, all[2]!.offset), buf, buf.subarray(0, all[4]!.offset)]))
        .records.slice(2)
        .map((r) => r.offset),
      "the rotated log's tail, every record",
    );
    const next = await f.read();
    assert.equal(next.generation, 2);
    assert.match(next.recreated?.why ?? "", /^renamed away \(rotated; read to its end\)/);
    assert.deepEqual(next.records, otherRecs.slice(0, 3));
    // poll() takes both in one call
    appendFileSync(file, other.subarray(otherRecs[3]!.offset));
    renameSync(file, path.join(dir, "uac_1_messages_1796653346.2.log"));
    writeFileSync(file, buf.subarray(0, all[1]!.offset));
    const both = await f.poll();
    assert.deepEqual(both.slice(0, -1), otherRecs.slice(3));
    assert.deepEqual(both.at(-1), all[0]);
    await f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("follower: a log far ahead of the reader is read in steps of at most MAX_READ_BYTES while the writer runs", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "msglog-"));
  try {
    const file = path.join(dir, "uac.messages.log");
    const one = fixture("sipp-3.6.1-uas-new.messages.log");
    const buf = Buffer.concat(Array.from({ length: Math.ceil((2.5 * MAX_READ_BYTES) / one.length) }, () => one));
    writeFileSync(file, buf);
    const expected = parseMessageLogBuffer(buf).records;
    const f = new MessageLogFollower(file);
    const got = [];
    let reads = 0;
    for (;;) {
      const r = await f.read();
      if (r.bytes.length === 0) break;
      assert.ok(r.bytes.length <= MAX_READ_BYTES, `${r.bytes.length} bytes in one read`);
      got.push(...r.records);
      reads++;
    }
    assert.equal(reads, 3);
    assert.deepEqual(got, expected);
    await f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
