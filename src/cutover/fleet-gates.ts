/**
 * Live gates over a fleet: one collector receives every node's mirror; each call belongs to the node
 * whose SIP socket it went through (HepCall.proxy). A step is judged on the fleet's calls (one
 * LiveGates over all of them: its split bound the sum of each node's) and on each node's own
 * calls (a LiveGates per node with the same gates), so a node whose calls fail alone fails the step
 * even when the fleet's sum would pass, and every fail names the nodes whose calls fail. Early fails
 * (during the hold) come from either; the verdict at the hold's end is the fleet's unless a node fails.
 */
import { EDGE_SELECTIONS, fleetSplitCheck } from "../gates/split-check.js";
import type { EndpointKey, HepCall } from "../hep/evidence.js";
import type { GateResult as RunnerGateResult, WindowWatch } from "../plan/runner.js";
import type { BackendRole } from "../core/backend-role.js";
import type { CallAudio } from "../evidence/call-record.js";
import { LiveGates, type LiveGatesOptions, type StepGateRecord } from "./live-gates.js";

/** What migrate's hold and evaluation ask of the live gates (LiveGates on one node, FleetGates on a fleet). */
export interface StepGates {
  readonly verdicts: ReadonlyMap<number, StepGateRecord>;
  open(step: number): void;
  observe(c: HepCall | undefined): void;
  age(): void;
  watch(step: number): WindowWatch;
  whenFailed(step: number): Promise<RunnerGateResult>;
  evaluate(step: number): RunnerGateResult;
  flush(): void;
  /** an answered call's audio (media on: the tool's own calls) */
  observeMedia(callId: string, audio: CallAudio): void;
  /** the answered calls of step i's window whose audio is not counted yet */
  mediaOwed(step: number): string[];
  /** how many of these calls' audio is still not counted */
  stillOwed(step: number, ids: readonly string[]): number;
  /** a fleet: each node's verdict of step i, as the step was decided */
  nodeVerdicts?(step: number): Record<string, StepGateRecord> | undefined;
}

export interface FleetNodeSocket {
  name: string;
  /** the node's SIP socket, as mirrored messages name it */
  proxy: EndpointKey;
}

const failedCalls = (r: StepGateRecord): number =>
  (["old", "new"] as const).reduce((n, b: BackendRole) => n + r.metrics[b].ineffective + r.metrics[b].timedOut, 0);

/**
 * The nodes a fleet's verdict is about (pure): those whose own verdict fails, else those with failing
 * calls; and one line that names them.
 */
export function failingNodes(nodes: readonly { name: string; rec: StepGateRecord }[]): {
  names: string[];
  text: string;
} {
  let failing = nodes.filter((n) => n.rec.verdict === "fail");
  if (failing.length === 0) failing = nodes.filter((n) => failedCalls(n.rec) > 0);
  const names = failing.map((n) => n.name);
  if (names.length === 0) return { names, text: "no node's calls fail on their own" };
  const who =
    names.length === nodes.length
      ? `on every node (${names.join(", ")})`
      : names.length === 1
        ? `node ${names[0]}'s calls fail alone`
        : `nodes ${names.join(", ")} fail`;
  return { names, text: `${who}: ${failing.map((n) => `${n.name}: ${n.rec.detail}`).join(" | ")}` };
}

export class FleetGates implements StepGates {
  private readonly fleet: LiveGates;
  private readonly nodes: { name: string; proxy: EndpointKey; gates: LiveGates }[];
  private readonly byProxy = new Map<EndpointKey, LiveGates>();
  readonly verdicts = new Map<number, StepGateRecord>();
  private readonly perNode = new Map<number, Record<string, StepGateRecord>>();

  constructor(o: LiveGatesOptions, sockets: readonly FleetNodeSocket[]) {
    // the fleet's split: the sum of its nodes' bounds (each node cycles through its own list)
    const splitOf = (step: number) =>
      fleetSplitCheck({
        algorithm: o.algorithm,
        weightNew: o.steps[step]!.weightNew,
        nodes: this.nodes.map((n) => {
          const r = n.gates.routedIn(step);
          return { toOld: r.old, toNew: r.new };
        }),
        otherSelections: o.edgeSelections ?? EDGE_SELECTIONS,
      });
    this.fleet = new LiveGates({ ...o, splitOf });
    this.nodes = sockets.map((s) => {
      // a node's gates only judge: the fleet's gates record calls and let the evidence go
      const { onRecord: _r, onOver: _o, ...judge } = o;
      const gates = new LiveGates({ ...judge, node: s.proxy });
      this.byProxy.set(s.proxy, gates);
      return { ...s, gates };
    });
  }

  open(step: number): void {
    // one moment for every window: a call counts in its node's window exactly when in the fleet's
    const at = Date.now();
    this.fleet.open(step, at);
    for (const n of this.nodes) n.gates.open(step, at);
  }

  observe(c: HepCall | undefined): void {
    // the node's gates first: the fleet's may let the evidence forget the call
    if (c?.proxy !== undefined) this.byProxy.get(c.proxy)?.observe(c);
    this.fleet.observe(c);
  }

  age(): void {
    for (const n of this.nodes) n.gates.age();
    this.fleet.age();
  }

  observeMedia(callId: string, audio: CallAudio): void {
    for (const n of this.nodes) n.gates.observeMedia(callId, audio);
    this.fleet.observeMedia(callId, audio);
  }

  mediaOwed(step: number): string[] {
    return this.fleet.mediaOwed(step);
  }

  stillOwed(step: number, ids: readonly string[]): number {
    return this.fleet.stillOwed(step, ids);
  }

  flush(): void {
    for (const n of this.nodes) n.gates.flush();
    this.fleet.flush();
  }

  nodeVerdicts(step: number): Record<string, StepGateRecord> | undefined {
    return this.perNode.get(step);
  }

  /** each node's record of step i now: its verdict if it has one, else its window as it is */
  private snapshot(step: number): { name: string; rec: StepGateRecord }[] {
    const recs = this.nodes.map((n) => ({ name: n.name, rec: n.gates.verdicts.get(step) ?? n.gates.peek(step) }));
    this.perNode.set(step, Object.fromEntries(recs.map((r) => [r.name, r.rec])));
    return recs;
  }

  /** the fleet's record of step i with the nodes it is about named */
  private decided(step: number, base: StepGateRecord, verdict: StepGateRecord["verdict"]): RunnerGateResult {
    const nodes = failingNodes(this.snapshot(step));
    const rec: StepGateRecord = {
      ...base,
      verdict,
      detail: verdict === "fail" ? `${base.detail}; ${nodes.text}` : base.detail,
    };
    this.verdicts.set(step, rec);
    return toRunner(rec);
  }

  watch(step: number): WindowWatch {
    const w = this.fleet.watch(step);
    if (w.failed) return { ...w, failed: this.decided(step, this.fleet.verdicts.get(step)!, "fail") };
    for (const n of this.nodes) {
      const f = n.gates.watch(step).failed;
      if (f) return { ...w, failed: this.nodeFailed(step, n.name) };
    }
    return w;
  }

  private nodeFailed(step: number, name: string): RunnerGateResult {
    const rec = this.nodes.find((n) => n.name === name)!.gates.verdicts.get(step)!;
    const fleet = this.fleet.peek(step);
    return this.decided(step, { ...rec, window: fleet.window, metrics: fleet.metrics, split: fleet.split }, "fail");
  }

  whenFailed(step: number): Promise<RunnerGateResult> {
    return Promise.race([
      this.fleet.whenFailed(step).then(() => this.decided(step, this.fleet.verdicts.get(step)!, "fail")),
      ...this.nodes.map((n) => n.gates.whenFailed(step).then(() => this.nodeFailed(step, n.name))),
    ]);
  }

  evaluate(step: number): RunnerGateResult {
    this.fleet.evaluate(step);
    for (const n of this.nodes) n.gates.evaluate(step);
    const fleet = this.fleet.verdicts.get(step)!;
    const anyNodeFails = this.nodes.some((n) => n.gates.verdicts.get(step)?.verdict === "fail");
    return this.decided(step, fleet, anyNodeFails ? "fail" : fleet.verdict);
  }
}

function toRunner(v: StepGateRecord): RunnerGateResult {
  return {
    verdict: v.verdict,
    detail: v.detail,
    gates: v.gates,
    ...(v.firstFailingCallMs !== undefined ? { firstFailingCallMs: v.firstFailingCallMs } : {}),
    ...(v.decided !== undefined ? { decided: v.decided } : {}),
  };
}
