/**
 * Gates on real calls: a weighted step (new=10%, algorithm 9) on the native lab, real SIPp calls,
 * RFC 6076 metrics from the UAC's own message log (backends from theirs), the default step gates.
 * Healthy backends pass with numbers; a new backend that stopped answering fails them; a 1 % step
 * with too few calls to new is inconclusive. Which backend a call went to comes from HEP (where
 * Kamailio forwarded the INVITE); the backends' own logs agree while both answer, and cannot name
 * a backend that stopped.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { assetPath } from "../../src/core/assets.js";
import { resolveLabSettings } from "../../src/config/lab-config.js";
import { buildStepProfile, renderProfile } from "../../src/dispatcher/profile.js";
import { evaluateGates, type StepGateVerdict } from "../../src/gates/gate.js";
import { backendsFromHep } from "../../src/evidence/hep-records.js";
import { EvidenceBook } from "../../src/evidence/book.js";
import { callIdTag } from "../../src/evidence/call-id.js";
import { callRecordsOf } from "../../src/evidence/call-record.js";
import { backendsOf } from "../../src/evidence/outcome.js";
import { backendLogRecord, uacLogRecord } from "../../src/evidence/sipp-log.js";
import { startHepCapture, type HepCapture } from "../../src/hep/capture.js";
import { windowMetrics, type BackendMetrics } from "../../src/gates/metrics.js";
import { profileFromText, verifiedApply } from "../../src/apply/apply.js";
import { labPaths } from "../../src/config/lab-paths.js";
import { stopGroup } from "../../src/os/process.js";
import { readLabState } from "../../src/lab/state.js";
import { nativeTarget } from "../../src/lab/native-target.js";
import type { Target } from "../../src/target/target.js";
import { DEFAULT_STEP_GATES } from "../../src/plan/plan.js";
import { parseMessageLogBuffer } from "../../src/sip/message-log.js";
import { uacArgv } from "../../src/sipp/argv.js";
import { startSipp } from "../../src/sipp/runner.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import type { BackendRole } from "../../src/core/backend-role.js";

const read = (file: string): ReturnType<typeof parseMessageLogBuffer>["records"] => {
  try {
    return parseMessageLogBuffer(readFileSync(file)).records;
  } catch {
    return [];
  }
};

const fmt = (m: BackendMetrics): string =>
  `${m.backend}: ${m.invites} calls, SER ${m.ser.percent?.toFixed(1) ?? "n/a"}%, ISA ${m.isa.percent?.toFixed(1) ?? "n/a"}%, ` +
  `SRD p50/p95 ${m.srd.p50Ms?.toFixed(1) ?? "n/a"}/${m.srd.p95Ms?.toFixed(1) ?? "n/a"} ms, SDD p50/p95 ${m.sdd.p50Ms?.toFixed(1) ?? "n/a"}/${m.sdd.p95Ms?.toFixed(1) ?? "n/a"} ms`;

describe("gates on real calls through Kamailio 5.6.3 (algorithm 9)", () => {
  let f: LabFixture;
  let target: Target;
  let burst = 0;
  let hep: HepCapture;
  before(async () => {
    f = await labFixture();
    hep = await startHepCapture({
      address: "127.0.0.1",
      port: f.ports.hep,
      proxy: [`127.0.0.1:${f.ports.sip}`],
      pcapPath: path.join(f.dir, "capture.pcap"),
    });
    const up = await f.cli(["lab", "up", ...f.flags, "--dispatcher-alg", "9"]);
    assert.equal(up.code, 0, up.stderr);
    target = nativeTarget(
      resolveLabSettings(undefined, {
        labDir: f.labDir,
        sipPort: String(f.ports.sip),
        rpcPort: String(f.ports.rpc),
        oldPort: String(f.ports.old),
        newPort: String(f.ports.new),
        dispatcherAlg: "9",
      }),
    );
  });
  after(async () => {
    target.close();
    await hep.stop();
    await f.dispose();
  });

  /** apply the step (a fresh cycle), place `calls` calls, judge the window with the default step gates */
  async function step(
    t: TestContext,
    weightNew: number,
    calls: number,
  ): Promise<{
    verdict: StepGateVerdict;
    m: Record<BackendRole, BackendMetrics>;
    fromLogs: Map<string, BackendRole>;
    fromHep: Map<string, BackendRole>;
    ids: string[];
  }> {
    const inputs = {
      setId: 1,
      oldUri: target.backends.old.uri,
      newUri: target.backends.new.uri,
      policy: target.sipPolicy,
    };
    const fromMs = Date.now();
    const b = ++burst;
    const runId = `g${b}p${process.pid}`;
    const label = weightNew === 0 ? "old" : weightNew === 100 ? "new" : (`new${weightNew}` as const);
    await verifiedApply(
      target,
      profileFromText(
        `w${weightNew}`,
        `${renderProfile(buildStepProfile(weightNew, inputs, 9))}# burst ${b}\n`,
        "step",
      ),
    );
    const files = {
      messageLog: path.join(f.dir, `uac-${b}.log`),
      statFile: path.join(f.dir, `uac-${b}.csv`),
      errorFile: path.join(f.dir, `uac-${b}.err`),
    };
    const uac = startSipp(
      uacArgv("sipp", assetPath("sipp", "uac-call.xml"), {
        proxy: { address: "127.0.0.1", port: f.ports.sip },
        localAddress: "127.0.0.1",
        service: "gates",
        calls,
        rate: 100,
        holdMs: 0,
        callIdTag: callIdTag(runId, label),
        recvTimeoutMs: 2000,
        ...files,
      }),
      { cwd: f.dir },
    );
    await uac.done;
    await hep.settle();
    const p = labPaths(f.labDir);
    // the backends' own logs, in a book of their own: which backend each call reached, by its own account
    const logs = new EvidenceBook(runId);
    for (const role of ["old", "new"] as const)
      for (const rec of read(p.backend(role).messages)) backendLogRecord(logs, role, rec);
    const fromLogs = new Map<string, "old" | "new">();
    for (const c of logs.calls.values()) for (const at of backendsOf(c.invite)) fromLogs.set(c.callId, at);
    const fromHep = backendsFromHep(hep.evidence.calls.values(), {
      old: `127.0.0.1:${f.ports.old}`,
      new: `127.0.0.1:${f.ports.new}`,
    });
    // the gates' records: the caller's own log (timings) and where Kamailio forwarded each INVITE (HEP)
    const book = new EvidenceBook(runId);
    for (const rec of read(files.messageLog)) uacLogRecord(book, label, rec);
    for (const [id, backend] of fromHep) book.forwarded(backend, id);
    book.finishBurst(label);
    const r = callRecordsOf(book.callsOf(label));
    const ids = [...r.records.map((c) => c.callId), ...r.unrouted, ...r.pending];
    const m = windowMetrics(r.records, { fromMs, toMs: undefined });
    const verdict = evaluateGates(DEFAULT_STEP_GATES, m, weightNew);
    t.diagnostic(
      `new=${weightNew}%, ${calls} calls (${r.unrouted.length} unrouted): ${verdict.verdict}: ${verdict.summary}`,
    );
    t.diagnostic(`  ${fmt(m.old)}`);
    t.diagnostic(`  ${fmt(m.new)}`);
    return { verdict, m, fromLogs, fromHep, ids };
  }

  test("healthy backends: new=10% over 200 calls passes every default gate, with its numbers", async (t) => {
    const { verdict, m, fromLogs, fromHep, ids } = await step(t, 10, 200);
    assert.equal(ids.length, 200);
    assert.deepEqual(
      ids.map((id) => fromHep.get(id)),
      ids.map((id) => fromLogs.get(id)),
      "HEP and the backends' logs agree on every call",
    );
    assert.deepEqual([m.old.invites, m.new.invites], [180, 20], "two whole cycles: exactly 20 to new");
    assert.equal(verdict.verdict, "pass", verdict.summary);
    assert.deepEqual(
      verdict.results.map((r) => r.verdict),
      ["pass", "pass", "pass"],
    );
    assert.deepEqual([m.old.ser.percent, m.new.ser.percent, m.new.isa.percent], [100, 100, 0]);
  });

  test("new=1% over 200 calls: 2 calls to new is too few, inconclusive, never pass", async (t) => {
    const { verdict, m } = await step(t, 1, 200);
    assert.equal(m.new.invites, 2);
    assert.equal(verdict.verdict, "inconclusive");
    assert.match(verdict.summary, /new: 2 of the 20 calls needed/);
  });

  test("the new backend stops answering: SER and ISA gates fail with the numbers", async (t) => {
    const state = readLabState(labPaths(f.labDir));
    const c = state?.components.find((x) => x.role === "new");
    assert.ok(c, "the lab state names the new backend");
    await stopGroup(c.pid, 1000);
    const { verdict, m, fromLogs, ids } = await step(t, 10, 200);
    assert.equal(
      ids.filter((id) => fromLogs.get(id) === "new").length,
      0,
      "the stopped backend's log names none of its calls",
    );
    assert.equal(m.new.invites, 20, "HEP does: Kamailio forwarded 20 INVITEs to new");
    assert.deepEqual([m.new.ser.percent, m.new.isa.percent, m.new.timedOut], [0, 100, 20]);
    assert.equal(m.old.ser.percent, 100);
    assert.equal(verdict.verdict, "fail");
    assert.match(
      verdict.summary,
      /SER of new not worse than old by more than 2 points: new 0% \(0 of 20\) vs old 100% \(180 of 180\): worse by 100 points/,
    );
    assert.match(verdict.summary, /ISA of new <= 5%: new 100% \(20 of 20\) > 5%/);
  });
});
