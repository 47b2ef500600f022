/**
 * `pbx-cutover sim` end to end with the real Kamailio and SIPp: the full simulation passes with the
 * seed's defaults (shorter long call), and each failure the assertions exist for really fails it.
 * Faults are injected with the test-only PBX_CUTOVER_TEST_FAULT hook (src/sim/test-faults.ts).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseMessageLogBuffer } from "../../src/sip/message-log.js";
import { CLI, ROOT, labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { processesNaming } from "../support/processes.js";
import { FAST } from "../support/sim-knobs.js";

const SEED_ARTIFACTS = [
  "old.assertions.txt",
  "both.assertions.txt",
  "new.assertions.txt",
  ...["old", "both", "new"].flatMap((p) => [`${p}.uas-old.messages.log`, `${p}.uas-new.messages.log`]),
  "inflight.assertions.txt",
  "inflight-precutover.uac.log",
  "inflight-long.uac.log",
  "inflight-post-cutover.uac.log",
  "current_phase.txt",
  "status.txt",
  "simulation.stdout.log",
  "results.json",
  "junit.xml",
  "capture.pcap",
];

function runDirOf(fx: LabFixture): string {
  const dir = path.join(fx.dir, "artifacts");
  const runs = readdirSync(dir).filter((n) => n.startsWith("call-cutover-"));
  assert.equal(runs.length, 1, `one run folder in ${dir}: ${runs.join(", ")}`);
  return path.join(dir, runs[0]!);
}

function lastLines(r: CliResult, n: number): string[] {
  return r.stdout.trimEnd().split("\n").slice(-n);
}

async function labRunning(fx: LabFixture): Promise<boolean> {
  const st = await fx.cli(["lab", "status", ...fx.flags]);
  return st.code === 0;
}

describe("pbx-cutover sim (real Kamailio + SIPp)", () => {
  let fx: LabFixture;
  before(async () => {
    fx = await labFixture();
  });
  after(async () => {
    await fx.dispose();
  });

  test("bad knobs exit 2 before anything starts", async () => {
    const r = await fx.cli(["sim", ...fx.flags, "--calls-per-phase", "0"], {
      env: { ...process.env, CALL_RATE: "fast" },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /invalid simulation knobs; nothing was started/);
    assert.match(r.stderr, /CALL_RATE="fast": must be a number/);
    assert.match(r.stderr, /--calls-per-phase="0": must be greater than zero/);
    assert.equal(existsSync(path.join(fx.dir, "artifacts")), false);
    assert.equal(await labRunning(fx), false);
    // the seed wrapper passes env knobs and flags through to the same command
    const w = spawnSync(
      "bash",
      [path.join(ROOT, "local-lab", "real-services", "run_call_cutover_sim.sh"), ...fx.flags, "--long-call-ms", "-3"],
      {
        env: { ...process.env, POST_CUTOVER_CALLS: "x" },
        encoding: "utf8",
      },
    );
    assert.equal(w.status, 2, w.stderr);
    assert.match(w.stderr, /POST_CUTOVER_CALLS="x": must be an integer/);
    assert.match(w.stderr, /--long-call-ms="-3": must be greater than zero/);
  });

  test("full simulation at seed defaults (LONG_CALL_MS=3000) passes, every artifact there, lab stopped again", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, LONG_CALL_MS: "3000" };
    for (const k of ["CALLS_PER_PHASE", "CALL_RATE", "CALL_DURATION_MS", "POST_CUTOVER_CALLS", "PHASE_GAP_SECONDS"])
      delete env[k];
    // the timeout only ends a hung run (the floor is ~16 s; a loaded 2-core machine needs more)
    const r = await fx.cli(["sim", ...fx.flags], { env, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(lastLines(r, 1)[0]!, /^PASS: all 32 assertions passed/);
    const dir = runDirOf(fx);
    for (const f of SEED_ARTIFACTS) assert.ok(existsSync(path.join(dir, f)), `artifact ${f}`);
    assert.equal(readFileSync(path.join(dir, "status.txt"), "utf8"), "success\n");
    assert.equal(readFileSync(path.join(dir, "current_phase.txt"), "utf8"), "done\n");
    assert.match(
      readFileSync(path.join(dir, "old.assertions.txt"), "utf8"),
      /PASS +seed-delta: old delta \(10\) >= expected \(10\), new delta \(0\) == 0/,
    );
    assert.match(
      readFileSync(path.join(dir, "both.assertions.txt"), "utf8"),
      /PASS +split: split old 5 \/ new 5 of 10/,
    );
    assert.match(readFileSync(path.join(dir, "inflight.assertions.txt"), "utf8"), /PASS +long-call-bye-reached-old/);
    const results = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as {
      status: string;
      exitCode: number;
      knobs: Record<string, number>;
      calls: { phase: string; burst: string; inviteBackend: string; byeBackend: string; outcome: string }[];
      verdicts: { verdict: string; name: string }[];
    };
    assert.equal(results.status, "success");
    assert.deepEqual(results.knobs, {
      CALLS_PER_PHASE: 10,
      CALL_RATE: 5,
      CALL_DURATION_MS: 1200,
      LONG_CALL_MS: 3000,
      POST_CUTOVER_CALLS: 8,
      PHASE_GAP_SECONDS: 0,
      CALL_TIMEOUT_MS: 5000,
    });
    assert.equal(results.calls.length, 10 + 10 + 10 + 1 + 1 + 8);
    assert.ok(results.calls.every((c) => c.outcome === "completed" && c.inviteBackend === c.byeBackend));
    assert.ok(
      results.calls.filter((c) => c.burst === "new" || c.burst === "post").every((c) => c.inviteBackend === "new"),
    );
    assert.equal(results.calls.find((c) => c.burst === "long")!.byeBackend, "old");
    assert.equal(results.verdicts.length, 32);
    // the lab default: verdicts from the stand-ins' logs, HEP cross-checks them per phase
    assert.equal(results.verdicts.filter((v) => v.name === "evidence-agrees").length, 4);
    const junit = readFileSync(path.join(dir, "junit.xml"), "utf8");
    assert.equal((junit.match(/<testcase /g) ?? []).length, 32);
    assert.match(junit, /failures="0" errors="0"/);
    // the stdout log holds what was printed
    assert.equal(readFileSync(path.join(dir, "simulation.stdout.log"), "utf8"), r.stdout);
    assert.equal(await labRunning(fx), false, "the sim started the lab, so it stopped it");
  });

  test("Ctrl-C while calls are up: exit 130, status failed, every SIPp burst and the lab it started stopped", async () => {
    const artifacts = path.join(fx.dir, "artifacts-int");
    const child = spawn(process.execPath, [CLI, "sim", ...fx.flags, "--artifacts-dir", artifacts], {
      cwd: fx.dir,
      // calls held 60 s: only a real stop ends the burst in time
      env: { ...process.env, ...FAST, CALLS_PER_PHASE: "4", CALL_DURATION_MS: "60000" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const sawBoth = new Promise<void>((resolve) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("sending 4 calls (old)")) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await sawBoth;
    // calls are up: the old backend has answered an INVITE of this run (a condition, not a sleep)
    const tag = /pbx-cutover sim: run ([0-9a-f]+)/.exec(out)?.[1];
    assert.ok(tag);
    const oldLog = path.join(fx.labDir, "uas-old.messages.log");
    const deadline = Date.now() + 60_000;
    while (!(existsSync(oldLog) && readFileSync(oldLog, "utf8").includes(`pbxc-${tag}-old-`))) {
      assert.ok(Date.now() < deadline, "no call of the old phase reached the old backend");
      await new Promise((r) => setTimeout(r, 25));
    }
    const t = performance.now();
    child.kill("SIGINT");
    assert.equal(await exited, 130, out);
    // far below the 60 s hold, with room for a loaded machine
    assert.ok(
      performance.now() - t < 20_000,
      `stopped in ${Math.round(performance.now() - t)} ms, not after the 60 s hold`,
    );
    const run = readdirSync(artifacts).find((n) => n.startsWith("call-cutover-"))!;
    assert.equal(readFileSync(path.join(artifacts, run, "status.txt"), "utf8"), "failed\n");
    assert.equal(readFileSync(path.join(artifacts, run, "current_phase.txt"), "utf8"), "old\n");
    assert.equal(await labRunning(fx), false);
    // no SIPp of this run is left: its Call-ID tag is in the argv of every burst
    const left = processesNaming(`pbxc-${tag}-`, fx.labDir);
    assert.deepEqual(left, []);
  });

  test("a backend that does not answer OPTIONS at preflight: exit 3, nothing applied, a running lab left running", async () => {
    assert.equal((await fx.cli(["lab", "up", ...fx.flags])).code, 0);
    const state = JSON.parse(readFileSync(path.join(fx.labDir, "lab.json"), "utf8")) as {
      components: { role: string; pid: number }[];
    };
    const pid = state.components.find((c) => c.role === "new")!.pid;
    process.kill(pid, "SIGSTOP"); // alive, but silent
    try {
      const artifacts = path.join(fx.dir, "artifacts-pre");
      const r = await fx.cli(["sim", ...fx.flags, "--artifacts-dir", artifacts], { env: { ...process.env, ...FAST } });
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        /the new backend sip:127\.0\.0\.1:\d+ does not answer SIP OPTIONS .*; nothing was changed/,
      );
      assert.doesNotMatch(r.stdout, /applied profile/);
      const run = readdirSync(artifacts).find((n) => n.startsWith("call-cutover-"))!;
      const results = JSON.parse(readFileSync(path.join(artifacts, run, "results.json"), "utf8")) as {
        status: string;
        exitCode: number;
      };
      assert.deepEqual([results.status, results.exitCode], ["failed", 3]);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    assert.equal(await labRunning(fx), true, "a lab the sim did not start is left running");
    assert.equal((await fx.cli(["lab", "down", ...fx.flags])).code, 0);
  });

  describe("the assertions can fail", () => {
    let fx2: LabFixture;
    before(async () => {
      fx2 = await labFixture();
    });
    after(async () => {
      await fx2.dispose();
    });
    const sim = (fault: string, knobs: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
      fx2.cli(["sim", ...fx2.flags, "--artifacts-dir", path.join(fx2.dir, "artifacts", fault.replace(/[:@]/g, "_"))], {
        env: { ...process.env, ...FAST, ...knobs, PBX_CUTOVER_TEST_FAULT: fault },
        timeoutMs: 60_000,
      });

    test("(a) new backend stopped before the new phase: exit 1 naming the lost and failed calls", async () => {
      const r = await sim("stop-backend:new@before-phase:new");
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /WARNING: test-only faults will be injected/);
      assert.match(r.stdout, /^FAIL new completed: 0\/6 calls completed \(2xx to INVITE and BYE\); 6 sent, 6 failed$/m);
      assert.match(
        r.stdout,
        /^FAIL new no-lost: 0\/6 calls seen on exactly one backend; 6 lost \/ unknown destination \(reached no backend\), 0 on both$/m,
      );
      assert.match(
        r.stdout,
        /^FAIL new routing: 0\/6 calls reached new only, 0 reached old; 6 lost \/ unknown destination \(reached neither old nor new\)$/m,
      );
      assert.match(r.stdout, /^ {4}pbxc-[0-9a-f]+-new-1-\d+@127\.0\.0\.1: no final response to INVITE$/m);
      // old and both passed before the fault
      assert.doesNotMatch(r.stdout, /^FAIL (old|both) /m);
      // the failing assertions are the last lines printed
      assert.match(lastLines(r, 1)[0]!, /^(FAIL inflight| {4}pbxc-)/);
    });

    test("(b) dispatcher switched to old behind the tool's back during the new phase: exit 1 naming misrouted calls", async () => {
      // the switch lands between two calls; 200 ms apart (5/s) leave room for a loaded machine, and
      // where exactly it lands is counted, not assumed
      const r = await sim("profile:old@during-phase:new", { CALL_RATE: "5" });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const m = /^FAIL new routing: (\d)\/6 calls reached new only, (\d) reached old \(misrouted\)$/m.exec(r.stdout);
      assert.ok(m, r.stdout);
      const [toNew, toOld] = [Number(m[1]), Number(m[2])];
      assert.ok(toNew >= 1 && toOld >= 1 && toNew + toOld === 6, m[0]);
      assert.match(
        r.stdout,
        new RegExp(`^ {4}pbxc-[0-9a-f]+-new-${toNew + 1}-\\d+@127\\.0\\.0\\.1: INVITE reached old$`, "m"),
      );
      assert.match(
        r.stdout,
        new RegExp(
          `^FAIL new seed-delta: old delta \\(${toOld}\\) == 0, new delta \\(${toNew}\\) >= expected \\(6\\)`,
          "m",
        ),
      );
      const tail = lastLines(r, 2).join("\n");
      assert.match(tail, /FAIL new seed-delta|pbxc-/);
    });

    test("(c) the in-flight long call's BYE does not reach old: exit 1", async () => {
      const r = await sim("stop-backend:old@after-cutover");
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAIL inflight long-call-bye-reached-old: the long call's BYE reached no backend/m);
      assert.match(r.stdout, /^FAIL inflight long-call-completed: 0\/1 calls completed/m);
      assert.match(lastLines(r, 1)[0]!, /^ {4}pbxc-[0-9a-f]+-long-1-\d+@127\.0\.0\.1: BYE reached no backend$/);
      // routing of the fresh calls was still right
      assert.doesNotMatch(r.stdout, /^FAIL inflight post-cutover/m);
    });

    test("(d) the old backend restarted (same port, same log) while the long call is up: the dead dialog fails, exit 1", async () => {
      const fault = "restart-backend:old@after-cutover";
      const r = await sim(fault);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(
        r.stdout,
        /test fault restart-backend:old@after-cutover: restarted the old backend \(pid \d+ stopped; new pid \d+/,
      );
      assert.match(
        r.stdout,
        /the old backend's message log was recreated at \d\d:\d\d:\d\d\.\d{3} \(.+\): a restarted backend; reading it from the start \(instance 2\)/,
      );
      assert.match(r.stdout, /^FAIL inflight long-call-completed: 0\/1 calls completed/m);
      assert.match(
        r.stdout,
        /^ {4}pbxc-[0-9a-f]+-long-1-\d+@127\.0\.0\.1: BYE answered 481 by a backend that does not hold the dialog \(restarted\?\)$/m,
      );
      assert.match(
        r.stdout,
        /^FAIL inflight long-call-bye-reached-old: the long call's BYE reached old, but a different instance than the one that answered the INVITE \(its message log was recreated at \d\d:\d\d:\d\d\.\d{3}; (truncated|rewritten in place|replaced)(?: \([^)]*\))?[^)]*\)$/m,
      );
      assert.match(
        r.stdout,
        /^ {4}pbxc-[0-9a-f]+-long-1-\d+@127\.0\.0\.1: BYE reached old, but a different instance than the one that answered the INVITE \(its message log/m,
      );
      // everything else of the in-flight check held
      assert.doesNotMatch(
        r.stdout,
        /^FAIL inflight (post-cutover|precheck|cutover-while|long-call-reached-old|no-lost|no-unexpected)/m,
      );
      // the artifact the verdict rests on holds the long call's INVITE and says the log was recreated
      const dir = path.join(fx2.dir, "artifacts", fault.replace(/[:@]/g, "_"));
      const run = readdirSync(dir).find((n) => n.startsWith("call-cutover-"))!;
      const copy = readFileSync(path.join(dir, run, "inflight.uas-old.messages.log"), "latin1");
      assert.ok(copy.length > 0, "inflight.uas-old.messages.log is not empty");
      assert.match(copy, /^# pbx-cutover: .*uas-old\.messages\.log was recreated during this window/m);
      const recs = parseMessageLogBuffer(Buffer.from(copy, "latin1")).records;
      const longInvite = recs.find(
        (m) =>
          m.direction === "received" &&
          m.text.startsWith("INVITE ") &&
          /^Call-ID: pbxc-[0-9a-f]+-long-1-/m.test(m.text),
      );
      assert.ok(longInvite, "the long call's INVITE (read before the old backend's log was recreated)");
      assert.ok(
        recs.some((m) => m.direction === "sent" && m.text.startsWith("SIP/2.0 481 ")),
        "the restarted backend's 481 to the BYE",
      );
      // lab down (the sim started the lab) stopped the restarted backend too
      const left = processesNaming(fx2.labDir);
      assert.deepEqual(left, []);
    });

    test("(e) a backend frozen during a phase answers late: late messages stay with their own phase, rows agree with the verdicts", async () => {
      const fault = "freeze-backend:new@during-phase:both";
      const r = await sim(fault);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /test fault freeze-backend:new@during-phase:both: froze the new backend/);
      assert.match(r.stdout, /test fault thaw-backend:new@before-phase:new: thawed the new backend/);
      assert.match(r.stdout, /^FAIL both completed: /m);
      // nothing of phase both is blamed on the next phase, nor on any later one
      assert.doesNotMatch(r.stdout, /^FAIL (old|new|inflight) /m);
      const dir = path.join(fx2.dir, "artifacts", fault.replace(/[:@]/g, "_"));
      const run = readdirSync(dir).find((n) => n.startsWith("call-cutover-"))!;
      const results = JSON.parse(readFileSync(path.join(dir, run, "results.json"), "utf8")) as {
        calls: { phase: string; burst: string; inviteBackend: string | null; outcome: string }[];
        verdicts: { phase: string; name: string; verdict: string; details: string; numbers: Record<string, number> }[];
      };
      const v = (phase: string, name: string) => results.verdicts.find((a) => a.phase === phase && a.name === name)!;
      assert.equal(v("new", "no-unexpected").numbers.unexpected, 0, v("new", "no-unexpected").details);
      assert.equal(v("new", "seed-delta").numbers.newDelta, 6, v("new", "seed-delta").details);
      // the late INVITEs reached new after the phase ended: re-judged, they count for both
      assert.match(r.stdout, /late evidence for phase both: \d+ messages? of its calls arrived after it ended/);
      // rows and verdicts agree, phase by phase
      for (const phase of ["old", "both", "new"]) {
        const rows = results.calls.filter((c) => c.phase === phase);
        const completed = v(phase, "completed");
        assert.equal(
          completed.numbers.completed,
          rows.filter((c) => c.outcome === "completed").length,
          `${phase}: ${completed.details}`,
        );
        const lost = v(phase, "no-lost");
        assert.equal(
          lost.numbers.lost,
          rows.filter((c) => c.inviteBackend === null).length,
          `${phase}: ${lost.details}`,
        );
        if (phase === "both") {
          const split = v("both", "split");
          assert.equal(split.numbers.old, rows.filter((c) => c.inviteBackend === "old").length, split.details);
          assert.equal(split.numbers.new, rows.filter((c) => c.inviteBackend === "new").length, split.details);
        } else {
          const routing = v(phase, "routing");
          assert.equal(
            routing.numbers[`reached_${phase}`],
            rows.filter((c) => c.inviteBackend === phase).length,
            routing.details,
          );
        }
      }
      assert.ok(
        results.calls.some((c) => c.phase === "both" && c.inviteBackend === "new" && c.outcome === "failed"),
        "a late-answered call of both is a failed call at new",
      );
    });
  });
});
