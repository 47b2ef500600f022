import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { RunEvents, type RunEvent } from "../events/run-events.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { drainCalls, parseProfileList } from "./dialogs.js";
import { drainStep, MAX_FAILURES, REPORT_EVERY_MS, waitForDrain, type DrainProgress, type PbxLook } from "./drain.js";

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test", "fixtures");
const reply = (name: string): unknown =>
  (JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8")) as { result: unknown }).result;

/** FreeSWITCH old's answer with `n` channels, the i-th created 10 + 11*i s before `now` ms */
const fs = (n: number, now = 0): PbxLook => ({
  label: "FreeSWITCH old",
  at: "event socket 127.0.0.1:8021",
  channels: Array.from({ length: n }, (_, i) => ({
    uuid: `uuid-${i}`,
    name: "sofia/lab/drain@127.0.0.1:5080",
    createdS: Math.floor(now / 1000) - 10 - 11 * i,
  })),
});

describe("dlg.profile_list (Kamailio 5.6.3)", () => {
  it("one answered call on old: its Call-ID, state 4 and its answer time", () => {
    const d = parseProfileList(reply("kamailio-5.6.3-jsonrpc-dlg.profile_list-one.json"));
    assert.deepEqual(d, [{ callId: "drainprobe-1-12939@127.0.0.1", state: 4, sinceS: 1796164195 }]);
    assert.deepEqual(drainCalls(d, 1796164195_000 + 42_400), [{ callId: "drainprobe-1-12939@127.0.0.1", ageS: 42 }]);
  });
  it("an empty profile is no calls; deleted dialogs are not calls; another shape is not a list", () => {
    assert.deepEqual(parseProfileList([]), []);
    assert.deepEqual(parseProfileList([{ "call-id": "x", state: 5, start_ts: 1 }]), []);
    assert.deepEqual(parseProfileList([{ "call-id": "ringing", state: 2, start_ts: 0, init_ts: 100 }]), [
      { callId: "ringing", state: 2, sinceS: 100 },
    ]);
    assert.equal(parseProfileList({ size: 1 }), undefined);
    assert.equal(parseProfileList([{ callid: "x" }]), undefined);
  });
  it("oldest first", () => {
    const calls = drainCalls(
      [
        { callId: "b", state: 4, sinceS: 90 },
        { callId: "a", state: 4, sinceS: 10 },
      ],
      100_000,
    );
    assert.deepEqual(
      calls.map((c) => c.callId),
      ["a", "b"],
    );
  });
});

const p0 = (o: Partial<DrainProgress> = {}): DrainProgress => ({
  startedAt: 0,
  polls: 0,
  initial: undefined,
  lastCount: undefined,
  lastReportAt: 0,
  failures: 0,
  ...o,
});
const call = (id: string, ageS = 5) => ({ callId: id, ageS });

describe("drainStep", () => {
  it("no calls at the first look: drained at once", () => {
    const d = drainStep(p0(), { ok: true, calls: [] }, 10, 60_000);
    assert.equal(d.kind, "done");
    assert.deepEqual(d.kind === "done" && [d.state, d.detail], ["drained", "no calls on old"]);
  });
  it("timeout 0: the calls left are reported, not waited for", () => {
    const d = drainStep(p0(), { ok: true, calls: [call("long-1", 12)] }, 10, 0);
    assert.equal(d.kind === "done" && d.state, "remaining");
    assert.match(
      d.kind === "done" ? d.detail : "",
      /1 call\(s\) still up on old, not waited for \(--drain-timeout 0\): long-1 \(up 12 s\)/,
    );
  });
  it("waits: started, progress on a change or every 5 s, drained when the last call ends", () => {
    let d = drainStep(p0(), { ok: true, calls: [call("a"), call("b")] }, 0, 60_000);
    assert.deepEqual(d.kind === "wait" && d.report?.state, "started");
    d = drainStep(d.progress, { ok: true, calls: [call("a"), call("b")] }, 500, 60_000);
    assert.equal(d.kind === "wait" && d.report, undefined, "same count, no report");
    d = drainStep(d.progress, { ok: true, calls: [call("b")] }, 1000, 60_000);
    assert.deepEqual(d.kind === "wait" && d.report?.calls, [call("b")]);
    d = drainStep(d.progress, { ok: true, calls: [call("b")] }, 1000 + REPORT_EVERY_MS, 60_000);
    assert.equal(d.kind === "wait" && d.report?.state, "progress");
    d = drainStep(d.progress, { ok: true, calls: [] }, 8000, 60_000);
    assert.equal(d.kind === "done" && d.state, "drained");
    assert.equal(d.kind === "done" && d.detail, "the last of 2 call(s) ended after 8.0 s");
  });
  it("timed out: names each call left with its age", () => {
    const d = drainStep(
      p0({ initial: 1, lastCount: 1, polls: 3 }),
      { ok: true, calls: [call("long-1", 33)] },
      2000,
      2000,
    );
    assert.equal(d.kind === "done" && d.state, "timed-out");
    assert.equal(d.kind === "done" && d.detail, "1 call(s) still up on old after 2.0 s: long-1 (up 33 s)");
  });
  it("a real FreeSWITCH as old: its own channels must end too, named when Kamailio holds none; no answer from it does not block", () => {
    // Kamailio's profile is empty but FreeSWITCH still holds a channel: not drained, the channel named
    let d = drainStep(p0(), { ok: true, calls: [], pbx: fs(1) }, 0, 60_000);
    assert.equal(d.kind === "wait" && d.report?.state, "started");
    assert.equal(
      d.kind === "wait" && d.report?.text,
      "FreeSWITCH old (event socket 127.0.0.1:8021) still counts 1 channel(s) while Kamailio's dialog profile holds none: uuid-0 sofia/lab/drain@127.0.0.1:5080 (up 10 s)",
    );
    d = drainStep(d.progress, { ok: true, calls: [], pbx: fs(1) }, 500, 60_000);
    assert.equal(d.kind, "wait");
    d = drainStep(d.progress, { ok: true, calls: [], pbx: fs(0) }, 1000, 60_000);
    assert.equal(d.kind === "done" && d.state, "drained");
    assert.equal(
      d.kind === "done" && d.detail,
      "the last of 1 call(s) ended after 1.0 s; FreeSWITCH old counts 0 channel(s)",
    );
    const t = drainStep(
      p0({ initial: 1, lastCount: 0, lastPbx: 2, polls: 3 }),
      { ok: true, calls: [], pbx: fs(2) },
      2000,
      2000,
    );
    assert.equal(t.kind === "done" && t.state, "timed-out");
    assert.equal(
      t.kind === "done" && t.detail,
      "FreeSWITCH old (event socket 127.0.0.1:8021) still counts 2 channel(s) while Kamailio's dialog profile holds none: uuid-1 sofia/lab/drain@127.0.0.1:5080 (up 23 s), uuid-0 sofia/lab/drain@127.0.0.1:5080 (up 12 s) after 2.0 s",
    );
    const both = drainStep(p0(), { ok: true, calls: [call("long-1", 9)], pbx: fs(1) }, 0, 0);
    assert.equal(
      both.kind === "done" && both.detail,
      "1 call(s) still up on old, not waited for (--drain-timeout 0): long-1 (up 9 s); FreeSWITCH old counts 1 channel(s)",
    );
    const unknown = drainStep(
      p0(),
      {
        ok: true,
        calls: [],
        pbx: { label: "FreeSWITCH old", at: "event socket 127.0.0.1:8021", channels: undefined, error: "ECONNREFUSED" },
      },
      0,
      60_000,
    );
    assert.equal(unknown.kind === "done" && unknown.state, "drained");
    assert.equal(
      unknown.kind === "done" && unknown.detail,
      "no calls on old; FreeSWITCH old's own channel count unknown (ECONNREFUSED)",
    );
  });
  it("RPC failures: retried, then unavailable; at once with timeout 0", () => {
    let p = p0();
    for (let i = 1; i < MAX_FAILURES; i++) {
      const d = drainStep(p, { ok: false, error: "refused" }, i, 60_000);
      assert.equal(d.kind, "wait");
      p = d.progress;
    }
    const d = drainStep(p, { ok: false, error: "refused" }, 10, 60_000);
    assert.equal(d.kind === "done" && d.state, "unavailable");
    assert.equal(drainStep(p0(), { ok: false, error: "404 Profile not found" }, 0, 0).kind, "done");
  });
});

/** An RPC client that answers dlg.profile_list from a script of replies (the last repeats). */
function scripted(replies: unknown[]): RpcClient {
  let i = 0;
  return {
    endpoint: "scripted",
    call: (method) => {
      assert.equal(method, "dlg.profile_list");
      const r = replies[Math.min(i++, replies.length - 1)];
      return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
    },
    close: () => undefined,
  };
}

describe("waitForDrain", () => {
  const dialog = { "call-id": "long-1", state: 4, start_ts: Math.floor(Date.now() / 1000) - 7, init_ts: 0 };
  it("emits started then drained; the result counts the first look's calls", async () => {
    const events = new RunEvents();
    const seen: RunEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const lines: string[] = [];
    const r = await waitForDrain({
      rpc: scripted([[dialog], [dialog], []]),
      backend: "old",
      backendUri: "sip:127.0.0.1:15070",
      timeoutMs: 10_000,
      intervalMs: 5,
      signal: new AbortController().signal,
      events,
      log: (l) => lines.push(l),
    });
    assert.equal(r.state, "drained");
    assert.equal(r.initial, 1);
    assert.deepEqual(
      seen.map((e) => (e.kind === "drain" ? e.state : e.kind)),
      ["started", "drained"],
    );
    assert.match(
      lines[0]!,
      /waiting up to 10 s for the old backend's calls to end; 1 call\(s\) up on old: long-1 \(up [78] s\)/,
    );
  });
  it("a fleet: old's calls summed over every node's profile (the target's own profile name), each node's count kept", async () => {
    const asked: unknown[] = [];
    const node = (replies: unknown[]): RpcClient => {
      const rpc = scripted(replies);
      return { ...rpc, call: (m, p) => (asked.push(p), rpc.call(m, p)) };
    };
    const other = { ...dialog, "call-id": "long-2" };
    const r = await waitForDrain({
      rpc: scripted([]),
      nodes: [
        { name: "kam1", rpc: node([[dialog]]) },
        { name: "kam2", rpc: node([[]]) },
        { name: "kam3", rpc: node([[other]]) },
      ],
      profile: "pbx",
      backend: "old",
      backendUri: "sip:127.0.0.1:15070",
      timeoutMs: 0,
      signal: new AbortController().signal,
      events: new RunEvents(),
      log: () => undefined,
    });
    assert.equal(r.state, "remaining");
    assert.deepEqual(r.remaining.map((c) => c.callId).sort(), ["long-1", "long-2"]);
    assert.deepEqual(r.byNode, { kam1: 1, kam2: 0, kam3: 1 });
    assert.match(r.detail, /^2 call\(s\) still up on old, .*\(by node: kam1 1, kam2 0, kam3 1\)$/);
    assert.deepEqual(asked[0], ["pbx", "sip:127.0.0.1:15070"]);
  });
  it("with the PBX's own channels: waits for them after Kamailio's profile is empty; the result keeps the last look", async () => {
    const counts = [1, 1, 0];
    let i = 0;
    const lines: string[] = [];
    const r = await waitForDrain({
      rpc: scripted([[]]),
      backend: "old",
      backendUri: "u",
      timeoutMs: 10_000,
      intervalMs: 5,
      signal: new AbortController().signal,
      events: new RunEvents(),
      log: (l) => lines.push(l),
      pbx: {
        label: "FreeSWITCH old",
        at: "event socket 127.0.0.1:8021",
        channels: () => Promise.resolve([...fs(counts[Math.min(i++, counts.length - 1)]!, Date.now()).channels!]),
      },
    });
    assert.equal(r.state, "drained");
    assert.equal(r.pbxChannels, 0);
    assert.deepEqual(r.pbx, {
      label: "FreeSWITCH old",
      at: "event socket 127.0.0.1:8021",
      channels: 0,
      initial: 1,
      held: [],
    });
    assert.equal(r.dialogs, 0);
    assert.ok(r.polls >= 3, `polled until FreeSWITCH counted none (${r.polls})`);
    assert.match(
      lines[0]!,
      /FreeSWITCH old \(event socket 127\.0\.0\.1:8021\) still counts 1 channel\(s\) while Kamailio's dialog profile holds none: uuid-0 /,
    );
  });
  it("a PBX that cannot be asked: the drain ends on Kamailio's count alone, the result says the count is unknown and why", async () => {
    const r = await waitForDrain({
      rpc: scripted([[]]),
      backend: "old",
      backendUri: "u",
      timeoutMs: 10_000,
      intervalMs: 5,
      signal: new AbortController().signal,
      events: new RunEvents(),
      log: () => undefined,
      pbx: {
        label: "FreeSWITCH old",
        at: "event socket 127.0.0.1:8021",
        channels: () => Promise.reject(new Error("event socket 127.0.0.1:8021: ECONNREFUSED")),
      },
    });
    assert.equal(r.state, "drained");
    assert.equal(r.pbxChannels, undefined);
    assert.deepEqual(r.pbx, {
      label: "FreeSWITCH old",
      at: "event socket 127.0.0.1:8021",
      channels: null,
      initial: null,
      held: [],
      error: "event socket 127.0.0.1:8021: ECONNREFUSED",
    });
  });
  it("the signal (Ctrl-C or the operator's abort) ends the wait as aborted, naming what is left", async () => {
    const ac = new AbortController();
    const events = new RunEvents();
    const p = waitForDrain({
      rpc: scripted([[dialog]]),
      backend: "old",
      backendUri: "u",
      timeoutMs: 60_000,
      intervalMs: 20,
      signal: ac.signal,
      events,
      log: () => undefined,
    });
    setTimeout(() => ac.abort(new Error("aborted by the operator (pbx-cutover abort)")), 50);
    const r = await p;
    assert.equal(r.state, "aborted");
    assert.deepEqual(
      r.remaining.map((c) => c.callId),
      ["long-1"],
    );
    assert.match(
      r.detail,
      /stopped waiting \(aborted by the operator \(pbx-cutover abort\)\) with 1 call\(s\) up on old/,
    );
  });
});
