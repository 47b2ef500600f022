import assert from "node:assert/strict";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { EnvironmentError } from "../core/errors.js";
import { RunEvents, type RunEvent } from "../events/run-events.js";
import { acquireApplyLock } from "../apply/apply-lock.js";
import { defaultPlan } from "../plan/plan.js";
import type { RunEnd } from "../run/session.js";
import type { Target } from "../target/target.js";
import { fakeTarget } from "../../test/support/fake-kamailio.js";
import { defaultKnobs } from "./knobs.js";
import type { SimResults } from "./report.js";
import { Simulation } from "./run-sim.js";
import { simPlan } from "./sim-plan.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A loopback UDP port that answers every SIP request 200 OK (the backends' OPTIONS at preflight). */
async function answering(): Promise<number> {
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    const head = msg.toString("latin1").split("\r\n");
    const keep = head.filter((l) => /^(via|from|to|call-id|cseq):/i.test(l));
    sock.send(
      ["SIP/2.0 200 OK", ...keep, "Server: pbx-cutover unit test", "Content-Length: 0", "", ""].join("\r\n"),
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  cleanups.push(() => sock.close());
  return sock.address().port;
}

/** A port nothing listens on (bound once, then closed). */
async function silent(): Promise<number> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const port = sock.address().port;
  sock.close();
  return port;
}

function on(target: Target, ports: { old: number; new: number }): void {
  for (const b of ["old", "new"] as const) {
    const uri = `sip:127.0.0.1:${ports[b]}`;
    target.backends[b] = { ...target.backends[b], port: ports[b], uri };
  }
}

function setup(ports: { old: number; new: number }) {
  const f = fakeTarget(`# initial\n1 sip:127.0.0.1:${ports.old} 0 0\n`);
  on(f.target, ports);
  const runDir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-sim-unit-"));
  cleanups.push(() => rmSync(f.dir, { recursive: true, force: true }));
  cleanups.push(() => rmSync(runDir, { recursive: true, force: true }));
  const lock = acquireApplyLock(f.target.lockPath, "test");
  cleanups.push(() => lock.release());
  const events = new RunEvents();
  const seen: RunEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const ends: RunEnd[] = [];
  const sim = new Simulation({
    target: f.target,
    knobs: { ...defaultKnobs, callsPerPhase: 2, callTimeoutMs: 1000 },
    runDir,
    events,
    signal: new AbortController().signal,
    plan: simPlan(defaultPlan(), 2, 4),
    lock,
    sippBin: path.join(runDir, "no-such-sipp"),
    scenario: "uac-call.xml",
    runId: "unit01",
    finished: (end) => ends.push(end),
  });
  const results = (): SimResults => JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as SimResults;
  return { sim, kam: f.kam, runDir, seen, ends, results };
}

describe("Simulation on the fake Target", () => {
  it("a backend that does not answer OPTIONS: exit 3 at preflight, nothing applied, results.json and junit.xml say why", async () => {
    const s = setup({ old: await answering(), new: await silent() });
    await assert.rejects(
      s.sim.run(),
      (err: unknown) => err instanceof EnvironmentError && /the new backend/.test(err.message),
    );
    assert.equal(s.kam.writes, 0, "nothing was applied");
    const r = s.results();
    assert.equal(r.exitCode, 3);
    assert.equal(r.status, "failed");
    assert.equal(r.plan.outcome, undefined, "the plan never started");
    assert.match(r.failures.at(-1) ?? "", /^ERROR the new backend sip:127\.0\.0\.1:\d+ does not answer SIP OPTIONS/);
    assert.ok(existsSync(path.join(s.runDir, "junit.xml")));
    assert.deepEqual(
      s.ends,
      [{ status: "failed", exitCode: 3, failures: r.failures }],
      "the run's end goes to the session",
    );
    assert.equal(s.seen.filter((e) => e.kind === "run-finished").length, 0, "not emitted on its own");
  });

  it("SIPp cannot run the first step's burst: the step fails, the list before the plan is back, exit 3", async () => {
    const ports = { old: await answering(), new: await answering() };
    const s = setup(ports);
    await assert.rejects(
      s.sim.run(),
      (err: unknown) => err instanceof EnvironmentError && /SIPp could not run the old burst/.test(err.message),
    );
    assert.deepEqual(s.kam.runtimeUris(), [`sip:127.0.0.1:${ports.old}`], "old only, as before the plan");
    const r = s.results();
    assert.equal(r.exitCode, 3);
    assert.equal(r.plan.outcome, "fail");
    assert.deepEqual(
      {
        from: r.plan.rollback?.from,
        to: r.plan.rollback?.to,
        toLabel: r.plan.rollback?.toLabel,
        ok: r.plan.rollback?.ok,
      },
      { from: 1, to: 0, toLabel: "the list before the plan", ok: true },
    );
    assert.deepEqual(
      r.applies.map((a) => `${a.phase}:${a.label}`),
      ["old:old", "old:rollback to before-plan"],
    );
    assert.deepEqual(
      s.seen.filter((e) => e.kind === "step").map((e) => e.kind === "step" && `${e.index} ${e.state}`),
      ["1 applied", "1 failed"],
    );
  });
});
