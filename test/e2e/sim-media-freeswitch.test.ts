/**
 * sim's audio on real FreeSWITCH (old 1.10.3, new 1.10.12 from `make real-services`) behind the real
 * Kamailio: the lab's dialplan answers and echoes, so media is on by default and media-both-ways passes
 * at the seed's knobs; tshark's RTP stream analysis of the run's one media.pcap (every burst's capture
 * merged) counts the same packets per direction as the tool. Then new is broken from outside, the way a new PBX goes wrong in
 * production, and the new phase fails naming the call, the direction and the counts: it answers and
 * never sends audio (park), a firewall drops its RTP towards the caller, and a firewall drops the caller's
 * RTP towards it (iptables on lo, root only).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { disposeFreeswitchLab, flagValue, freeswitchLabUp, setDialplan } from "../support/freeswitch-fixture.js";
import { type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { FAST, seedEnv } from "../support/sim-knobs.js";
import { tsharkStreams } from "../support/tshark.js";

interface MediaRow {
  callerToPbx: number;
  pbxToCaller: number;
  pbxToCallerFromElsewhere: number;
  expectedEachWay: number;
  caller: string | null;
  answered: string | null;
  bothWays: boolean;
}
interface Results {
  verdicts: { phase: string; name: string; verdict: string; details: string; offenders: string[] }[];
  calls: { callId: string; phase: string; burst: string; media?: MediaRow }[];
  bursts: { label: string; media?: { pcap: string; ports?: string; calls: number | null } }[];
  media?: { pcap: string | null; records?: number; burstFiles: string[]; burstFilesRemoved: boolean; why?: string };
}

function runDirIn(artifacts: string): string {
  const runs = readdirSync(artifacts).filter((n) => n.startsWith("call-cutover-"));
  assert.equal(runs.length, 1, runs.join(", "));
  return path.join(artifacts, runs[0]!);
}

const resultsOf = (dir: string): Results => JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as Results;

describe("sim with media on real FreeSWITCH: echo both ways, sabotage of new named per call", () => {
  let f: LabFixture;
  let fs: string[];
  let newEsl: number;
  before(async () => {
    ({ f, fs } = await freeswitchLabUp());
    newEsl = Number(flagValue(fs, "--new-esl-port"));
  });
  after(async () => {
    await disposeFreeswitchLab(f);
  });

  test("seed knobs, no --media flag: audio both ways on every call of old, both and new; tshark counts the same packets per direction", async () => {
    const env = seedEnv();
    const art = path.join(f.dir, "art-seed");
    const r = await f.cli(["sim", ...f.flags, ...fs, "--artifacts-dir", art], { env, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const dir = runDirIn(art);
    const res = resultsOf(dir);
    assert.deepEqual(
      res.verdicts.filter((v) => v.name === "media-both-ways").map((v) => [v.phase, v.verdict]),
      [
        ["old", "pass"],
        ["both", "pass"],
        ["new", "pass"],
      ],
    );
    const routed = res.calls.filter((c) => ["old", "both", "new"].includes(c.burst));
    assert.equal(routed.length, 30);
    for (const c of routed) assert.equal(c.media?.bothWays, true, JSON.stringify(c));

    // the run's RTP in one media.pcap: every burst's capture merged, their own files removed
    assert.equal(res.media?.pcap, "media.pcap", JSON.stringify(res.media));
    assert.equal(res.media.burstFilesRemoved, true);
    assert.equal(res.media.burstFiles.length, res.bursts.length);
    assert.deepEqual(
      readdirSync(dir)
        .filter((n) => n.endsWith(".pcap"))
        .sort(),
      ["capture.pcap", "media.pcap"],
    );
    assert.match(r.stdout, /^evidence: .*, the caller's RTP in media\.pcap\)$/m);
    // each burst's caller ports, apart from every other burst's (the in-flight cutover's two run at once)
    const ranges = res.bursts.map((b) => {
      assert.equal(b.media?.pcap, "media.pcap", JSON.stringify(b));
      const m = /^(\d+)-(\d+)$/.exec(b.media.ports ?? "");
      assert.ok(m, JSON.stringify(b));
      return { label: b.label, lo: +m[1]!, hi: +m[2]! };
    });
    for (const a of ranges)
      for (const b of ranges)
        if (a !== b) assert.ok(a.hi < b.lo || b.hi < a.lo, `${a.label} ${a.lo}-${a.hi} / ${b.label} ${b.lo}-${b.hi}`);
    const streams = tsharkStreams(path.join(dir, "media.pcap"));
    const portOf = (addr: string): number => Number(addr.split(":")[1]);
    const inRange = (addr: string, r: { lo: number; hi: number }): boolean =>
      portOf(addr) >= r.lo && portOf(addr) <= r.hi;
    // every burst's audio is in it, the in-flight cutover's too; no packet twice (a stream's "Lost" < 0)
    for (const rg of ranges)
      assert.ok(
        streams.some((x) => inRange(x.src, rg)),
        `${rg.label}: no stream from its caller`,
      );
    for (const x of streams) assert.ok(x.lost >= 0, JSON.stringify(x));

    for (const burst of ["old", "both", "new"]) {
      const calls = res.calls.filter((c) => c.burst === burst && c.media);
      assert.equal(calls.length, 10);
      const caller = calls[0]!.media!.caller!;
      const range = ranges.find((x) => x.label === burst)!;
      assert.ok(inRange(caller, range), `${burst}: caller ${caller} outside ${range.lo}-${range.hi}`);
      // caller -> PBX: one stream per call (SIPp's SSRC), the same packets the tool counted
      const sentByTshark = streams.filter((s) => s.src === caller).map((s) => s.packets);
      assert.deepEqual(
        sentByTshark.sort((a, b) => a - b),
        calls.map((c) => c.media!.callerToPbx).sort((a, b) => a - b),
        `${burst}: caller->PBX per stream`,
      );
      // PBX -> caller: FreeSWITCH's own stream per call from the address its 200 OK answered with
      const byAnswer = new Map<string, number>();
      for (const c of calls)
        byAnswer.set(c.media!.answered!, (byAnswer.get(c.media!.answered!) ?? 0) + c.media!.pbxToCaller);
      const tsharkByAnswer = new Map<string, number>();
      for (const s of streams.filter((x) => x.dst === caller))
        tsharkByAnswer.set(s.src, (tsharkByAnswer.get(s.src) ?? 0) + s.packets);
      assert.deepEqual(
        [...tsharkByAnswer].sort(),
        [...byAnswer].sort(),
        `${burst}: PBX->caller packets per answered address`,
      );
    }
  });

  describe("new FreeSWITCH broken from outside: the new phase fails naming the call, the direction and the counts", () => {
    const env = { ...process.env, ...FAST, CALL_DURATION_MS: "1000" };
    const sim = (name: string): Promise<CliResult> =>
      f.cli(["sim", ...f.flags, ...fs, "--artifacts-dir", path.join(f.dir, `art-${name}`)], {
        env,
        timeoutMs: 120_000,
      });
    const mediaVerdicts = (name: string): Record<string, Results["verdicts"][number]> =>
      Object.fromEntries(
        resultsOf(runDirIn(path.join(f.dir, `art-${name}`)))
          .verdicts.filter((v) => v.name === "media-both-ways")
          .map((v) => [v.phase, v]),
      );
    /** new's phase fails on media alone; each call's offender ends with what new's FreeSWITCH counted (`pbx`) */
    const failsOneWay = (name: string, r: CliResult, pbx: RegExp): void => {
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const v = mediaVerdicts(name);
      assert.equal(v.old?.verdict, "pass", JSON.stringify(v.old));
      assert.equal(v.new?.verdict, "fail", JSON.stringify(v.new));
      assert.match(v.new.details, /^0\/6 calls with audio both ways;/);
      assert.equal(v.new.offenders.length, 6);
      for (const o of v.new.offenders) {
        const m =
          /^(pbxc-[0-9a-f]+-new-\d+-\d+@127\.0\.0\.1): PBX->caller 0 packets from 127\.0\.0\.1:\d+ \(expected >= (\d+) of (\d+)\); (.*)$/.exec(
            o,
          );
        assert.ok(m, o);
        assert.match(m[4]!, pbx, o);
      }
      assert.match(r.stdout, /^FAIL new media-both-ways: 0\/6 calls with audio both ways/m);
      assert.match(r.stdout, /^ {4}pbxc-[0-9a-f]+-new-\d+-\d+@127\.0\.0\.1: PBX->caller 0 packets from/m);
      // the signalling is perfect: only the audio is wrong
      assert.doesNotMatch(r.stdout, /^FAIL new (routing|completed|no-lost)/m);
    };

    test("(a) new answers and never sends audio (its dialplan parks the call)", async () => {
      await setDialplan(f.labDir, "new", newEsl, '<action application="answer"/><action application="park"/>');
      try {
        failsOneWay("mute", await sim("mute"), /^new's PBX sent none$/);
      } finally {
        await setDialplan(f.labDir, "new", newEsl);
      }
    });

    test(
      "(b) a firewall drops new's RTP towards the caller (iptables, new's RTP ports)",
      { skip: process.getuid?.() !== 0 && "needs root (iptables)" },
      async () => {
        const [lo, hi] = flagValue(fs, "--new-rtp-ports").split("-");
        const rule = ["OUTPUT", "-o", "lo", "-p", "udp", "--sport", `${lo}:${hi}`, "-j", "DROP"];
        execFileSync("iptables", ["-I", ...rule]);
        try {
          // dropped in the PBX host's OUTPUT chain, FreeSWITCH's sends fail (EPERM): it counts none sent
          failsOneWay("firewall", await sim("firewall"), /^new's PBX sent none$/);
        } finally {
          execFileSync("iptables", ["-D", ...rule]);
        }
      },
    );

    test(
      "(c) a firewall drops the caller's RTP towards new (iptables, new's RTP ports)",
      { skip: process.getuid?.() !== 0 && "needs root (iptables)" },
      async () => {
        const [lo, hi] = flagValue(fs, "--new-rtp-ports").split("-");
        const rule = ["INPUT", "-i", "lo", "-p", "udp", "--dport", `${lo}:${hi}`, "-j", "DROP"];
        execFileSync("iptables", ["-I", ...rule]);
        try {
          // new's FreeSWITCH answers, receives nothing, so echoes nothing. With nothing to read it also
          // answers the BYE seconds late (signalling fails beside), and its hangup event, with its own
          // counters naming the caller->PBX direction, may come after the phase was judged
          const r = await sim("inbound");
          assert.equal(r.code, 1, r.stdout + r.stderr);
          const v = mediaVerdicts("inbound");
          assert.equal(v.old?.verdict, "pass", JSON.stringify(v.old));
          assert.equal(v.new?.verdict, "fail", JSON.stringify(v.new));
          assert.match(v.new.details, /^0\/6 calls with audio both ways;/);
          assert.equal(v.new.offenders.length, 6);
          const back = String.raw`PBX->caller 0 packets from 127\.0\.0\.1:\d+ \(expected >= \d+ of \d+\)`;
          const withPbx = String.raw`caller->PBX: new's PBX received 0 of the caller's (\d+) packets \(expected >= \d+ of \1\); ${back}; new's PBX sent none`;
          const call = String.raw`^pbxc-[0-9a-f]+-new-\d+-\d+@127\.0\.0\.1: `;
          for (const o of v.new.offenders) assert.match(o, new RegExp(`${call}(?:${withPbx}|${back})$`));
          assert.match(r.stdout, /^FAIL new media-both-ways: 0\/6 calls with audio both ways/m);
        } finally {
          execFileSync("iptables", ["-D", ...rule]);
        }
      },
    );
  });
});
