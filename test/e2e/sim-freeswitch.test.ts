/**
 * `sim` and `migrate` through real FreeSWITCH (old 1.10.3, new 1.10.12 from `make real-services`)
 * behind the real Kamailio: verdicts from HEP, every call cross-checked by each FreeSWITCH's own
 * event socket (event-socket-agrees), the in-flight long call's channel on 1.10.3 ended by the
 * caller's BYE; the sabotage runs fail from that evidence; migrate leaves new-only routing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  callThroughProxy,
  disposeFreeswitchLab,
  freeswitchFlags,
  freeswitchLabUp,
  freeswitchPidsUnder,
} from "../support/freeswitch-fixture.js";
import { CLI, labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { activeOn, runtimeUris, uriOf } from "../support/lab-runtime.js";
import { FAST, seedEnv } from "../support/sim-knobs.js";
import type { BackendRole } from "../../src/core/backend-role.js";

interface Results {
  status: string;
  verdicts: { phase: string; name: string; verdict: string; source: string; details: string }[];
  calls: {
    callId: string;
    burst: string;
    inviteBackend: string | null;
    byeBackend: string | null;
    outcome: string;
    dialogToTag: string | null;
  }[];
  evidence: {
    mode: string;
    verdictsFrom: string;
    crossCheck?: string;
    eventSocket?: Record<BackendRole, { events: number; calls: number; file: string; closedEarlyAt?: string }>;
  };
}

interface EventLine {
  name: string;
  callId: string;
  switchname: string;
  hangupDisposition?: string;
}

/** live pids of `comm` whose command line names `dir` (zombies excluded) */
function pidsOf(comm: string, dir: string): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .flatMap((e) => {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") return [];
        if (readFileSync(`/proc/${e}/comm`, "utf8").trim() !== comm) return [];
        return readFileSync(`/proc/${e}/cmdline`, "utf8").includes(dir) ? [Number(e)] : [];
      } catch {
        return [];
      }
    });
}

function runDirIn(artifacts: string): string {
  const runs = readdirSync(artifacts).filter((n) => n.startsWith("call-cutover-"));
  assert.equal(runs.length, 1, runs.join(", "));
  return path.join(artifacts, runs[0]!);
}

describe("sim on real FreeSWITCH: HEP + event sockets", () => {
  let f: LabFixture;
  let fs: string[];
  before(async () => {
    f = await labFixture();
    fs = await freeswitchFlags();
  });
  after(async () => {
    await f.dispose();
    assert.deepEqual(freeswitchPidsUnder(f.dir), [], "no freeswitch left behind");
  });

  test("seed defaults pass: every phase and the in-flight cutover, HEP and both event sockets agree, the long call's BYE ended 1.10.3's channel", async () => {
    const env = seedEnv();
    const art = path.join(f.dir, "art-seed");
    const r = await f.cli(["sim", ...f.flags, ...fs, "--artifacts-dir", art], { env, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^evidence: HEP, cross-checked call by call by each FreeSWITCH's event socket \(event-socket-agrees\)/m,
    );
    assert.match(r.stdout.trimEnd().split("\n").at(-1)!, /^PASS: all 33 assertions passed/);
    const dir = runDirIn(art);
    const res = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as Results;
    assert.equal(res.status, "success");
    assert.deepEqual([res.evidence.mode, res.evidence.verdictsFrom], ["hep", "hep"]);
    assert.match(res.evidence.crossCheck ?? "", /event-socket-agrees/);
    assert.equal(res.calls.length, 40);
    assert.ok(res.calls.every((c) => c.outcome === "completed" && c.inviteBackend === c.byeBackend));
    const agrees = res.verdicts.filter((v) => v.name === "event-socket-agrees");
    assert.deepEqual(
      agrees.map((v) => [v.phase, v.verdict, v.source]),
      [
        ["old", "pass", "hep+event-socket"],
        ["both", "pass", "hep+event-socket"],
        ["new", "pass", "hep+event-socket"],
        ["inflight", "pass", "hep+event-socket"],
      ],
    );
    const hungUp = res.verdicts.find((v) => v.name === "long-call-hung-up-at-old")!;
    assert.deepEqual([hungUp.verdict, hungUp.source], ["pass", "event-socket"]);
    const long = res.calls.find((c) => c.burst === "long")!;
    assert.equal(long.byeBackend, "old");
    const byeVerdict = res.verdicts.find((v) => v.name === "long-call-bye-reached-old")!;
    assert.equal(byeVerdict.verdict, "pass");
    assert.ok(
      byeVerdict.details.includes(`old answered 200 in the dialog (To-tag ${long.dialogToTag})`),
      byeVerdict.details,
    );

    // each FreeSWITCH's own account, in the run folder: every call it got, created and completed
    const events = (role: BackendRole): EventLine[] =>
      readFileSync(path.join(dir, res.evidence.eventSocket![role].file), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as EventLine);
    for (const role of ["old", "new"] as const) {
      const ev = events(role);
      assert.ok(ev.every((e) => e.switchname === `pbx-cutover-${role}`));
      const mine = res.calls
        .filter((c) => c.inviteBackend === role)
        .map((c) => c.callId)
        .sort();
      const completed = ev.filter((e) => e.name === "CHANNEL_HANGUP_COMPLETE");
      assert.deepEqual(
        completed.map((e) => e.callId).sort(),
        mine,
        `${role}: a completed channel for each of its calls, no other`,
      );
      assert.ok(
        completed.every((e) => e.hangupDisposition === "recv_bye"),
        `${role}: every channel ended by the caller's BYE`,
      );
      assert.equal(res.evidence.eventSocket![role].calls, mine.length);
    }
    assert.deepEqual(
      [
        res.calls.filter((c) => c.inviteBackend === "old").length,
        res.calls.filter((c) => c.inviteBackend === "new").length,
      ],
      [17, 23],
    );
    assert.ok(events("old").some((e) => e.callId === long.callId && e.name === "CHANNEL_HANGUP_COMPLETE"));
    assert.ok(!events("new").some((e) => e.callId === long.callId));
    assert.deepEqual(freeswitchPidsUnder(f.dir), [], "the lab this run started is gone");
  });

  describe("sabotage on real FreeSWITCH fails the run from the evidence", () => {
    const sim = (fault: string): Promise<CliResult> =>
      f.cli(["sim", ...f.flags, ...fs, "--artifacts-dir", path.join(f.dir, "art", fault.replace(/[:@]/g, "_"))], {
        env: { ...process.env, ...FAST, PBX_CUTOVER_TEST_FAULT: fault },
        timeoutMs: 90_000,
      });

    test("(a) new FreeSWITCH stopped before the new phase: Kamailio's forwards unanswered, no channel at new, exit 1", async () => {
      const r = await sim("stop-backend:new@before-phase:new");
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stdout,
        /^FAIL new routing: 0\/6 calls reached new only, 0 reached old; 6 lost \/ unknown destination/m,
      );
      assert.match(r.stdout, /^FAIL new completed: 0\/6 calls completed/m);
      assert.match(r.stdout, /event socket of new closed at .* \(FreeSWITCH stopped\?\)/);
      assert.doesNotMatch(r.stdout, /^FAIL (old|both) /m);
      // HEP and old's/new's event sockets still agree on what happened: nothing reached new
      assert.doesNotMatch(r.stdout, /^FAIL \w+ event-socket-agrees/m);
      assert.deepEqual(freeswitchPidsUnder(f.dir), []);
    });

    test("(b) dispatcher switched to old behind the tool's back during the new phase: misrouted calls named, exit 1", async () => {
      const r = await sim("profile:old@during-phase:new");
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const m = /^FAIL new routing: (\d)\/6 calls reached new only, (\d) reached old \(misrouted\)$/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.ok(Number(m[1]) + Number(m[2]) === 6 && Number(m[2]) >= 1, m[0]);
      assert.match(r.stdout, /^ {4}pbxc-[0-9a-f]+-new-\d+-\d+@127\.0\.0\.1: INVITE reached old$/m);
      // the misrouted calls are 1.10.3's own channels: the event sockets say the same
      assert.doesNotMatch(r.stdout, /^FAIL \w+ event-socket-agrees/m);
    });

    test("(c) the in-flight long call's BYE does not reach 1.10.3 (frozen after the cutover): exit 1 from HEP and from old's event socket", async () => {
      const r = await sim("freeze-backend:old@after-cutover");
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAIL inflight long-call-bye-reached-old: the long call's BYE reached no backend/m);
      assert.match(
        r.stdout,
        /^FAIL inflight long-call-hung-up-at-old: old's channel for the long call never ended \(no CHANNEL_HANGUP_COMPLETE\)$/m,
      );
      assert.match(r.stdout, /^FAIL inflight long-call-completed: 0\/1 calls completed/m);
      assert.doesNotMatch(r.stdout, /^FAIL inflight post-cutover/m);
      assert.deepEqual(freeswitchPidsUnder(f.dir), [], "the frozen FreeSWITCH was thawed and stopped");
    });
  });
});

describe("sim on real FreeSWITCH: Ctrl-C", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("SIGINT during the both phase: exit 130, the lab it started is stopped, no freeswitch, sipp or kamailio of it left", async () => {
    const fs = await freeswitchFlags();
    const child = spawn(
      process.execPath,
      [CLI, "sim", ...f.flags, ...fs, "--artifacts-dir", path.join(f.dir, "art-int")],
      {
        cwd: f.dir,
        env: { ...process.env, ...FAST, CALLS_PER_PHASE: "40", CALL_RATE: "10" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    const deadline = Date.now() + 60_000;
    while (!/sending 40 calls \(both\)/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(out, /sending 40 calls \(both\)/, out + err);
    assert.equal(freeswitchPidsUnder(f.dir).length, 2, "both FreeSWITCH run while the calls go");
    child.kill("SIGINT");
    assert.equal(await closed, 130, out + err);
    assert.deepEqual(freeswitchPidsUnder(f.dir), [], "no freeswitch left");
    assert.deepEqual(pidsOf("sipp", f.dir), [], "no sipp left");
    assert.deepEqual(pidsOf("kamailio", f.dir), [], "no kamailio left");
    assert.equal(existsSync(path.join(f.labDir, "lab.json")), false, "the lab it started is down");
    assert.match(readFileSync(path.join(f.dir, "art-int", "latest", "status.txt"), "utf8"), /failed|interrupted/);
  });
});

describe("migrate on a running real-FreeSWITCH lab", () => {
  let f: LabFixture;
  let fs: string[];
  before(async () => {
    ({ f, fs } = await freeswitchLabUp());
  });
  after(async () => {
    await disposeFreeswitchLab(f);
  });

  test("dashboard: active calls per backend from Kamailio and from each FreeSWITCH's channel count, side by side; 0 and 0 at the end", async () => {
    const art = path.join(f.dir, "art-dash");
    const r = await f.cli(["dashboard", ...f.flags, ...fs, "--interval", "0.2", "--artifacts-dir", art], {
      env: { ...process.env, ...FAST, DASH_NO_CLEAR: "1" },
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr);
    assert.match(r.stdout, /^backend\s+total\s+.*\sactive\s+channels$/m);
    assert.match(r.stdout, /^active = Kamailio's dialogs; channels = FreeSWITCH's own \(show channels count\)$/m);
    const finalFrame = r.stdout.slice(r.stdout.lastIndexOf("--- frame "));
    assert.match(finalFrame, /^active dialogs at the end: old 0, new 0 \(Kamailio/m, finalFrame);
    assert.match(
      finalFrame,
      /^active channels at the end: old 0, new 0 \(each FreeSWITCH, show channels count\)$/m,
      finalFrame,
    );
    const csv = readFileSync(path.join(art, "latest", "live-metrics.csv"), "utf8")
      .trimEnd()
      .split("\n");
    const head = csv[0]!.split(",");
    const col = (name: string): number => head.indexOf(name);
    assert.ok(col("old_pbx_channels") > 0 && col("new_pbx_channels") > 0, csv[0]);
    const rows = csv.slice(1).map((l) => l.split(","));
    // while the long call is up on old (2.5 s, ~12 ticks): Kamailio's dialog and 1.10.3's own channel, together
    assert.ok(
      rows.some(
        (row) =>
          row[col("phase")] === "inflight" && row[col("old_active")] === "1" && row[col("old_pbx_channels")] === "1",
      ),
      "a tick saw the long call as 1 dialog (Kamailio) and 1 channel (old FreeSWITCH)",
    );
    const observed = rows.filter((row) => row[col("dispatcher_mode")] !== "unavailable");
    assert.ok(
      observed.length >= 10 &&
        observed.every((row) => row[col("old_pbx_channels")] !== "" && row[col("new_pbx_channels")] !== ""),
      "every observed row has both channel counts",
    );
    assert.deepEqual([rows.at(-1)![col("old_pbx_channels")], rows.at(-1)![col("new_pbx_channels")]], ["0", "0"]);
  });

  test("drain on real FreeSWITCH: a long call on 1.10.3 is waited for by Kamailio's profile and by 1.10.3's own channel count, then drained", async () => {
    const back = await f.cli(["apply", ...f.flags, ...fs, "--mode", "old"], { timeoutMs: 30_000 });
    assert.equal(back.code, 0, back.stdout + back.stderr);
    // one call held 30 s (longer than migrate takes on a loaded machine): it stays on old after the cutover
    const long = callThroughProxy(f, 1, "drain-long", 30_000);
    const deadline = Date.now() + 30_000;
    while ((await activeOn(f, "old")) !== 1) {
      assert.ok(Date.now() < deadline, "the long call did not come up on old");
      await new Promise((r) => setTimeout(r, 50));
    }
    const art = path.join(f.dir, "art-drain");
    const r = await f.cli(["migrate", ...f.flags, ...fs, "--drain-timeout", "90", "--artifacts-dir", art], {
      timeoutMs: 150_000,
    });
    const call = await long;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(call.code, 0, call.log.slice(-2000));
    assert.match(
      r.stdout,
      /drain: waiting up to 90 s for the old backend's calls to end; 1 call\(s\) up on old: fs-e2e-drain-long-\S+ \(up \d+ s\); FreeSWITCH old counts 1 channel\(s\)/,
    );
    const results = JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as {
      drain: { state: string; initial: number; pbxChannels?: number; detail: string };
    };
    assert.equal(results.drain.state, "drained", results.drain.detail);
    assert.equal(results.drain.initial, 1);
    assert.equal(results.drain.pbxChannels, 0, "1.10.3's own count reached 0");
    assert.match(
      results.drain.detail,
      /^the last of 1 call\(s\) ended after [\d.]+ s; FreeSWITCH old counts 0 channel\(s\)$/,
    );
  });

  test("passes old -> both -> new and leaves new-only routing: the next calls are answered by 1.10.12", async () => {
    const r = await f.cli(["migrate", ...f.flags, ...fs, "--artifacts-dir", path.join(f.dir, "art-migrate")], {
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /lab: already running/);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
    const calls = await callThroughProxy(f, 2, "post-migrate");
    assert.equal(calls.code, 0, calls.log.slice(-2000));
    assert.equal(calls.userAgents.length, 4);
    assert.ok(
      calls.userAgents.every((ua) => ua.startsWith("FreeSWITCH-mod_sofia/1.10.12-")),
      calls.userAgents.join(", "),
    );
  });
});
