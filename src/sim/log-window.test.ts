import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { MessageLogFollower, parseMessageLogBuffer } from "../sip/message-log.js";
import { LogWindow } from "./log-window.js";

const FIXTURES = path.resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures");
const fixture = (name: string): Buffer => readFileSync(path.join(FIXTURES, name));

test("a window over a log truncated and rewritten mid-window holds what was read from both logs, and says the log was recreated", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "logwin-"));
  try {
    const file = path.join(dir, "uas-old.messages.log");
    const before = fixture("sipp-3.6.1-uas-old.messages.log");
    const after = fixture("sipp-3.6.1-uas-retransmissions.messages.log");
    writeFileSync(file, before.subarray(0, 1000)); // written before the window opened
    const f = new MessageLogFollower(file);
    await f.read();
    const start = f.offset; // the last complete record before the window
    const w = new LogWindow();
    writeFileSync(file, before); // the rest of the old backend's records, in the window
    w.add(await f.read());
    writeFileSync(file, after); // restarted: SIPp reopens its log with "w"
    w.add(await f.read());
    const out = w.render("uas-old.messages.log");
    const text = out.toString("latin1");
    // stale offsets (1000 .. the old log's end) into the new log would be the wrong bytes, or none
    assert.ok(out.length > after.length);
    const lines = text.split("\n").filter((l) => l.startsWith("# pbx-cutover: "));
    assert.equal(lines.length, 2);
    assert.match(
      lines[0]!,
      /^# pbx-cutover: uas-old\.messages\.log was recreated during this window, recreated at \d\d:\d\d:\d\d\.\d{3} \((truncated|rewritten in place)[^)]*\): a restarted backend/,
    );
    assert.match(lines[1]!, /; instance 2 starts here$/);
    // exactly the bytes read: the old log from the window's start, then the new log, each marked
    assert.deepEqual(
      out,
      Buffer.concat([
        Buffer.from(lines[0]! + "\n", "latin1"),
        before.subarray(start),
        Buffer.from(lines[1]! + "\n", "latin1"),
        after,
      ]),
    );
    // and still a message log: every record of both logs, the note lines reported as skipped
    const parsed = parseMessageLogBuffer(out);
    const expected = [
      ...parseMessageLogBuffer(before).records.filter((r) => r.offset >= start),
      ...parseMessageLogBuffer(after).records,
    ];
    assert.deepEqual(
      parsed.records.map((r) => r.text),
      expected.map((r) => r.text),
    );
    assert.equal(parsed.skipped.length, 2);
    assert.deepEqual(
      w.recreations.map((r) => r.generation),
      [2],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a window without a recreation is exactly the bytes read, no note", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "logwin-"));
  try {
    const file = path.join(dir, "uas-new.messages.log");
    const buf = fixture("sipp-3.6.1-uas-new.messages.log");
    writeFileSync(file, "");
    const f = new MessageLogFollower(file);
    const w = new LogWindow();
    writeFileSync(file, buf);
    w.add(await f.read());
    assert.deepEqual(w.render("uas-new.messages.log"), buf);
    assert.deepEqual(new LogWindow().render("x"), Buffer.alloc(0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a capped window keeps the phase's start and its latest reads within the cap, says what it let go, and is still a message log", () => {
  const buf = fixture("sipp-3.6.1-uas-new.messages.log");
  const records = parseMessageLogBuffer(buf).records;
  // one read per record, as a follower hands them over (each read ends on a record)
  const reads = records.map((r, i) => buf.subarray(i === 0 ? 0 : r.offset, records[i + 1]?.offset ?? buf.length));
  const total = reads.reduce((n, b) => n + b.length, 0);
  const cap = Math.floor(total / 3);
  const w = new LogWindow(cap);
  for (const b of reads) w.add({ records: [], bytes: b, generation: 1 });
  assert.ok(w.keptBytes <= cap, `${w.keptBytes} kept of a ${cap}-byte cap`);
  assert.ok(w.keptBytes >= cap - Math.max(...reads.map((b) => b.length)) * 2);
  assert.equal(w.keptBytes + w.dropped.bytes, total, "every byte kept or counted as let go");
  const out = w.render("uas-new.messages.log").toString("latin1");
  const note = out.split("\n").filter((l) => l.startsWith("# pbx-cutover: "));
  assert.equal(note.length, 1);
  assert.match(
    note[0]!,
    new RegExp(
      `^# pbx-cutover: ${w.dropped.bytes} bytes of uas-new\\.messages\\.log \\(\\d+ reads\\) left out here: this copy is capped at ${cap} bytes`,
    ),
  );
  const parsed = parseMessageLogBuffer(Buffer.from(out, "latin1"));
  // the first records and the last ones, in order
  assert.equal(parsed.records[0]!.text, records[0]!.text);
  assert.equal(parsed.records.at(-1)!.text, records.at(-1)!.text);
  assert.ok(parsed.records.length < records.length);
  // without a cap (or 0) everything is kept
  for (const c of [undefined, 0]) {
    const all = new LogWindow(c);
    for (const b of reads) all.add({ records: [], bytes: b, generation: 1 });
    assert.equal(all.dropped.bytes, 0);
    assert.equal(all.keptBytes, total);
  }
});
