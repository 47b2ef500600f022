/**
 * `migrate --traffic` with audio on real FreeSWITCH (old 1.10.3, new 1.10.12 from `make real-services`)
 * behind the real Kamailio: the lab's dialplan answers and echoes, so the media gates are on by default
 * and a healthy cutover old -> both -> new passes with every call's audio counted; then new's dialplan
 * is changed from outside to answer and park (it never sends audio): the first step that sends calls
 * to new fails "one-way calls of new <= 0" and the plan rolls back to old by itself, the direction and
 * the counts of each one-way call named, routing verified back on old.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { disposeFreeswitchLab, flagValue, freeswitchLabUp, setDialplan } from "../support/freeswitch-fixture.js";
import type { CliResult, LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";
import { processesNaming } from "../support/processes.js";
import {
  mediaRows,
  migrateResults,
  passedWithMediaGates,
  rolledBackOnOneWay,
  type MigrateResults,
} from "../support/migrate-results.js";
import { runDirOf } from "../support/run-folder.js";

const RATE = "40";

describe("migrate --traffic with audio on real FreeSWITCH", () => {
  let f: LabFixture;
  let fs: string[];
  let newEsl: number;
  const migrate = async (name: string): Promise<{ r: CliResult; runDir: string; res: MigrateResults }> => {
    const r = await f.cli(
      ["migrate", ...f.flags, ...fs, "--artifacts-dir", path.join(f.dir, `art-${name}`), "--traffic", RATE],
      { timeoutMs: 240_000 },
    );
    const runDir = runDirOf(r);
    return { r, runDir, res: migrateResults(runDir) };
  };
  before(async () => {
    // ~50 calls up at a time on one PBX (1 s calls): a port pair each
    ({ f, fs } = await freeswitchLabUp({ rtpPorts: 400 }));
    newEsl = Number(flagValue(fs, "--new-esl-port"));
  });
  after(async () => {
    await disposeFreeswitchLab(f);
  });

  test("healthy (answer + echo on both): old -> both -> new passes with the media gates on every step", async () => {
    const { r, runDir, res } = await migrate("healthy");
    const rows = passedWithMediaGates(r, runDir, res);
    const judged = rows.filter((x) => x.callerToPbx > 0);
    assert.ok(judged.length >= 150, `calls with audio judged: ${judged.length}`);
    for (const x of judged) assert.ok(x.bothWays, JSON.stringify(x));
    // the PBX's own counters (its hangup event over the event socket) on every call: it received what
    // the caller sent (all but the packets before its media started or after it hung up) and echoed it
    assert.equal(res.traffic?.media?.pbxCounted, rows.length, "calls with their PBX's counters");
    for (const x of judged) {
      assert.ok(x.pbx, `no PBX counters: ${JSON.stringify(x)}`);
      assert.ok(
        x.pbx.inPackets >= Math.ceil(0.9 * x.callerToPbx) && x.pbx.inPackets <= x.callerToPbx,
        JSON.stringify(x),
      );
      assert.ok(x.pbx.outPackets > 0, JSON.stringify(x));
    }
    assert.deepEqual([...new Set(judged.map((x) => x.pbx!.backend))].sort(), ["new", "old"]);
    for (const role of ["old", "new"]) {
      const es = res.traffic.media.eventSockets![role]!;
      assert.ok(es.calls >= 50, JSON.stringify(es));
      assert.ok(readFileSync(path.join(runDir, es.file), "utf8").includes("CHANNEL_HANGUP_COMPLETE"), es.file);
    }
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
    assert.deepEqual(processesNaming(res.traffic.callIdPrefix), []);
  });

  test("new answers and never sends audio (park): rolls back to old on the media gate, direction and counts named", async () => {
    await setDialplan(f.labDir, "new", newEsl, '<action application="answer"/><action application="park"/>');
    let run: Awaited<ReturnType<typeof migrate>>;
    try {
      run = await migrate("mute");
    } finally {
      await setDialplan(f.labDir, "new", newEsl);
    }
    const { r, runDir, res } = run;
    const oneWay = rolledBackOnOneWay(r, res);
    assert.match(res.rollback!.reason, new RegExp(`\\b${oneWay.values.new}\\b`));
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")]);
    // each one-way call: the direction (PBX->caller) and the counts, new's FreeSWITCH answering
    const bad = mediaRows(runDir).filter((x) => !x.bothWays);
    assert.ok(bad.length >= oneWay.values.new!, `one-way calls in media-calls.ndjson: ${bad.length}`);
    for (const b of bad) {
      assert.match(b.why ?? "", /PBX->caller 0 packets from 127\.0\.0\.1:\d+ \(expected >= \d+ of \d+\)/, b.why);
      assert.equal(b.pbxToCaller, 0);
      assert.ok(b.callerToPbx > 0, JSON.stringify(b));
      // new's FreeSWITCH says so itself: the caller's audio reached it, it sent none
      assert.equal(b.pbx?.backend, "new", JSON.stringify(b));
      assert.equal(b.pbx.outPackets, 0, JSON.stringify(b));
      assert.ok(b.pbx.inPackets >= Math.ceil(0.9 * b.callerToPbx), JSON.stringify(b));
      assert.match(b.why!, /; new's PBX sent none$/, b.why);
    }
    assert.match(
      readFileSync(path.join(runDir, "summary.md"), "utf8"),
      /new's audio: \d+ calls judged, [1-9]\d* one-way/,
    );
    assert.deepEqual(processesNaming(res.traffic!.callIdPrefix), []);
  });
});
