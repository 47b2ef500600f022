/**
 * Is the Kamailio a run works on still the process it started on? A restarted Kamailio forgets
 * everything it held in memory (the runtime set goes back to what its durable list says, destinations
 * taken out with `dispatcher.set_state` come back, the dialog profiles start again from 0), so a run
 * that did not notice would judge a step, or a drain, on a node that is not the one it applied to.
 *
 * A node's identity is its main process (`core.psx`, the entry of rank 0) and the time it started
 * (`core.uptime`'s `up_since`): both answer on every transport (JSON-RPC, kamcmd here or over SSH).
 * The pid catches a restart within the same second; the start time catches a pid used again (a
 * container's Kamailio is pid 1 after every restart).
 */
import { delay } from "../core/scope.js";
import type { RpcClient } from "../kamailio/rpc.js";
import { describeDiff, diffRuntime } from "../dispatcher/diff.js";
import type { DispatcherList } from "../dispatcher/list.js";
import type { RuntimeDestination } from "../dispatcher/runtime.js";

export interface KamailioIdentity {
  /** the main process's pid */
  pid: number;
  /** `core.uptime`'s up_since as Kamailio prints it (ctime, the node's local time) */
  upSince: string;
}

/** The node came back as another process. */
export interface Restart {
  before: KamailioIdentity;
  after: KamailioIdentity;
  /** when the tool saw it (epoch ms) */
  detectedAtMs: number;
}

/** The identity from `core.psx` and `core.uptime` replies (either transport's shape); throws when they are not what 5.6 answers. */
export function identityOf(psx: unknown, uptime: unknown): KamailioIdentity {
  const procs = Array.isArray(psx) ? (psx as unknown[]) : [psx];
  const main = procs.find((p) => (p as { IDX?: unknown } | null)?.IDX === 0) as { PID?: unknown } | undefined;
  const pid = main?.PID;
  const upSince = (uptime as { up_since?: unknown } | null)?.up_since;
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || typeof upSince !== "string") {
    throw new Error("core.psx / core.uptime did not name the main process and its start time");
  }
  return { pid, upSince: upSince.trim() };
}

export const sameProcess = (a: KamailioIdentity, b: KamailioIdentity): boolean =>
  a.pid === b.pid && a.upSince === b.upSince;

export const identityText = (i: KamailioIdentity): string => `pid ${i.pid}, up since ${i.upSince}`;

/** A restart as a watch sees it: and which node's RPC saw it (names the node, reads its runtime). */
export interface NodeRestart extends Restart {
  rpc: RpcClient;
}

/** What a run asks of a watch, on one node or on every node of a fleet. */
export interface RestartWatching {
  /** resolves when a poll or a check sees a node restarted */
  readonly restarted: Promise<NodeRestart>;
  /** the restart seen so far, if any (on a fleet: the first seen) */
  readonly restart: NodeRestart | undefined;
  /** a look now at every node watched */
  check(): Promise<NodeRestart | undefined>;
  stop(): void;
}

/** One look at the node's identity (two RPCs). Throws what the RPC throws. */
export async function readIdentity(rpc: RpcClient): Promise<KamailioIdentity> {
  const [psx, uptime] = await Promise.all([rpc.call("core.psx"), rpc.call("core.uptime")]);
  return identityOf(psx, uptime);
}

/**
 * Watches one node from a baseline: a poll every `intervalMs` in the background (an unanswered poll
 * is a node that may be restarting: the next answer says), and `check()` for a look now. Once a
 * restart is seen it stays seen: the run that started on the baseline cannot trust its state again.
 */
export class RestartWatch implements RestartWatching {
  private seen: NodeRestart | undefined;
  private readonly stopped = new AbortController();
  private resolveRestarted!: (r: NodeRestart) => void;
  /** resolves when a poll or a check sees the node restarted */
  readonly restarted: Promise<NodeRestart>;

  private constructor(
    readonly rpc: RpcClient,
    readonly baseline: KamailioIdentity,
    private readonly intervalMs: number,
  ) {
    this.restarted = new Promise((resolve) => (this.resolveRestarted = resolve));
    void this.poll();
  }

  /** The baseline read now (throws when the node does not answer) and the background poll started. */
  static async start(rpc: RpcClient, intervalMs: number): Promise<RestartWatch> {
    return new RestartWatch(rpc, await readIdentity(rpc), intervalMs);
  }

  /** the restart seen so far, if any */
  get restart(): NodeRestart | undefined {
    return this.seen;
  }

  /** A look now: the restart seen (now or before), or undefined (also when the node does not answer). */
  async check(): Promise<NodeRestart | undefined> {
    if (this.seen || this.stopped.signal.aborted) return this.seen;
    try {
      this.compare(await readIdentity(this.rpc));
    } catch {
      /* not answering: a restart shows at the next answer */
    }
    return this.seen;
  }

  stop(): void {
    this.stopped.abort();
  }

  private compare(now: KamailioIdentity): void {
    if (this.seen || sameProcess(this.baseline, now)) return;
    this.seen = { before: this.baseline, after: now, detectedAtMs: Date.now(), rpc: this.rpc };
    this.resolveRestarted(this.seen);
  }

  private async poll(): Promise<void> {
    const signal = this.stopped.signal;
    while (!signal.aborted && this.seen === undefined) {
      try {
        await delay(this.intervalMs, signal);
      } catch {
        return;
      }
      await this.check();
    }
  }
}

/**
 * Every node of a fleet watched, each from its own baseline: a restart of any node is the run's
 * restart, named by that node's RPC. When several restarted, the first seen is the one reported.
 */
export class FleetRestartWatch implements RestartWatching {
  readonly restarted: Promise<NodeRestart>;

  constructor(readonly watches: readonly RestartWatch[]) {
    this.restarted = Promise.race(watches.map((w) => w.restarted));
  }

  get restart(): NodeRestart | undefined {
    let first: NodeRestart | undefined;
    for (const w of this.watches) {
      const r = w.restart;
      if (r !== undefined && (first === undefined || r.detectedAtMs < first.detectedAtMs)) first = r;
    }
    return first;
  }

  async check(): Promise<NodeRestart | undefined> {
    await Promise.all(this.watches.map((w) => w.check()));
    return this.restart;
  }

  stop(): void {
    for (const w of this.watches) w.stop();
  }
}

/** A restart as the run reports it: when it was seen, what the node routes by now, against the step the run is on. */
export interface RestartFinding {
  /** the node's RPC endpoint (names the node) */
  node: string;
  before: KamailioIdentity;
  after: KamailioIdentity;
  detectedAt: string;
  /** when in the run it was seen, e.g. "during step 2/4 (new=10%)'s hold" */
  seen: string;
  /** the step the run had applied (from 1; 0 = the list before the plan) and its label */
  onStep: number;
  onStepLabel: string;
  /** the node's runtime destinations now ("uri attrs [flags]"); undefined when it did not answer */
  runtime: string[] | undefined;
  /** the runtime is that step's list (the durable list brought it back); undefined: not known */
  matchesStep: boolean | undefined;
  /** how the runtime differs from that step's list, or why it could not be read */
  difference: string | undefined;
}

export function restartFinding(v: {
  node: string;
  restart: Restart;
  seen: string;
  onStep: number;
  onStepLabel: string;
  /** the step's list and the runtime read now (a string: why it could not be read) */
  list: DispatcherList | undefined;
  runtime: readonly RuntimeDestination[] | string;
}): RestartFinding {
  const base = {
    node: v.node,
    before: v.restart.before,
    after: v.restart.after,
    detectedAt: new Date(v.restart.detectedAtMs).toISOString(),
    seen: v.seen,
    onStep: v.onStep,
    onStepLabel: v.onStepLabel,
  };
  if (typeof v.runtime === "string")
    return { ...base, runtime: undefined, matchesStep: undefined, difference: `runtime not read: ${v.runtime}` };
  const runtime = v.runtime.map((d) => `${d.uri}${d.attrs ? ` ${d.attrs}` : ""} [${d.flags}]`);
  if (v.list === undefined)
    return { ...base, runtime, matchesStep: undefined, difference: "the step's list is not known" };
  const diff = diffRuntime(v.list, v.runtime);
  return { ...base, runtime, matchesStep: diff.ok, difference: diff.ok ? undefined : describeDiff(diff) };
}

/** The finding as one sentence: what restarted, when, and what its runtime shows against the run's step. */
export function restartText(f: RestartFinding): string {
  const step = f.onStep === 0 ? "the list before the plan" : `step ${f.onStep} (${f.onStepLabel})`;
  const now =
    f.runtime === undefined
      ? `its runtime could not be read (${f.difference ?? "no answer"})`
      : `its runtime now: ${f.runtime.length === 0 ? "(empty)" : f.runtime.join(", ")}, ` +
        (f.matchesStep === true
          ? `which is ${step}, the list the run applied (Kamailio loaded it from its durable list as it started)`
          : f.matchesStep === false
            ? `which is NOT ${step}, the list the run applied (${f.difference})`
            : `against ${step}: ${f.difference}`);
  return (
    `Kamailio at ${f.node} restarted ${f.seen}: it is ${identityText(f.after)} ` +
    `(the run began on ${identityText(f.before)}); ${now}; a step whose window spans a restart cannot pass`
  );
}
