/**
 * The production media path in the lab: `lab up --media-relay rtpengine` puts Debian's rtpengine
 * (userspace, loopback, ng control on loopback) into Kamailio's path with rtpengine_offer/answer/delete.
 * sim with audio passes through it, every call's RTP relayed (the 200 OK the caller gets names the relay)
 * and counted by the relay too (ng query: a third vantage point); the relay losing a share of what it
 * sends (iptables, root) fails each phase naming the call, the direction, the counts and the hop;
 * `migrate --traffic` through the relay passes; lab down leaves no rtpengine behind.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freeUdpPort, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { gate, mediaRows, migrateResults } from "../support/migrate-results.js";
import { processesNaming } from "../support/processes.js";
import { runDirOf } from "../support/run-folder.js";
import { FAST } from "../support/sim-knobs.js";

interface CallRow {
  phase: string;
  media?: {
    callerToPbx: number;
    pbxToCaller: number;
    answered: string | null;
    bothWays: boolean;
    relay?: { fromCaller: number; fromPbx: number };
  };
}
interface Verdict {
  phase: string;
  name: string;
  verdict: string;
  details: string;
  offenders: string[];
}

function lastRun(artifacts: string): string {
  const run = readdirSync(artifacts).find((n) => n.startsWith("call-cutover-"));
  assert.ok(run, `no run folder in ${artifacts}`);
  return path.join(artifacts, run);
}
const resultsOf = (run: string): { calls: CallRow[]; verdicts: Verdict[] } =>
  JSON.parse(readFileSync(path.join(run, "results.json"), "utf8")) as { calls: CallRow[]; verdicts: Verdict[] };

describe("lab up --media-relay rtpengine: every call's RTP through Debian's rtpengine", () => {
  let f: LabFixture;
  let relay: string[];
  let lo: number;
  let hi: number;
  const env = { ...process.env, ...FAST, CALL_DURATION_MS: "1000" };
  before(async () => {
    f = await labFixture();
    const ng = await freeUdpPort();
    // 4 ports a call kept 30 s after its BYE: migrate's 50 calls/s need ~6000. Below the fixture's
    // lab ports (20000-39999) and the kernel's ephemeral range (the caller's media port): the lossy
    // test's iptables rule matches this range and must drop only what the relay sends
    lo = 12000;
    hi = 18999;
    relay = ["--media-relay", "rtpengine", "--relay-ng-port", String(ng), "--relay-ports", `${lo}-${hi}`];
    const up = await f.cli(["lab", "up", ...f.flags, ...relay]);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /started rtpengine 127\.0\.0\.1:\d+\/udp/);
  });
  after(async () => {
    await f.dispose();
  });

  test("lab status names the relay; sim passes with every call relayed and counted by the relay as by the caller", async () => {
    const st = await f.cli(["lab", "status", ...f.flags]);
    assert.match(st.stdout, /^rtpengine\s+127\.0\.0\.1:\d+\/udp\s+\d+\s+alive\s+rtpengine 10\.5/m);
    const art = path.join(f.dir, "art-ok");
    const r = await f.cli(["sim", ...f.flags, "--artifacts-dir", art], { env, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const res = resultsOf(lastRun(art));
    const routed = res.calls.filter((c) => ["old", "both", "new"].includes(c.phase));
    assert.equal(routed.length, 18);
    for (const c of routed) {
      const m = c.media!;
      assert.equal(m.bothWays, true, JSON.stringify(c));
      // the 200 OK the caller got names the relay, not the PBX: its RTP went through rtpengine
      const port = Number(m.answered!.split(":")[1]);
      assert.ok(port >= lo && port <= hi, `answered ${m.answered}, relay ports ${lo}-${hi}`);
      // the relay's own count (ng query) of each direction: what the caller sent, what the caller got back
      assert.ok(m.relay, JSON.stringify(c));
      assert.equal(m.relay.fromCaller, m.callerToPbx, JSON.stringify(m));
      assert.equal(m.relay.fromPbx, m.pbxToCaller, JSON.stringify(m));
    }
  });

  test("the relay losing a share of the packets it sends (iptables, root): each phase fails naming the call, the direction, the counts and the hop", async () => {
    const rule = [
      "OUTPUT",
      "-o",
      "lo",
      "-p",
      "udp",
      "--sport",
      `${lo}:${hi}`,
      "-m",
      "statistic",
      "--mode",
      "random",
      "--probability",
      "0.3",
      "-j",
      "DROP",
    ];
    const art = path.join(f.dir, "art-lossy");
    execFileSync("iptables", ["-I", ...rule]);
    let r;
    try {
      r = await f.cli(["sim", ...f.flags, "--artifacts-dir", art], { env, timeoutMs: 240_000 });
    } finally {
      execFileSync("iptables", ["-D", ...rule]);
    }
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const v = resultsOf(lastRun(art)).verdicts.filter((x) => x.name === "media-both-ways");
    assert.deepEqual(
      v.map((x) => [x.phase, x.verdict]),
      [
        ["old", "fail"],
        ["both", "fail"],
        ["new", "fail"],
      ],
    );
    for (const x of v) {
      assert.match(x.details, /PBX->caller loss \d+\.\d\d% \(\d+ of \d+, RFC 3550\)/);
      for (const o of x.offenders)
        assert.match(
          o,
          /^[^:]+: PBX->caller \d+ packets from 127\.0\.0\.1:\d+ \(expected >= \d+ of \d+\); the relay received \d+ from the PBX: \d+ lost between the relay and the caller/,
        );
    }
    // the signalling was fine all along
    assert.doesNotMatch(r.stdout, /^FAIL \S+ (routing|completed|no-lost)/m);
  });

  test("migrate --traffic through the relay passes with the media gates; lab down leaves no rtpengine", async () => {
    const r = await f.cli(
      ["migrate", ...f.flags, "--artifacts-dir", path.join(f.dir, "art-migrate"), "--traffic", "50"],
      {
        timeoutMs: 240_000,
      },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const runDir = runDirOf(r);
    const res = migrateResults(runDir);
    const both = res.steps.find((s) => s.label === "both")!;
    assert.equal(gate(both, /^one-way calls of new/).verdict, "pass");
    // the relay's own counters (ng query) on every call it relayed: what it received from each side
    const judged = mediaRows(runDir).filter((x) => x.callerToPbx > 0);
    assert.ok(judged.length >= 150, `calls judged: ${judged.length}`);
    assert.ok(res.traffic!.media!.relayCounted! >= judged.length, JSON.stringify(res.traffic?.media));
    for (const x of judged) {
      assert.ok(x.relay, `no relay counters: ${JSON.stringify(x)}`);
      assert.ok(Math.abs(x.relay.fromCaller - x.callerToPbx) <= 2, JSON.stringify(x));
      assert.ok(x.relay.fromPbx >= x.pbxToCaller, JSON.stringify(x));
    }
    const down = await f.cli(["lab", "down", ...f.flags]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(processesNaming(f.dir), []);
  });

  test("bad relay settings: exit 2, nothing started", async () => {
    const bad = await f.cli([
      "lab",
      "up",
      ...f.flags,
      "--lab-dir",
      path.join(f.dir, "other"),
      "--media-relay",
      "rtpproxy",
    ]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--media-relay "rtpproxy": must be one of none, rtpengine/);
    const sip = f.flags[f.flags.indexOf("--sip-port") + 1]!;
    const clash = await f.cli([
      "lab",
      "up",
      ...f.flags,
      "--lab-dir",
      path.join(f.dir, "other"),
      "--media-relay",
      "rtpengine",
      "--relay-ng-port",
      sip,
    ]);
    assert.equal(clash.code, 2, clash.stderr);
    assert.match(clash.stderr, /rtpengine ng control \(udp\) both use 127\.0\.0\.1:\d+/);
  });
});
