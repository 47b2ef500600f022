/**
 * Which evidence the run's verdicts rest on (pure): `--evidence hep|sipp|both`.
 *
 * | flag            | verdicts from                         | HEP capture                          |
 * | --------------- | ------------------------------------- | ------------------------------------ |
 * | (none), lab     | the stand-ins' logs, cross-checked by HEP (`evidence-agrees`) | wanted; unavailable = stand-in logs only, recorded |
 * | (none), lab, CALL_RATE above HEP_ALONE_ABOVE | HEP alone, the logs not read (`why` says so) | wanted; unavailable = stand-in logs only, recorded |
 * | both            | the same                              | required (exit 3 without it)         |
 * | hep             | HEP alone; the stand-ins' logs are not read | required                        |
 * | sipp            | the stand-ins' logs alone             | still written to capture.pcap when it can run |
 *
 * Backends without message logs (a real PBX) imply `hep`; `sipp` or `both` there is a usage error.
 *
 * Above HEP_ALONE_ABOVE calls/s the default is HEP alone: the collector reads every mirrored message
 * anyway (capture.pcap, the live rates), so following three SIPp message logs as well reads every
 * message a second time, and at the lab's knee that double work is what starves the collector into
 * kernel drops. HEP alone fails the same lost, misrouted and wrong-dialog calls the logs do (the HEP
 * e2e runs every sabotage of the logs' e2e), and a kernel drop makes its verdicts inconclusive.
 */
import { UsageError } from "../core/errors.js";
import type { Assertion } from "../evidence/assertions.js";

export const EVIDENCE_SOURCES = ["hep", "sipp", "both"] as const;
export type EvidenceSource = (typeof EVIDENCE_SOURCES)[number];

export interface EvidencePlan {
  /** what was asked for (or the default) */
  mode: EvidenceSource;
  /** true when a missing HEP capture must end the run (exit 3) */
  hepRequired: boolean;
  /** true when the mode was not given: HEP is used when it can be */
  defaulted: boolean;
  /** why the default is not the usual one (HEP alone above HEP_ALONE_ABOVE calls/s) */
  why?: string;
}

/** calls/s above which a run without --evidence reads HEP alone (the stand-ins' logs are not followed) */
export const HEP_ALONE_ABOVE = 500;

export function resolveEvidence(flag: string | undefined, backendLogs: boolean, callRate?: number): EvidencePlan {
  if (flag === undefined) {
    if (!backendLogs) return { mode: "hep", hepRequired: true, defaulted: true };
    if (callRate !== undefined && callRate > HEP_ALONE_ABOVE) {
      return {
        mode: "hep",
        hepRequired: false,
        defaulted: true,
        why: `CALL_RATE ${callRate} calls/s is above ${HEP_ALONE_ABOVE}: the collector reads every mirrored message anyway, so the stand-ins' logs are not followed as well (--evidence both to have them)`,
      };
    }
    return { mode: "both", hepRequired: false, defaulted: true };
  }
  const v = flag.trim();
  if (!(EVIDENCE_SOURCES as readonly string[]).includes(v)) {
    throw new UsageError(`--evidence takes hep, sipp or both, got ${JSON.stringify(flag)}; nothing was started`);
  }
  const mode = v as EvidenceSource;
  if (mode !== "hep" && !backendLogs) {
    throw new UsageError(`--evidence ${mode}: these backends write no message logs (a real PBX); nothing was started`, [
      "use --evidence hep (HEP mirrored by Kamailio)",
    ]);
  }
  return { mode, hepRequired: mode !== "sipp", defaulted: false };
}

/** What the run ended up using, after the capture was (or was not) started. */
export interface EvidenceInUse {
  mode: EvidenceSource;
  /** why HEP is not used although it was wanted (port taken, mirroring off, docker lab) */
  hepUnavailable?: string;
  /** why this mode when it was chosen by the call rate (EvidencePlan.why) */
  why?: string;
}

/** The mode once the capture's availability is known; undefined `unavailable` = it runs. Throws nothing. */
export function evidenceInUse(plan: EvidencePlan, unavailable: string | undefined): EvidenceInUse {
  if (unavailable === undefined)
    return plan.why !== undefined ? { mode: plan.mode, why: plan.why } : { mode: plan.mode };
  return { mode: "sipp", hepUnavailable: unavailable };
}

/**
 * Verdicts as judged from the evidence in use (pure): each gets its source; when the kernel dropped
 * HEP datagrams (the collector's socket buffer was full), every verdict resting on HEP is
 * inconclusive, never pass: the evidence is incomplete and cannot show what it misses.
 */
export function judgedFrom(list: Assertion[], mode: EvidenceSource, kernelDrops: number): Assertion[] {
  return list.map((a) => {
    // the event-socket assertions (a lab of real FreeSWITCH) and the media ones name their own source
    const source: Assertion["source"] =
      a.source === "event-socket" || a.source === "hep+event-socket" || a.source === "rtp-capture"
        ? a.source
        : mode === "hep"
          ? "hep"
          : mode === "both" && a.name === "evidence-agrees"
            ? "sipp+hep"
            : "sipp";
    if (source === "sipp" || source === "event-socket" || source === "rtp-capture" || kernelDrops <= 0)
      return { ...a, source };
    return {
      ...a,
      source,
      verdict: "inconclusive",
      details: `${a.details}; inconclusive: the kernel dropped ${kernelDrops} HEP datagram${kernelDrops === 1 ? "" : "s"} at the collector (socket buffer full), so the HEP evidence is incomplete`,
      numbers: { ...a.numbers, hepKernelDrops: kernelDrops },
    };
  });
}
