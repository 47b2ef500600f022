/**
 * Reading a `migrate --traffic` run folder with audio in e2e tests: results.json's steps, gates and
 * rollback, and media-calls.ndjson's rows (each call's audio as the tool counted it).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { CliResult } from "./lab-fixture.js";

export interface GateRow {
  name: string;
  verdict: string;
  detail: string;
  values: { old?: number; new?: number };
  samples: { old?: number; new?: number };
}
export interface MediaMetrics {
  judged: number;
  oneWay: number;
  expected: number;
  lost: number;
  lossPercent?: number;
}
export interface Step {
  label: string;
  verdict: string;
  gates?: {
    verdict: string;
    early: boolean;
    gates: GateRow[];
    metrics: { old: { media?: MediaMetrics }; new: { media?: MediaMetrics } };
  };
}
export interface MigrateResults {
  status: string;
  exitCode: number;
  steps: Step[];
  rollback?: { from: number; to: number; ok: boolean; reason: string };
  traffic?: {
    callIdPrefix: string;
    files: string[];
    media?: {
      on: boolean;
      holdMs?: number;
      pcap?: string;
      callsCounted?: number;
      pbxCounted?: number;
      relayCounted?: number;
      eventSockets?: Record<string, { events: number; calls: number; file: string }>;
      /** every record the capture read, what media.pcap kept under --capture-max-mb, dumpcap's drops */
      packetsCaptured?: number;
      kept?: {
        files: string[];
        records: number;
        bytes: number;
        dropped: { files: number; records: number; bytes: number };
        maxBytes?: number;
      };
      captureDropped?: number;
      captureFault?: string;
    };
    calls?: { total: number; old: number; new: number };
  };
}
export interface MediaRow {
  callId: string;
  ssrc?: string;
  caller: string | null;
  answered: string | null;
  callerToPbx: number;
  pbxToCaller: number;
  /** the call's media window (its audio's expected length) */
  windowMs: number;
  bothWays: boolean;
  why?: string;
  /** the answering PBX's own counts (FreeSWITCH's hangup event) */
  pbx?: { backend: string; inPackets: number; outPackets: number; inMos?: number };
  /** the media relay's own counts (rtpengine's ng query) */
  relay?: { fromCaller: number; fromPbx: number };
  rfc3550: {
    callerToPbx: { received: number; expected: number; lost: number; jitterMs?: number };
    pbxToCaller: { received: number; expected: number; lost: number; jitterMs?: number };
  };
}

export const migrateResults = (runDir: string): MigrateResults =>
  JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as MigrateResults;

export const mediaRows = (runDir: string): MediaRow[] =>
  readFileSync(path.join(runDir, "media-calls.ndjson"), "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as MediaRow);

/** the step's gate whose name matches (fails the test showing the step's gates when none does) */
export const gate = (s: Step, name: RegExp): GateRow => {
  const g = s.gates?.gates.find((x) => name.test(x.name));
  assert.ok(g, JSON.stringify(s.gates));
  return g;
};

/**
 * The default plan rolled back on the media gate: exit 1, old passed and both failed on "one-way
 * calls of new <= 0" (named in stderr and in the rollback's reason, with the count), the rollback
 * from step 2 to step 1 verified. Returns that gate.
 */
export function rolledBackOnOneWay(r: CliResult, res: MigrateResults): GateRow {
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.deepEqual(
    res.steps.map((s) => [s.label, s.verdict]),
    [
      ["old", "pass"],
      ["both", "fail"],
    ],
  );
  const both = res.steps[1]!;
  const oneWay = gate(both, /^one-way calls of new <= 0/);
  assert.equal(oneWay.verdict, "fail", JSON.stringify(both.gates));
  assert.ok(oneWay.values.new! >= 1, JSON.stringify(oneWay));
  // the signalling is fine: SER and the split do not fail it, the audio does
  assert.equal(both.gates?.metrics.new.media?.oneWay, oneWay.values.new);
  assert.match(r.stderr, /step 2: gates failed: .*one-way calls of new <= 0/);
  assert.deepEqual([res.rollback?.from, res.rollback?.to, res.rollback?.ok], [2, 1, true]);
  assert.match(res.rollback!.reason, /one-way calls of new/);
  return oneWay;
}

/**
 * The default plan passed with the media gates: exit 0, calls with audio, every step passed its gates,
 * no one-way call of new judged over at least 20 of its calls in both and new, new's RTP loss not
 * worse than old's, every call counted in media-calls.ndjson (at least 150). Returns those rows.
 */
export function passedWithMediaGates(r: CliResult, runDir: string, res: MigrateResults): MediaRow[] {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /audio both ways \(1000 ms calls\), the caller's RTP in media\.pcap/);
  assert.deepEqual(
    res.steps.map((s) => [s.label, s.verdict, s.gates?.verdict]),
    [
      ["old", "pass", "pass"],
      ["both", "pass", "pass"],
      ["new", "pass", "pass"],
    ],
  );
  for (const label of ["both", "new"]) {
    const s = res.steps.find((x) => x.label === label)!;
    const g = gate(s, /^one-way calls of new <= 0/);
    assert.equal(g.verdict, "pass", `${label}: ${JSON.stringify(g)}`);
    assert.equal(g.values.new, 0);
    assert.ok(g.samples.new! >= 20, `${label}: ${g.samples.new} calls with audio judged`);
  }
  const loss = gate(res.steps[1]!, /^RTP loss of new not worse than old/);
  assert.equal(loss.verdict, "pass", JSON.stringify(loss));
  assert.equal(gate(res.steps[0]!, /^one-way calls/).verdict, "not-applicable");
  assert.equal(res.traffic?.media?.on, true);
  assert.ok(res.traffic.files.includes("media.pcap"));
  const rows = mediaRows(runDir);
  assert.equal(rows.length, res.traffic?.media?.callsCounted);
  assert.ok(rows.length >= 150, `calls counted: ${rows.length}`);
  return rows;
}
