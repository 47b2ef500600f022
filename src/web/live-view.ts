/**
 * The live page's subscriber: folds the run's event stream into the view model (the same folder
 * report.html uses) and publishes it to the web server, at most every PUBLISH_MS (the first event
 * after a quiet spell goes out at once, a burst is coalesced: latency stays under PUBLISH_MS and the
 * cost per second stays flat however fast events come). The run's end is published at once, with
 * results.json folded in. It decides nothing.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { RunEvent } from "../events/run-events.js";
import { evidenceIn, RESULTS_FILE } from "./run-report.js";
import type { WebServer } from "./server.js";
import { RunViewFolder, withResults, type EvidenceLink, type ResultsInput } from "./view-model.js";

export const PUBLISH_MS = 50;
/** the run folder is listed at most this often (and at the end) */
const EVIDENCE_MS = 1000;

/** anything that delivers the run's events (the live stream, or a follower of events.ndjson) */
export interface RunEventSource {
  subscribe(fn: (e: RunEvent) => void): () => void;
}

export class LiveView {
  private readonly folder: RunViewFolder;
  private timer: NodeJS.Timeout | undefined;
  private lastPublish = 0;
  private evidence: { at: number; list: EvidenceLink[] } = { at: 0, list: [] };
  private results: ResultsInput | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly server: WebServer,
    private readonly runDir: string,
  ) {
    this.folder = new RunViewFolder(runDir);
  }

  attach(events: RunEventSource): this {
    this.unsubscribe = events.subscribe((e) => this.onEvent(e));
    this.publish();
    return this;
  }

  /** fold one event (also used by `watch`, which reads events from the file) */
  onEvent(e: RunEvent): void {
    this.folder.add(e);
    if (e.kind === "run-finished") {
      this.results = readResults(this.runDir);
      this.publish(true);
      return;
    }
    if (this.timer) return;
    const wait = this.lastPublish + PUBLISH_MS - Date.now();
    if (wait <= 0) this.publish();
    else this.timer = setTimeout(() => this.publish(), wait);
  }

  private publish(listFiles = false): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = Date.now();
    this.lastPublish = now;
    if (listFiles || now - this.evidence.at >= EVIDENCE_MS) this.evidence = { at: now, list: evidenceIn(this.runDir) };
    let view = this.folder.snapshot();
    if (this.results) view = withResults(view, this.results);
    this.server.publish({
      ...view,
      runDir: this.runDir,
      runName: path.basename(this.runDir),
      evidence: this.evidence.list,
    });
  }

  /** Detach with a last publish (the run folder as it is now: report.html is in it by then). */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.publish(true);
  }
}

/** results.json when it is there and readable; the page shows the run without it otherwise */
function readResults(runDir: string): ResultsInput | undefined {
  const p = path.join(runDir, RESULTS_FILE);
  if (!existsSync(p)) return undefined;
  try {
    const x: unknown = JSON.parse(readFileSync(p, "utf8"));
    return typeof x === "object" && x !== null ? x : undefined;
  } catch {
    return undefined;
  }
}
