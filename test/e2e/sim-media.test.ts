/**
 * sim's calls carry audio on the native lab (real Kamailio, SIPp 3.6.1's rtp_stream on the caller,
 * -rtp_echo on the stand-ins, dumpcap on loopback): media-both-ways passes per phase when the stand-ins
 * echo, fails naming the call, the direction and the counts when one answers and sends nothing back,
 * and is absent with --media off.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { FAST } from "../support/sim-knobs.js";

interface Results {
  verdicts?: { phase: string; name: string; verdict: string; details: string; offenders: string[] }[];
}

interface CallRow {
  phase: string;
  media?: { bothWays: boolean; callerToPbx: number; pbxToCaller: number; pbxToCallerFromElsewhere: number };
}

function lastRun(artifacts: string): string {
  const run = readdirSync(artifacts).find((n) => n.startsWith("call-cutover-"));
  assert.ok(run, `no run folder in ${artifacts}`);
  return path.join(artifacts, run);
}

function mediaVerdicts(runDir: string): NonNullable<Results["verdicts"]> {
  const r = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
  return (r.verdicts ?? []).filter((v) => v.name === "media-both-ways");
}

/** a plan whose second step gates on one-way calls */
function planGatingAudio(dir: string): string {
  const file = path.join(dir, "plan-gating-audio.yaml");
  writeFileSync(
    file,
    "steps:\n  - 0\n  - weightNew: 100\n    gates: [{ kind: threshold, metric: one_way_calls, atMost: 0 }]\n",
  );
  return file;
}

describe("sim with media: audio both ways per call (real Kamailio + SIPp RTP)", () => {
  let fx: LabFixture;
  before(async () => {
    fx = await labFixture();
  });
  after(async () => {
    await fx.dispose();
  });
  const env = { ...process.env, ...FAST, CALL_DURATION_MS: "1000" };

  /** sim with a faulty new stand-in: old passes, new fails on media alone, each of its 6 calls named */
  const newPhaseFails = async (standIn: string, offender: RegExp): Promise<void> => {
    const artifacts = path.join(fx.dir, `artifacts-${standIn}`);
    const r = await fx.cli(["sim", ...fx.flags, "--new-stand-in", standIn, "--artifacts-dir", artifacts], {
      env,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const byPhase = Object.fromEntries(mediaVerdicts(lastRun(artifacts)).map((x) => [x.phase, x]));
    assert.equal(byPhase.old?.verdict, "pass");
    assert.equal(byPhase.new?.verdict, "fail");
    assert.equal(byPhase.both?.verdict, "fail", "the both phase's calls to new are one-way too");
    assert.match(byPhase.new.details, /^0\/6 calls with audio both ways/);
    assert.equal(byPhase.new.offenders.length, 6);
    for (const o of byPhase.new.offenders) assert.match(o, offender);
    assert.match(r.stdout, /^FAIL new media-both-ways: 0\/6 calls with audio both ways/m);
    assert.doesNotMatch(r.stdout, /^FAIL new (routing|completed|no-lost)/m);
  };

  test("by default, healthy stand-ins echo: media-both-ways passes in old, both and new; per call in results.json, in junit.xml", async () => {
    const artifacts = path.join(fx.dir, "artifacts-ok");
    // no --media flag: on by default where the backends echo
    const r = await fx.cli(["sim", ...fx.flags, "--artifacts-dir", artifacts], {
      env,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok {3}media-both-ways: 6\/6 calls with audio both ways; caller->PBX \d+ packets/);
    const run = lastRun(artifacts);
    const v = mediaVerdicts(run);
    assert.deepEqual(
      v.map((x) => [x.phase, x.verdict]),
      [
        ["old", "pass"],
        ["both", "pass"],
        ["new", "pass"],
      ],
    );
    assert.match(readFileSync(path.join(run, "junit.xml"), "utf8"), /name="media-both-ways"/);
    assert.match(readFileSync(path.join(run, "new.assertions.txt"), "utf8"), /media-both-ways/);
    // the run's RTP in one media.pcap, the bursts' own captures merged into it and removed
    assert.deepEqual(
      readdirSync(run)
        .filter((n) => n.endsWith(".pcap"))
        .sort(),
      ["capture.pcap", "media.pcap"],
    );
    const { media } = JSON.parse(readFileSync(path.join(run, "results.json"), "utf8")) as {
      media?: { pcap: string | null; records?: number; burstFilesRemoved: boolean };
    };
    assert.equal(media?.pcap, "media.pcap", JSON.stringify(media));
    assert.equal(media.burstFilesRemoved, true);
    assert.ok((media.records ?? 0) > 6 * 3 * 2 * 45, JSON.stringify(media));
    const calls = (JSON.parse(readFileSync(path.join(run, "results.json"), "utf8")) as { calls: CallRow[] }).calls;
    const old = calls.filter((c) => c.phase === "old");
    assert.equal(old.length, 6);
    for (const c of old) {
      assert.equal(c.media?.bothWays, true, JSON.stringify(c));
      assert.ok(c.media.callerToPbx >= 45 && c.media.pbxToCaller >= 45, JSON.stringify(c.media));
      assert.equal(c.media.pbxToCallerFromElsewhere, 0);
    }
  });

  test("a new stand-in that answers but sends no audio: the new phase fails naming the call and PBX->caller 0 packets", () =>
    newPhaseFails("mute", /^[^:]+-new-\S+: PBX->caller 0 packets from 127\.0\.0\.1:\d+ \(expected >= \d+ of \d+\)$/));

  test("a new stand-in whose 200 OK answers PCMA to the PCMU offer: the new phase fails naming the call and the codec mismatch", () =>
    newPhaseFails(
      "codec-mismatch",
      /^[^:]+-new-\S+: codec mismatch: the 200 OK answers payload 8, the INVITE offered 0; \d+ packets came back with a payload type the answer did not name$/,
    ));

  test("a new stand-in whose 200 OK advertises a media address nobody listens on: the new phase fails naming the call, the address and PBX->caller 0 packets", () =>
    newPhaseFails(
      "dead-media-address",
      /^[^:]+-new-\S+: PBX->caller 0 packets from 127\.0\.0\.1:9 \(expected >= \d+ of \d+\)$/,
    ));

  test("sim --steps with a new stand-in that sends no audio: step 2's media gate fails naming the call, the direction and the counts, and the plan rolls back to step 1", async () => {
    const artifacts = path.join(fx.dir, "artifacts-steps-mute");
    const r = await fx.cli(
      ["sim", ...fx.flags, "--new-stand-in", "mute", "--steps", "0,50,100", "--artifacts-dir", artifacts],
      { env: { ...env, CALL_RATE: "50" }, timeoutMs: 180_000 },
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // the signalling gates pass; only the audio fails the step, each one-way call named with its counts
    assert.match(
      r.stdout,
      /step 2\/3 both: gates fail: failed: one-way calls of new <= 0: new \d+ (one-way of \d+|\(of \d+) calls with audio judged/,
    );
    assert.match(
      r.stdout,
      /one-way calls of new: pbxc-[0-9a-f]+-both-\d+-\d+@127\.0\.0\.1: PBX->caller 0 packets from 127\.0\.0\.1:\d+ \(expected >= \d+ of \d+\); /,
    );
    assert.match(r.stdout, /rolled back to step 1 \(old\)/);
    const run = lastRun(artifacts);
    const res = JSON.parse(readFileSync(path.join(run, "results.json"), "utf8")) as {
      plan: {
        outcome: string;
        rollback?: { from: number; to: number; ok: boolean };
        steps: { gates?: { verdict: string; gates: { name: string; verdict: string }[] } }[];
      };
    };
    assert.equal(res.plan.outcome, "fail");
    assert.deepEqual([res.plan.rollback?.from, res.plan.rollback?.to, res.plan.rollback?.ok], [2, 1, true]);
    const gates = res.plan.steps[1]!.gates!.gates;
    assert.equal(gates.find((g) => g.name === "one-way calls of new <= 0")?.verdict, "fail");
    for (const g of gates.filter((x) => /^(SER|ISA)/.test(x.name))) assert.equal(g.verdict, "pass", g.name);
  });

  test("--media off: no audio, no media-both-ways verdict; a bad --media value is exit 2", async () => {
    const artifacts = path.join(fx.dir, "artifacts-off");
    const bad = await fx.cli(["sim", ...fx.flags, "--media", "sometimes", "--artifacts-dir", artifacts], { env });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--media must be on or off/);
    const r = await fx.cli(["sim", ...fx.flags, "--media", "off", "--artifacts-dir", artifacts], {
      env,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(mediaVerdicts(lastRun(artifacts)), []);
    // a plan gating on audio needs calls that carry it
    const gated = await fx.cli(
      ["sim", ...fx.flags, "--media", "off", "--plan", planGatingAudio(fx.dir), "--artifacts-dir", artifacts],
      { env },
    );
    assert.equal(gated.code, 2, gated.stderr);
    assert.match(
      gated.stderr,
      /step 2 gates on the calls' audio \(one_way_calls, rtp_loss\), but the calls carry none/,
    );
  });
});
