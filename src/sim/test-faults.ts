/**
 * TEST-ONLY fault injection for the end-to-end tests that prove the simulation's assertions can
 * fail. Set PBX_CUTOVER_TEST_FAULT to a comma-separated list of `<action>@<point>`:
 *
 *   actions: stop-backend:old | stop-backend:new   stop that lab backend (its whole process group)
 *            restart-backend:old | restart-backend:new
 *                                                  stop it and start a fresh stand-in with the same
 *                                                  argv (same port, same message log path), as a
 *                                                  PBX restart looks; lab.json records the new one
 *            freeze-backend:<b>[:<ms>]             SIGSTOP it (alive, silent); SIGCONT after <ms>,
 *                                                  or without <ms> when the next phase starts
 *            thaw-backend:<b>                      SIGCONT it
 *            profile:old | profile:both | profile:new  write that dispatcher list and reload it
 *                                                  directly, behind verified apply's back
 *            hep-drop-bye                          the HEP evidence loses the next BYE Kamailio
 *                                                  forwards to a backend (and that backend's
 *                                                  answers to it): HEP and the logs then disagree
 *   points:  before-phase:<old|both|new|inflight>  after the previous phase, before this one's apply
 *            during-phase:<old|both|new>           when the phase's first call has been routed
 *            after-cutover                         in-flight check: right after the cutover to new
 *
 * e.g. PBX_CUTOVER_TEST_FAULT=stop-backend:new@before-phase:new. Never set it outside tests: the
 * run prints a warning when it is set. A frozen backend is always thawed when the run ends.
 */
import { UsageError } from "../core/errors.js";
import { delay } from "../core/scope.js";
import { buildProfile, renderProfile, type ProfileMode } from "../dispatcher/profile.js";
import { labPaths } from "../config/lab-paths.js";
import type { BackendRole } from "../core/backend-role.js";
import { startTimeOf } from "../os/ownership.js";
import { isAlive, spawnDetached, stopGroup } from "../os/process.js";
import { readLabState, writeLabState } from "../lab/state.js";
import type { Target } from "../target/target.js";
import { probeOptions } from "../sip/options-probe.js";
import type { HepFeed } from "../evidence/hep-feed.js";

export const TEST_FAULT_ENV = "PBX_CUTOVER_TEST_FAULT";

export type FaultAction =
  | { kind: "stop-backend" | "restart-backend" | "thaw-backend"; backend: BackendRole }
  | { kind: "freeze-backend"; backend: BackendRole; forMs?: number }
  | { kind: "profile"; mode: ProfileMode }
  | { kind: "hep-drop-bye" };
export interface TestFault {
  spec: string;
  action: FaultAction;
  point: string;
}

const POINTS = /^(before-phase:(old|both|new|inflight)|during-phase:(old|both|new)|after-cutover)$/;
const NEXT_PHASE: Record<string, string> = {
  "before-phase:old": "before-phase:both",
  "during-phase:old": "before-phase:both",
  "before-phase:both": "before-phase:new",
  "during-phase:both": "before-phase:new",
  "before-phase:new": "before-phase:inflight",
  "during-phase:new": "before-phase:inflight",
};
const FORMAT =
  "format: <stop-backend:B|restart-backend:B|freeze-backend:B[:ms]|thaw-backend:B|profile:old|profile:both|profile:new|hep-drop-bye>@<before-phase:P|during-phase:P|after-cutover> (B = old or new)";

export function parseTestFaults(value: string | undefined): TestFault[] {
  if (value === undefined || value.trim() === "") return [];
  return value.split(",").flatMap((raw) => {
    const spec = raw.trim();
    const [a = "", point = ""] = spec.split("@");
    const bad = (): never => {
      throw new UsageError(`${TEST_FAULT_ENV}: cannot understand ${JSON.stringify(spec)}; nothing was started`, [
        FORMAT,
      ]);
    };
    if (!POINTS.test(point)) bad();
    if (a === "hep-drop-bye") return [{ spec, action: { kind: "hep-drop-bye" }, point }];
    const p = /^profile:(old|both|new)$/.exec(a);
    if (p) return [{ spec, action: { kind: "profile", mode: p[1] as ProfileMode }, point }];
    const m = /^(stop|restart|freeze|thaw)-backend:(old|new)(?::(\d{1,6}))?$/.exec(a);
    if (!m || (m[3] !== undefined && m[1] !== "freeze")) return bad();
    const backend = m[2] as BackendRole;
    if (m[1] !== "freeze")
      return [{ spec, action: { kind: `${m[1] as "stop" | "restart" | "thaw"}-backend`, backend }, point }];
    if (m[3] !== undefined) return [{ spec, action: { kind: "freeze-backend", backend, forMs: Number(m[3]) }, point }];
    // frozen until the next phase starts (the run's end thaws it in any case)
    const next = NEXT_PHASE[point];
    const freeze: TestFault = { spec, action: { kind: "freeze-backend", backend }, point };
    return next
      ? [freeze, { spec: `thaw-backend:${backend}@${next}`, action: { kind: "thaw-backend", backend }, point: next }]
      : [freeze];
  });
}

/** process groups this run froze: thawed by thawFrozenBackends() whatever happens */
const frozen = new Set<number>();

function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

/** SIGCONT every backend a fault froze (the session defers this, so nothing stays stopped). */
export function thawFrozenBackends(): void {
  for (const pgid of frozen) signalGroup(pgid, "SIGCONT");
  frozen.clear();
}

/** Carry out a fault on a native lab target (`hep`: the run's HEP feed, if any). Returns a line for the log. */
export async function injectFault(f: TestFault, target: Target, labDir: string, hep?: HepFeed): Promise<string> {
  const a = f.action;
  if (a.kind === "hep-drop-bye") {
    if (!hep) return `test fault ${f.spec}: this run has no HEP evidence; nothing done`;
    let key: string | undefined;
    hep.drop = (msg, s) => {
      if (s.party !== "backend") return false;
      const k = `${s.backend}|${msg.callId ?? ""}|${msg.cseq?.seq ?? ""}`;
      const isBye = msg.kind === "request" ? msg.method === "BYE" : msg.cseq?.method === "BYE";
      if (!isBye) return false;
      key ??= k;
      return k === key;
    };
    return `test fault ${f.spec}: the HEP evidence will lose the next BYE forwarded to a backend`;
  }
  if (a.kind === "profile") {
    const text = renderProfile(
      buildProfile(
        a.mode,
        {
          setId: target.setId,
          oldUri: target.backends.old.uri,
          newUri: target.backends.new.uri,
          policy: target.sipPolicy,
        },
        target.dispatcherAlgorithm,
      ),
    );
    await target.dispatcherList.writeAtomic(text);
    const reply = await target.rpc.call("dispatcher.reload");
    return `test fault ${f.spec}: dispatcher list set to ${a.mode} behind the tool's back (reload: ${JSON.stringify(reply)})`;
  }
  const paths = labPaths(labDir);
  const state = readLabState(paths);
  const c = state?.components.find((x) => x.role === a.backend);
  if (!state || !c) return `test fault ${f.spec}: no ${a.backend} backend recorded in ${labDir}; nothing done`;
  switch (a.kind) {
    case "stop-backend": {
      const r = await stopGroup(c.pid, 1000);
      return `test fault ${f.spec}: stopped the ${a.backend} backend (pid ${c.pid}: ${r})`;
    }
    case "restart-backend": {
      const r = await stopGroup(c.pid, 1000);
      const pid = spawnDetached(c.argv, c.log, labDir);
      // recorded at once, so `lab down` stops the new process whatever happens next
      writeLabState(paths, {
        ...state,
        components: state.components.map((x) => (x === c ? { ...x, pid, startTime: startTimeOf(pid) } : x)),
      });
      const ready = await waitAnswering(c.address, c.port, pid);
      return `test fault ${f.spec}: restarted the ${a.backend} backend (pid ${c.pid} ${r}; new pid ${pid}, same port ${c.port} and message log; ${ready})`;
    }
    case "freeze-backend": {
      signalGroup(c.pid, "SIGSTOP");
      frozen.add(c.pid);
      if (a.forMs !== undefined) {
        setTimeout(() => {
          if (frozen.delete(c.pid)) signalGroup(c.pid, "SIGCONT");
        }, a.forMs).unref();
      }
      return `test fault ${f.spec}: froze the ${a.backend} backend (pid ${c.pid}, SIGSTOP) ${a.forMs !== undefined ? `for ${a.forMs} ms` : "until the next phase"}`;
    }
    case "thaw-backend": {
      frozen.delete(c.pid);
      signalGroup(c.pid, "SIGCONT");
      return `test fault ${f.spec}: thawed the ${a.backend} backend (pid ${c.pid}, SIGCONT)`;
    }
  }
}

async function waitAnswering(address: string, port: number, pid: number): Promise<string> {
  const deadline = performance.now() + 5000;
  while (performance.now() < deadline) {
    if (!isAlive(pid)) return "it exited at once";
    const r = await probeOptions({ address, port }, 200);
    if (r.status === 200) return "answers OPTIONS";
    await delay(20);
  }
  return "not answering OPTIONS after 5 s";
}
