/**
 * report.html: a run folder's offline report, rebuilt from the folder alone (events.ndjson, and
 * results.json when the run got that far) by the same view model and page as the live view. Written
 * at the end of every sim/dashboard run and by `pbx-cutover report RUN_DIR`.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileFault, UsageError } from "../core/errors.js";
import { EVENT_LOG_FILE } from "../events/event-log.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";
import { readPageAssets, renderPage } from "./page.js";
import { runViewOfLog, withResults, type EvidenceLink, type ResultsInput, type RunView } from "./view-model.js";

export const REPORT_FILE = "report.html";
export const RESULTS_FILE = "results.json";

/** The evidence files a run folder may hold, in the order the page lists them. */
const KNOWN: readonly EvidenceLink[] = [
  { name: RESULTS_FILE, what: "every call, every verdict with its numbers, applies, SIPp counters" },
  { name: "junit.xml", what: "one test case per assertion, for CI systems" },
  { name: EVENT_LOG_FILE, what: "the run's event stream, one JSON event per line" },
  { name: "capture.pcap", what: "every SIP message Kamailio mirrored (HEP), for Wireshark/tshark" },
  {
    name: "media.pcap",
    what: "the calls' RTP as the caller sent and got it, for Wireshark/tshark's RTP stream analysis",
  },
  { name: "simulation.stdout.log", what: "everything the run printed" },
  { name: "live-metrics.csv", what: "the terminal dashboard's rows, one per tick" },
  { name: "final-frame.txt", what: "the terminal dashboard's final frame" },
  { name: REPORT_FILE, what: "this report, rebuilt by `pbx-cutover report RUN_DIR`" },
];

/** The evidence present in `runDir` (regular files only): the known names, then every <phase>.assertions.txt. */
export function evidenceIn(runDir: string): EvidenceLink[] {
  const isFile = (name: string): boolean => {
    try {
      return lstatSync(path.join(runDir, name)).isFile();
    } catch {
      return false;
    }
  };
  let names: string[] = [];
  try {
    names = readdirSync(runDir);
  } catch {
    /* listed as nothing */
  }
  const assertions = names.filter((n) => n.endsWith(".assertions.txt") && isFile(n)).sort();
  return [
    ...KNOWN.filter((k) => isFile(k.name)),
    ...assertions.map((name) => ({ name, what: "the phase's assertions, verdicts and numbers" })),
  ];
}

/** The folder's view: events.ndjson folded, results.json merged when present, evidence listed. */
export function readRunView(runDir: string): RunView {
  const text = readFileSync(path.join(runDir, EVENT_LOG_FILE), "utf8");
  let view = runViewOfLog(text, runDir);
  const resultsPath = path.join(runDir, RESULTS_FILE);
  if (existsSync(resultsPath)) {
    let results: unknown;
    try {
      results = JSON.parse(readFileSync(resultsPath, "utf8"));
    } catch (err) {
      if (err instanceof SyntaxError)
        throw new UsageError(`${resultsPath} is not valid JSON (${err.message}); nothing was written`);
      throw err;
    }
    const input: ResultsInput = typeof results === "object" && results !== null ? results : {};
    view = withResults(view, input);
  }
  return { ...view, runDir, runName: path.basename(runDir), evidence: evidenceIn(runDir) };
}

/** Check RUN_DIR before anything is read (exit 2 with one line saying what is wrong). */
export function checkRunDir(runDir: string): void {
  let st;
  try {
    st = statSync(runDir);
  } catch {
    throw new UsageError(`run folder ${runDir} does not exist; pass a run folder such as artifacts/latest`);
  }
  if (!st.isDirectory()) throw new UsageError(`${runDir} is not a folder; pass a run folder such as artifacts/latest`);
  if (!existsSync(path.join(runDir, EVENT_LOG_FILE))) {
    throw new UsageError(
      `${runDir} has no ${EVENT_LOG_FILE}, so it is not a sim or dashboard run folder; pass one such as artifacts/latest`,
    );
  }
}

/** Build report.html in `runDir` from its files; returns its path. */
export function writeRunReport(runDir: string): string {
  const out = path.join(runDir, REPORT_FILE);
  let view: RunView;
  try {
    view = readRunView(runDir);
  } catch (err) {
    throw fileFault(err, path.join(runDir, EVENT_LOG_FILE), "read");
  }
  // report.html lists itself: it is there once this write is done
  if (!view.evidence.some((e) => e.name === REPORT_FILE))
    view = { ...view, evidence: [...view.evidence, KNOWN.at(-1)!] };
  writeFileAtomic(out, renderPage(view, "report", readPageAssets()), { mode: FileMode.public });
  return out;
}
