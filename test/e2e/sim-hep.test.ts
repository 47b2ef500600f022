/**
 * `pbx-cutover sim` with HEP evidence, end to end on the real Kamailio and SIPp: verdicts from what
 * Kamailio mirrored alone (`--evidence hep`: the stand-ins' logs are not read) pass a whole run and
 * fail each sabotage sim.test.ts proves for the logs; with both sources, `evidence-agrees` fails when
 * they disagree; `--hep-forward` relays every datagram; a taken HEP port is exit 3 when HEP was asked
 * for and a recorded fallback when it was not.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import dgram from "node:dgram";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { CLI, labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { FAST } from "../support/sim-knobs.js";

interface Results {
  status: string;
  verdicts: { phase: string; name: string; verdict: string; source: string }[];
  calls: { burst: string; inviteBackend: string | null; byeBackend: string | null; outcome: string }[];
  evidence: {
    mode: string;
    verdictsFrom: string;
    hepUnavailable?: string;
    hep: null | {
      datagrams: number;
      packets: number;
      malformed: number;
      malformedByReason: Record<string, number>;
      kernelDrops: number;
      forwarded: number;
      forwardErrors: number;
      pcap: { path: string; records: number };
    };
  };
}

function runDir(artifacts: string): string {
  const runs = readdirSync(artifacts).filter((n) => n.startsWith("call-cutover-"));
  assert.equal(runs.length, 1, runs.join(", "));
  return path.join(artifacts, runs[0]!);
}

const results = (dir: string): Results => JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8")) as Results;

async function waitFor(pred: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe("pbx-cutover sim with HEP evidence (real Kamailio + SIPp)", () => {
  let fx: LabFixture;
  before(async () => {
    fx = await labFixture();
  });
  after(async () => {
    await fx.dispose();
  });

  test("--evidence hep at seed defaults passes from HEP alone; --hep-forward relays every datagram; a malformed one is counted; tshark counts capture.pcap", async () => {
    // the Homer stand-in: a loopback UDP socket counting what it is relayed
    const homer = dgram.createSocket("udp4");
    let relayed = 0;
    homer.on("message", () => relayed++);
    await new Promise<void>((r) => homer.bind(0, "127.0.0.1", () => r()));
    const artifacts = path.join(fx.dir, "artifacts-hep");
    const env: NodeJS.ProcessEnv = { ...process.env, LONG_CALL_MS: "3000" };
    for (const k of ["CALLS_PER_PHASE", "CALL_RATE", "CALL_DURATION_MS", "POST_CUTOVER_CALLS", "PHASE_GAP_SECONDS"])
      delete env[k];
    const child = spawn(
      process.execPath,
      [
        CLI,
        "sim",
        ...fx.flags,
        "--evidence",
        "hep",
        "--hep-forward",
        `127.0.0.1:${homer.address().port}`,
        "--artifacts-dir",
        artifacts,
      ],
      { cwd: fx.dir, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const sender = dgram.createSocket("udp4");
    let sentGarbage = false;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      // the collector is bound once the run says so: one datagram that is not HEP
      if (!sentGarbage && out.includes("HEP collector on")) {
        sentGarbage = true;
        sender.send(Buffer.from("not a HEP packet"), fx.ports.hep, "127.0.0.1");
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    clearTimeout(timer);
    sender.close();
    try {
      assert.equal(code, 0, out + err);
      assert.match(
        out,
        /evidence: HEP alone \(the stand-ins' logs are not read\); HEP collector on 127\.0\.0\.1:\d+, relayed to 127\.0\.0\.1:\d+/,
      );
      assert.match(out.trimEnd().split("\n").at(-1)!, /^PASS: all 28 assertions passed/);
      const dir = runDir(artifacts);
      const r = results(dir);
      assert.equal(r.status, "success");
      assert.deepEqual([r.evidence.mode, r.evidence.verdictsFrom], ["hep", "hep"]);
      assert.ok(r.verdicts.every((v) => v.verdict === "pass"));
      assert.ok(r.verdicts.every((v) => v.source === (v.name === "media-both-ways" ? "rtp-capture" : "hep")));
      assert.equal(r.calls.length, 40);
      assert.ok(r.calls.every((c) => c.outcome === "completed" && c.inviteBackend === c.byeBackend));
      assert.equal(r.calls.find((c) => c.burst === "long")!.byeBackend, "old");
      // the stand-ins' logs were not read: the phase copies say so
      assert.match(readFileSync(path.join(dir, "old.uas-old.messages.log"), "utf8"), /not read: --evidence hep/);
      const h = r.evidence.hep!;
      assert.equal(h.kernelDrops, 0);
      assert.equal(h.malformed, 1);
      assert.deepEqual(h.malformedByReason, { "not-hep": 1 });
      assert.equal(h.packets + h.malformed, h.datagrams);
      assert.equal(h.pcap.records, h.packets);
      assert.equal(h.forwardErrors, 0);
      assert.equal(h.forwarded, h.datagrams, "every datagram relayed, the malformed one too");
      assert.ok(
        await waitFor(() => relayed >= h.forwarded, 5000),
        `the forward target received ${relayed} of ${h.forwarded}`,
      );
      assert.equal(relayed, h.datagrams);
      // tshark: INVITEs per destination port in capture.pcap = what the run counted
      const decodeAs = [fx.ports.sip, fx.ports.old, fx.ports.new].flatMap((p) => ["-d", `udp.port==${p},sip`]);
      const { stdout } = await promisify(execFile)("tshark", [
        "-r",
        path.join(dir, "capture.pcap"),
        ...decodeAs,
        "-Y",
        'sip.Method == "INVITE"',
        "-T",
        "fields",
        "-e",
        "udp.dstport",
      ]);
      const perPort = new Map<number, number>();
      for (const p of stdout.split("\n").filter(Boolean).map(Number)) perPort.set(p, (perPort.get(p) ?? 0) + 1);
      const at = (b: string): number => r.calls.filter((c) => c.inviteBackend === b).length;
      assert.deepEqual(
        [perPort.get(fx.ports.sip), perPort.get(fx.ports.old), perPort.get(fx.ports.new)],
        [40, at("old"), at("new")],
        stdout,
      );
      assert.deepEqual([at("old"), at("new")], [17, 23]);
    } finally {
      homer.close();
    }
  });

  describe("from HEP alone, the sabotage sim.test.ts proves for the logs fails the run too", () => {
    const sim = (fault: string, args: string[] = [], knobs: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
      fx.cli(
        ["sim", ...fx.flags, ...args, "--artifacts-dir", path.join(fx.dir, "artifacts", fault.replace(/[:@]/g, "_"))],
        {
          env: { ...process.env, ...FAST, ...knobs, PBX_CUTOVER_TEST_FAULT: fault },
          timeoutMs: 60_000,
        },
      );
    const hep = ["--evidence", "hep"];

    test("(a) new backend stopped before the new phase: Kamailio's forwards unanswered = lost, calls failed", async () => {
      const r = await sim("stop-backend:new@before-phase:new", hep);
      assert.equal(r.code, 1, r.stdout + r.stderr);
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
      assert.doesNotMatch(r.stdout, /^FAIL (old|both) /m);
    });

    test("(b) dispatcher switched to old behind the tool's back during the new phase: misrouted calls named", async () => {
      const r = await sim("profile:old@during-phase:new", hep, { CALL_RATE: "5" });
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
    });

    test("(c) the in-flight long call's BYE does not reach old (stopped): exit 1", async () => {
      const r = await sim("stop-backend:old@after-cutover", hep);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAIL inflight long-call-bye-reached-old: the long call's BYE reached no backend/m);
      assert.match(r.stdout, /^FAIL inflight long-call-completed: 0\/1 calls completed/m);
      assert.doesNotMatch(r.stdout, /^FAIL inflight post-cutover/m);
    });

    test("(d) the old backend restarted under the long call: its 481 to the BYE fails the dialog", async () => {
      const r = await sim("restart-backend:old@after-cutover", hep);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAIL inflight long-call-completed: 0\/1 calls completed/m);
      // Kamailio's 404 to SIPp's abort BYE (a new branch, sent after the 481) is not the BYE's answer,
      // even when its HEP packet overtakes the 481's
      assert.match(
        r.stdout,
        /^ {4}pbxc-[0-9a-f]+-long-1-\d+@127\.0\.0\.1: BYE answered 481 by a backend that does not hold the dialog \(restarted\?\)$/m,
      );
      assert.match(
        r.stdout,
        /^FAIL inflight long-call-bye-reached-old: the long call's BYE reached old, but old answered it 481: it does not hold the dialog \(restarted\?\)$/m,
      );
      // HEP alone has no message-log generations to read
      assert.doesNotMatch(r.stdout, /message log was recreated/);
      assert.doesNotMatch(
        r.stdout,
        /^FAIL inflight (post-cutover|precheck|cutover-while|long-call-reached-old|no-lost|no-unexpected)/m,
      );
    });

    test("with both sources, evidence-agrees fails when HEP lost a BYE the logs show (test fault hep-drop-bye), naming the call and the difference", async () => {
      const fault = "hep-drop-bye@before-phase:both";
      const r = await sim(fault);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAIL both evidence-agrees: the stand-ins' logs and HEP disagree on 1 of 6 calls$/m);
      assert.match(
        r.stdout,
        /^ {4}pbxc-[0-9a-f]+-both-1-\d+@127\.0\.0\.1: byeBackend sipp (old|new) \/ hep none; byeBackendAnswer sipp 200 \/ hep none$/m,
      );
      // the verdicts themselves come from the logs and pass
      assert.match(r.stdout, /^FAIL: 1 of 32 assertions did not pass:$/m);
      const res = results(runDir(path.join(fx.dir, "artifacts", fault.replace(/[:@]/g, "_"))));
      assert.deepEqual([res.evidence.mode, res.evidence.verdictsFrom], ["both", "sipp"]);
      assert.deepEqual(
        [
          ...new Set(res.verdicts.map((v) => `${v.name === "evidence-agrees" ? "agrees" : "other"}:${v.source}`)),
        ].sort(),
        ["agrees:sipp+hep", "other:rtp-capture", "other:sipp"],
      );
    });
  });

  test("the HEP port taken: --evidence hep exits 3 naming it, nothing started; without --evidence the run uses the logs and says so", async () => {
    const squatter = dgram.createSocket("udp4");
    await new Promise<void>((r) => squatter.bind(fx.ports.hep, "127.0.0.1", () => r()));
    try {
      const artifacts = path.join(fx.dir, "artifacts-busy");
      const r = await fx.cli(["sim", ...fx.flags, "--evidence", "hep", "--artifacts-dir", artifacts], {
        env: { ...process.env, ...FAST },
      });
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `HEP evidence was asked for \\(--evidence hep\\) but is not available: HEP collector: .*${fx.ports.hep}.* in use`,
        ),
      );
      assert.doesNotMatch(r.stdout, /applied profile/);
      assert.equal((await fx.cli(["lab", "status", ...fx.flags])).code === 0, false, "no lab was started");
      const small = { ...FAST, CALLS_PER_PHASE: "2", POST_CUTOVER_CALLS: "2", LONG_CALL_MS: "1500" };
      const d = await fx.cli(["sim", ...fx.flags, "--artifacts-dir", path.join(fx.dir, "artifacts-fallback")], {
        env: { ...process.env, ...small },
      });
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.match(
        d.stdout,
        /evidence: HEP is not available \(HEP collector: .*in use.*\); verdicts from the stand-ins' logs only/,
      );
      const res = results(runDir(path.join(fx.dir, "artifacts-fallback")));
      assert.equal(res.evidence.mode, "sipp");
      assert.match(res.evidence.hepUnavailable ?? "", /in use/);
      assert.equal(res.evidence.hep, null);
      assert.ok(res.verdicts.every((v) => v.source === (v.name === "media-both-ways" ? "rtp-capture" : "sipp")));
    } finally {
      squatter.close();
    }
  });
});
