/**
 * The calls of `migrate --traffic` on the run's event stream, as a sim's are: `call-routed` when
 * Kamailio forwarded a call's INVITE to a backend, `call-finished` once its answer (and BYE) or its
 * timeout is known, each call once. Folded from the HEP evidence of each call as it changes (pure
 * but for the clock it is given); the web view, report.html and the dashboard take it from there.
 */
import type { RunEvent, SimPhase } from "../events/run-events.js";
import type { BackendRole } from "../core/backend-role.js";
import { recordOver } from "../evidence/call-record.js";
import { callRecordFromHep } from "../evidence/hep-records.js";
import type { EndpointKey, HepCall } from "../hep/evidence.js";

type CallEvent = Extract<RunEvent, { kind: "call-routed" | "call-finished" }>;

/** the sim phase a step's weight is: old (0), new (100), both (anything between) */
export const phaseOfWeight = (weightNew: number): SimPhase =>
  weightNew <= 0 ? "old" : weightNew >= 100 ? "new" : "both";

export class TrafficCallEvents {
  private readonly routed = new Map<string, { backend: BackendRole; phase: SimPhase }>();
  private readonly finished = new Set<string>();
  /** the phase calls routed from now on belong to (the step just applied) */
  phase: SimPhase = "old";
  /** calls whose INVITE Kamailio forwarded to each backend */
  readonly routedTo: Record<BackendRole, number> = { old: 0, new: 0 };

  constructor(
    private readonly o: {
      backends: Readonly<Record<BackendRole, EndpointKey>>;
      callIdPrefix: string;
      timeoutMs: number;
    },
  ) {}

  /** the events a call's new evidence adds (none, a routing, a finish, or both) */
  observe(c: HepCall | undefined, nowMs: number): CallEvent[] {
    if (c === undefined || !c.callId.startsWith(this.o.callIdPrefix) || this.finished.has(c.callId)) return [];
    const st = callRecordFromHep(c, this.o.backends, { nowMs, timeoutMs: this.o.timeoutMs });
    if (st.kind !== "pending" && st.kind !== "record") return [];
    const out: CallEvent[] = [];
    const backend = st.kind === "record" ? st.record.backend : st.backend;
    let r = this.routed.get(c.callId);
    if (r === undefined) {
      r = { backend, phase: this.phase };
      this.routed.set(c.callId, r);
      this.routedTo[backend]++;
      out.push({ kind: "call-routed", at: nowMs, callId: c.callId, phase: r.phase, backend });
    }
    if (st.kind === "record") {
      const rec = st.record;
      // a call ends with its BYE's answer, or with a final answer that sets up no dialog
      const answered = rec.finalStatus !== undefined && rec.finalStatus >= 200 && rec.finalStatus < 300;
      if (recordOver(rec)) {
        this.finished.add(c.callId);
        this.routed.delete(c.callId);
        const completed =
          answered && c.answerToBye !== undefined && c.answerToBye.status >= 200 && c.answerToBye.status < 300;
        out.push({
          kind: "call-finished",
          at: nowMs,
          callId: c.callId,
          phase: r.phase,
          backend,
          completed,
          ...(completed
            ? {}
            : {
                reason: rec.timedOut
                  ? "no final response to INVITE"
                  : answered
                    ? `BYE answered ${c.answerToBye?.status ?? "?"}`
                    : `INVITE answered ${rec.finalStatus}`,
              }),
        });
      }
    }
    return out;
  }

  /** The evidence let the call go (it is over, or expired): nothing of it is kept here either. */
  forget(callId: string): void {
    this.routed.delete(callId);
    this.finished.delete(callId);
  }
}
