/**
 * A sim run's HEP: the collector on the address the lab's Kamailio mirrors to, the feed that turns
 * its packets into the verdicts' HEP book (--evidence hep or both), the live per-backend rates
 * (backend-rates events, whatever --evidence says), capture.pcap; and, when HEP cannot be had, why
 * (exit 3 when the evidence requires it, else a recorded fallback to the stand-ins' logs).
 */
import path from "node:path";
import { CutoverError, EnvironmentError } from "../core/errors.js";
import { kamailioMirrors, startHepCapture, type HepCapture } from "../hep/capture.js";
import { hepView } from "../hep/evidence-source.js";
import type { HepForwardTarget } from "../hep/forward-target.js";
import { startRateSampler } from "../hep/rate-events.js";
import { RateCounter } from "../hep/rate-counter.js";
import type { LabSettings } from "../config/lab-config.js";
import type { RunSession } from "../run/session.js";
import { callPathOf, type Target } from "../target/target.js";
import { evidenceInUse, type EvidenceInUse, type EvidencePlan } from "./evidence-mode.js";
import { HepFeed } from "../evidence/hep-feed.js";

export class SimHep {
  readonly feed: HepFeed;
  private readonly rates: RateCounter;
  private readonly proxy: string;
  private readonly at: { address: string; port: number };
  capture: HepCapture<undefined> | undefined;
  /** why HEP is not available (undefined: it is) */
  unavailable: string | undefined;

  constructor(
    private readonly session: RunSession,
    private readonly labHep: LabSettings["hep"],
    private readonly plan: EvidencePlan,
    private readonly forward: HepForwardTarget | undefined,
    private readonly captureMaxMb: number | undefined,
  ) {
    const t = session.target;
    const cp = callPathOf(t).proxy;
    this.proxy = `${cp.address}:${cp.port}`;
    this.at = t.hepCollector ?? { address: labHep.address, port: labHep.port };
    const view = hepView([this.proxy], {
      old: `${t.backends.old.address}:${t.backends.old.port}`,
      new: `${t.backends.new.address}:${t.backends.new.port}`,
    });
    this.feed = new HepFeed(view);
    this.rates = new RateCounter(view, Date.now());
  }

  private get target(): Target {
    return this.session.target;
  }

  /** Bind the collector (or learn why HEP is not available); exit 3 when the evidence requires HEP and it is not. */
  async start(): Promise<void> {
    await this.bind();
    if (this.unavailable !== undefined && this.plan.hepRequired) {
      throw new EnvironmentError(
        `HEP evidence was asked for (--evidence ${this.plan.mode}) but is not available: ${this.unavailable}`,
        [
          "free the HEP port or pick another (--hep-port), run the lab with mirroring on, or use --evidence sipp (the stand-ins' logs)",
        ],
      );
    }
  }

  private async bind(): Promise<void> {
    const { session, rates, feed } = this;
    if (this.target.hepCollector === undefined && this.labHep.mirror === "off" && (await this.mirrors()) !== true) {
      this.unavailable = `Kamailio's mirroring is off (lab setting hep.mirror / --hep-mirror off; \`siptrace.status on\` switches it on)`;
      return;
    }
    try {
      const capture = await startHepCapture({
        address: this.at.address,
        port: this.at.port,
        proxy: [this.proxy],
        pcapPath: path.join(session.runDir, "capture.pcap"),
        ...(this.forward ? { forward: this.forward } : {}),
        ...(this.captureMaxMb !== undefined ? { captureMaxMb: this.captureMaxMb } : {}),
        // the verdicts' HEP book is the feed's; the proxy's own book would be a second copy
        book: false,
        // with --evidence sipp the capture only writes capture.pcap (and counts the rates)
        onPacket:
          this.plan.mode !== "sipp"
            ? (p, head) => {
                rates.add(p, head);
                feed.push(p, head);
              }
            : (p, head) => rates.add(p, head),
      });
      this.capture = capture;
      session.scope.defer("hep capture", () => capture.stop().then(() => undefined));
      session.scope.defer("hep rates", startRateSampler(rates, session.events));
    } catch (err) {
      if (!(err instanceof CutoverError)) throw err;
      this.unavailable = err.message;
    }
  }

  /** A lab that was already running may have had its mirroring switched off at runtime. */
  async checkMirroring(): Promise<void> {
    if (!this.capture || (await this.mirrors()) !== false) return;
    const why = "Kamailio's mirroring is off (`siptrace.status` says Disabled; `siptrace.status on` switches it on)";
    if (this.plan.hepRequired) {
      throw new EnvironmentError(
        `HEP evidence was asked for (--evidence ${this.plan.mode}) but is not available: ${why}`,
        ["switch it on, or use --evidence sipp"],
      );
    }
    this.unavailable = why;
  }

  /** the evidence sources the run's verdicts use, now that HEP's availability is known */
  inUse(): EvidenceInUse {
    return evidenceInUse(this.plan, this.unavailable);
  }

  /** the log line saying where the verdicts' evidence comes from */
  describe(realPbx: boolean): string {
    if (this.unavailable !== undefined)
      return `evidence: HEP is not available (${this.unavailable}); verdicts from the stand-ins' logs only`;
    const mode = this.inUse().mode;
    const source = realPbx
      ? "HEP, cross-checked call by call by each FreeSWITCH's event socket (event-socket-agrees)"
      : mode === "hep"
        ? "HEP alone (the stand-ins' logs are not read)"
        : mode === "both"
          ? "the stand-ins' logs, cross-checked call by call by HEP (evidence-agrees)"
          : "the stand-ins' logs";
    const relay = this.forward ? `, relayed to ${this.forward.host}:${this.forward.port}` : "";
    const why = this.plan.why !== undefined ? ` (${this.plan.why})` : "";
    return `evidence: ${source}${why}; HEP collector on ${this.at.address}:${this.at.port}${relay}, capture.pcap in the run folder`;
  }

  /** Does the lab's Kamailio mirror right now? (src/hep/capture.ts) */
  private mirrors(): Promise<boolean | undefined> {
    return kamailioMirrors(this.target.rpc);
  }
}
