import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { attachEventLog, EVENT_LOG_FILE } from "./event-log.js";
import { RunEvents, type RunEvent } from "./run-events.js";

test("events.ndjson: one JSON event per line, in order, as emitted; nothing after detach", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-eventlog-"));
  try {
    const file = path.join(dir, EVENT_LOG_FILE);
    const events = new RunEvents();
    const detach = attachEventLog(events, file);
    const sent: RunEvent[] = [
      { kind: "phase", at: 1, phase: "stack-start" },
      { kind: "run-started", at: 2, runDir: dir, knobs: { CALLS_PER_PHASE: 10 } },
      { kind: "call-routed", at: 3, callId: "pbxc-ab12-old-1-99@127.0.0.1", phase: "old", backend: "old" },
      // a log line with a newline and quotes stays one NDJSON line
      { kind: "log", at: 4, line: 'two\nlines "quoted"' },
      {
        kind: "call-finished",
        at: 5,
        callId: "x",
        phase: "old",
        backend: undefined,
        completed: false,
        reason: "no final response to INVITE",
      },
      { kind: "run-finished", at: 6, status: "success", exitCode: 0, failures: [] },
    ];
    for (const e of sent) events.emit(e);
    detach();
    events.emit({ kind: "log", at: 7, line: "after detach" });
    detach(); // idempotent
    const text = readFileSync(file, "utf8");
    assert.ok(text.endsWith("\n"));
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, sent.length);
    // undefined fields are dropped by JSON, as a reader sees them
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as unknown),
      JSON.parse(JSON.stringify(sent)) as unknown,
    );
    assert.equal(statSync(file).mode & 0o777, 0o644);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
