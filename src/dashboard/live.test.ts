/**
 * The live loop's end against a stand-in Kamailio RPC (dispatcher.list answers with a recorded
 * Kamailio 5.6.3 reply): the final frame and the last CSV row come from observations made after
 * run-finished, wait (bounded) for Kamailio to release its dialogs, and never show a stale number.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import { RunEvents } from "../events/run-events.js";
import type { RpcClient } from "../kamailio/rpc.js";
import type { Target } from "../target/target.js";
import { FINAL_FRAME_FILE, LiveDashboard } from "./live.js";
import type { BackendRole } from "../core/backend-role.js";

const DISPATCHER_LIST = (JSON.parse(fixture("kamailio-5.6.3-jsonrpc-dispatcher.list.json")) as { result: unknown })
  .result;
const OLD = "sip:127.0.0.1:22002";
const NEW = "sip:127.0.0.1:22003";

/** Kamailio as the dashboard sees it: `active(uri)` answers dlg.profile_get_size, or throws (no answer). */
function standIn(active: (uri: string) => number): { target: Target; calls: string[] } {
  const calls: string[] = [];
  const rpc: RpcClient = {
    endpoint: "stand-in",
    call: async (method, params = []) => {
      calls.push(`${method} ${params.join(" ")}`.trim());
      await Promise.resolve();
      if (method === "dispatcher.list") return DISPATCHER_LIST;
      if (method === "dlg.profile_get_size") return active(String(params[1]));
      throw new Error(`unexpected ${method}`);
    },
    close: () => undefined,
  };
  const backend = (role: BackendRole, uri: string): Target["backends"]["old"] => ({
    role,
    address: "127.0.0.1",
    port: 0,
    uri,
    messageLog: undefined,
  });
  const target = {
    driver: "native",
    setId: 1,
    rpc,
    backends: { old: backend("old", OLD), new: backend("new", NEW) },
  } as unknown as Target;
  return { target, calls };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-live-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function dashboard(
  target: Target,
  settleTimeoutMs?: number,
): { events: RunEvents; dash: LiveDashboard; screen: string[] } {
  const events = new RunEvents();
  const screen: string[] = [];
  const dash = new LiveDashboard(dir, events, {
    intervalMs: 3_600_000, // only the first tick and the end: the test drives the rest
    plain: true,
    screen: { write: (t: string) => screen.push(t), columns: 100 },
    target,
    cwd: dir,
    ...(settleTimeoutMs !== undefined ? { settleTimeoutMs } : {}),
  }).start();
  return { events, dash, screen };
}

/** one call routed to old and still up, observed by the first tick; then the run finishes */
async function runWithOneLongCall(events: RunEvents, dash: LiveDashboard): Promise<void> {
  events.emit({ kind: "call-routed", at: Date.now(), callId: "long", phase: "inflight", backend: "old" });
  // until a tick has folded in an observation (a condition; the deadline only bounds a hang)
  for (const deadline = Date.now() + 30_000; dash.current.backends.old.active === undefined && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 5));
    dash.onTick(Date.now());
  }
  assert.equal(dash.current.backends.old.active, 1, "the ticks saw the long call up");
  events.emit({
    kind: "call-finished",
    at: Date.now(),
    callId: "long",
    phase: "inflight",
    backend: "old",
    completed: true,
  });
  events.emit({ kind: "run-finished", at: Date.now(), status: "success", exitCode: 0, failures: [] });
}

const lastRow = (): string[] =>
  readFileSync(path.join(dir, "live-metrics.csv"), "utf8").trimEnd().split("\n").at(-1)!.split(",");
const lastFrame = (screen: string[]): string => screen.at(-1)!.replace(/^--- frame \d+ ---\n/, "");

test("the final frame and row wait until Kamailio has released the dialog after the last BYE", async () => {
  let ended = false;
  let askedAfterEnd = 0;
  const { target } = standIn((uri) => {
    if (!ended) return uri === OLD ? 1 : 0;
    askedAfterEnd++;
    // Kamailio keeps the dialog for a moment after the BYE's 200
    return uri === OLD && askedAfterEnd <= 6 ? 1 : 0;
  });
  const { events, dash, screen } = dashboard(target);
  await runWithOneLongCall(events, dash);
  ended = true;
  const frames = screen.length;
  await dash.settle(new AbortController().signal);
  assert.equal(screen.length, frames + 1, "one final frame");
  const final = lastFrame(screen);
  assert.match(final, /^OLD .* 0$/m, final);
  assert.match(
    final,
    /^active dialogs at the end: old 0, new 0 \(Kamailio, asked (\d+ ms|\d+\.\d s) after the run\)$/m,
  );
  assert.doesNotMatch(final, /still holds/);
  assert.ok(askedAfterEnd >= 8, `kept asking until released (${askedAfterEnd} answers)`);
  assert.deepEqual(lastRow().slice(1, 3).concat(lastRow().slice(12, 14)), ["done", "success", "0", "0"]);
  assert.equal(readFileSync(path.join(dir, FINAL_FRAME_FILE), "utf8"), final);
  // close after settle changes nothing
  dash.close();
  assert.equal(screen.length, frames + 1);
});

test("a dialog Kamailio keeps is reported after a bounded wait, with the number it holds", async () => {
  const { target } = standIn((uri) => (uri === OLD ? 1 : 0));
  const { events, dash, screen } = dashboard(target, 300);
  await runWithOneLongCall(events, dash);
  const t = performance.now();
  await dash.settle(new AbortController().signal);
  const waited = performance.now() - t;
  // bounded: the 300 ms bound plus one observation, with room for a loaded machine
  assert.ok(waited >= 300 && waited < 10_000, `bounded wait: ${Math.round(waited)} ms`);
  const final = lastFrame(screen);
  assert.match(
    final,
    /^active dialogs at the end: old 1, new 0 \(Kamailio, asked (\d+ ms|\d+\.\d s) after the run\)$/m,
    final,
  );
  assert.match(final, /^ {2}Kamailio still holds 1 dialog though every call of the run has ended$/m);
  assert.deepEqual(lastRow().slice(12, 14), ["1", "0"]);
});

test("Kamailio silent at the end: active is unknown, never the number seen while calls were up", async () => {
  let ended = false;
  const { target } = standIn((uri) => {
    if (ended) throw new Error("no reply within 2000 ms");
    return uri === OLD ? 1 : 0;
  });
  const { events, dash, screen } = dashboard(target, 200);
  await runWithOneLongCall(events, dash);
  ended = true;
  await dash.settle(new AbortController().signal);
  const final = lastFrame(screen);
  assert.match(final, /^OLD .* -$/m, final);
  assert.match(final, /^active dialogs at the end: not observed \(Kamailio did not answer\)$/m);
  assert.deepEqual(lastRow().slice(12, 14), ["", ""]);
});

test("interrupted (close without settle): the final frame says the end was not observed", async () => {
  const { target, calls } = standIn((uri) => (uri === OLD ? 1 : 0));
  const { events, dash, screen } = dashboard(target);
  await runWithOneLongCall(events, dash);
  const asked = calls.length;
  dash.close();
  assert.equal(calls.length, asked, "close does not ask Kamailio");
  assert.match(lastFrame(screen), /^active dialogs at the end: not observed \(interrupted\)$/m);
});
