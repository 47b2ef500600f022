/**
 * `migrate --traffic` with audio (the default on the native lab: real Kamailio 5.6.3, SIPp 3.6.1's
 * rtp_stream on the caller and -rtp_echo on the stand-ins, dumpcap on loopback): every step gets the
 * media gates; a new stand-in that answers and sends no audio back trips "one-way calls of new <= 0"
 * as soon as its first call is counted and the plan rolls back to old by itself, naming the gate and
 * its numbers; healthy stand-ins pass with the calls' audio counted per step, RFC 3550 figures per
 * call in media-calls.ndjson and the caller's RTP in media.pcap.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
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
import { tsharkStreams } from "../support/tshark.js";

const RATE = "50";

async function migrateWith(
  how: "answer" | "mute",
  extra: string[] = [],
): Promise<{ f: LabFixture; r: CliResult; runDir: string; res: MigrateResults }> {
  const f = await labFixture();
  const up = await f.cli(["lab", "up", ...f.flags, "--new-stand-in", how]);
  assert.equal(up.code, 0, up.stderr);
  const r = await f.cli(
    ["migrate", ...f.flags, "--artifacts-dir", path.join(f.dir, "art"), "--traffic", RATE, ...extra],
    { timeoutMs: 180_000 },
  );
  const runDir = runDirOf(r);
  return { f, r, runDir, res: migrateResults(runDir) };
}

describe("migrate --traffic with audio: a new PBX that answers and sends no audio back", () => {
  let run: Awaited<ReturnType<typeof migrateWith>>;
  before(async () => {
    run = await migrateWith("mute");
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("rolls back to old on the media gate: exit 1, the gate, the direction and the counts named", async () => {
    const { f, r, runDir, res } = run;
    rolledBackOnOneWay(r, res);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old")]);
    // each one-way call is named with its direction and counts; old's calls have audio both ways
    const rows = mediaRows(runDir);
    const bad = rows.filter((x) => !x.bothWays);
    assert.ok(bad.length >= 1, `one-way calls in media-calls.ndjson: ${bad.length}`);
    for (const b of bad) {
      assert.match(b.why ?? "", /PBX->caller 0 packets from 127\.0\.0\.1:\d+ \(expected >= \d+ of \d+\)/);
      assert.equal(b.pbxToCaller, 0);
      assert.ok(b.callerToPbx > 0);
    }
    assert.ok(
      rows.filter((x) => x.bothWays).length >= 20,
      `old's calls with audio both ways: ${rows.filter((x) => x.bothWays).length}`,
    );
    const summary = readFileSync(path.join(runDir, "summary.md"), "utf8");
    assert.match(summary, /new's audio: \d+ calls judged, [1-9]\d* one-way/);
    assert.deepEqual(processesNaming(res.traffic!.callIdPrefix), []);
  });
});

describe("migrate --traffic with audio: healthy stand-ins", () => {
  let run: Awaited<ReturnType<typeof migrateWith>>;
  before(async () => {
    run = await migrateWith("answer");
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("passes with the media gates on every step, the audio counted per call and the caller's RTP in media.pcap", async () => {
    const { f, r, runDir, res } = run;
    const rows = passedWithMediaGates(r, runDir, res);
    for (const x of rows.filter((y) => y.callerToPbx > 0)) {
      assert.ok(x.bothWays, JSON.stringify(x));
      // ~50 packets a call each way (1 s at 20 ms; the stream may start late, and on a loaded machine the
      // hold and SIPp's catch-up sending run a few packets over): at most the call's window's worth and
      // a little; the echo lost none on loopback
      assert.ok(x.callerToPbx >= 10 && x.callerToPbx <= Math.ceil(x.windowMs / 20) + 3, JSON.stringify(x));
      assert.equal(x.rfc3550.pbxToCaller.received, x.pbxToCaller, JSON.stringify(x));
      assert.equal(x.rfc3550.pbxToCaller.lost, 0, JSON.stringify(x));
      // jitter in ms (the caller's own sending jitter on a loaded machine included), never a packet's worth of seconds
      const j = x.rfc3550.pbxToCaller.jitterMs;
      assert.ok(j !== undefined && j >= 0 && j < 200, JSON.stringify(x));
    }
    // tshark's RTP stream analysis of the one media.pcap finds each call's stream with the packets the
    // tool counted, per direction (the stand-ins echo the caller's SSRC back)
    const streams = tsharkStreams(path.join(runDir, "media.pcap"));
    const key = (src: string | null, dst: string | null, ssrc: string | undefined): string => `${src}>${dst}/${ssrc}`;
    const byKey = new Map(streams.map((s) => [key(s.src, s.dst, s.ssrc), s]));
    let compared = 0;
    for (const x of rows.filter((y) => y.callerToPbx > 0)) {
      const out = byKey.get(key(x.caller, x.answered, x.ssrc));
      const back = byKey.get(key(x.answered, x.caller, x.ssrc));
      assert.equal(out?.packets, x.callerToPbx, `caller->PBX ${JSON.stringify(x)}`);
      assert.equal(back?.packets, x.pbxToCaller, `PBX->caller ${JSON.stringify(x)}`);
      assert.equal(back.lost, x.rfc3550.pbxToCaller.lost, `lost ${JSON.stringify(x)}`);
      // the tool's jitter is the stream's last running value: within tshark's smallest and largest
      const j = x.rfc3550.pbxToCaller.jitterMs ?? NaN;
      assert.ok(
        j >= (back.jitterMinMs ?? NaN) - 0.01 && j <= (back.jitterMaxMs ?? NaN) + 0.01,
        `jitter ${j} ${JSON.stringify(back)}`,
      );
      compared++;
    }
    assert.ok(compared >= 150, `calls compared with tshark: ${compared}`);
    // and every RTP stream tshark finds is a call's
    assert.equal(streams.length, 2 * compared, `tshark's streams: ${streams.length}`);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
    assert.deepEqual(processesNaming(res.traffic!.callIdPrefix), []);
  });

  test("--media: bad values exit 2; on without --traffic exit 2; a plan gating on audio with --media off exit 2", async () => {
    const { f } = run;
    const bad = await f.cli(["migrate", ...f.flags, "--traffic", "10", "--media", "maybe"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--media must be on or off/);
    const noTraffic = await f.cli(["migrate", ...f.flags, "--media", "on"]);
    assert.equal(noTraffic.code, 2, noTraffic.stderr);
    assert.match(noTraffic.stderr, /only with --traffic RATE/);
    const plan = path.join(f.dir, "media-plan.yaml");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      plan,
      "steps:\n  - 0\n  - weightNew: 100\n    gates:\n      - { kind: threshold, metric: one_way_calls, atMost: 0 }\n",
    );
    const off = await f.cli(["migrate", ...f.flags, "--plan", plan, "--traffic", "10", "--media", "off"]);
    assert.equal(off.code, 2, off.stderr);
    assert.match(off.stderr, /gates on the calls' audio \(one_way_calls, rtp_loss\), but the calls carry none/);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")], "nothing was changed");
  });
});

describe("migrate --traffic with audio under a tiny --capture-max-mb", () => {
  let run: Awaited<ReturnType<typeof migrateWith>>;
  before(async () => {
    run = await migrateWith("answer", ["--capture-max-mb", "1"]);
  });
  after(async () => {
    await run?.f.dispose();
  });

  test("media.pcap and its segments stay under the cap while every call's audio is still counted, and the report says what was kept", () => {
    const { r, runDir, res } = run;
    const rows = passedWithMediaGates(r, runDir, res);
    const m = res.traffic!.media!;
    // on disk: the start and the latest segments, under 1 MB together, each named in results.json
    const onDisk = readdirSync(runDir).filter((n) => /^media(\.\d+)?\.pcap$/.test(n));
    const bytes = onDisk.reduce((t, n) => t + statSync(path.join(runDir, n)).size, 0);
    assert.ok(bytes <= 1024 * 1024, `media pcaps ${bytes} bytes over the 1 MB cap: ${onDisk.join(", ")}`);
    assert.deepEqual([...onDisk].sort(), [...m.kept!.files].sort());
    for (const file of m.kept!.files) assert.ok(res.traffic!.files.includes(file), file);
    assert.equal(m.kept!.maxBytes, 1024 * 1024);
    assert.ok(m.kept!.dropped.files > 0, JSON.stringify(m.kept));
    assert.equal(m.kept!.records + m.kept!.dropped.records, m.packetsCaptured, JSON.stringify(m));
    assert.equal(m.captureFault, undefined);
    // every call placed was counted with its audio both ways, the packets let go from the file included
    assert.equal(
      rows.length,
      res.traffic!.calls!.total,
      `media rows ${rows.length} of ${res.traffic!.calls!.total} calls`,
    );
    assert.equal(m.callsCounted, rows.length);
    for (const x of rows) assert.ok(x.bothWays && x.callerToPbx >= 10 && x.pbxToCaller >= 10, JSON.stringify(x));
    const counted = rows.reduce((t, x) => t + x.callerToPbx + x.pbxToCaller, 0);
    assert.ok(counted > m.kept!.records, `${counted} packets counted, ${m.kept!.records} kept`);
    // the summary names the cap and what was let go, as it does for capture.pcap
    const summary = readFileSync(path.join(runDir, "summary.md"), "utf8");
    assert.match(
      summary,
      /- media capture: [\d,]+ packets captured, every one counted; kept media\.pcap \+ media\.\d+\.pcap.* under the 1\.0 MB cap; \d+ segment\(s\) between them deleted/,
    );
  });
});
