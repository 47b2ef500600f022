/**
 * A subscriber of the run's event stream that keeps the seed's live files current:
 * status.txt (running/success/failed), current_phase.txt and simulation.stdout.log, and echoes
 * the log lines to the terminal. It decides nothing.
 */
import path from "node:path";
import type { RunEvent, RunEvents } from "../events/run-events.js";
import { appendFileSafe, FileMode, writeFileAtomic } from "../files/atomic-write.js";

function writeNow(file: string, text: string): void {
  writeFileAtomic(file, text, { mode: FileMode.public });
}

export function attachRunFiles(
  events: RunEvents,
  runDir: string,
  echo: ((line: string) => void) | undefined,
): () => void {
  const stdoutLog = path.join(runDir, "simulation.stdout.log");
  writeNow(stdoutLog, "");
  return events.subscribe((e: RunEvent) => {
    switch (e.kind) {
      case "status":
        writeNow(path.join(runDir, "status.txt"), `${e.status}\n`);
        break;
      case "phase":
        writeNow(path.join(runDir, "current_phase.txt"), `${e.phase}\n`);
        break;
      case "log":
        appendFileSafe(stdoutLog, e.line + "\n", FileMode.public);
        echo?.(e.line);
        break;
      case "run-finished":
        writeNow(path.join(runDir, "status.txt"), `${e.status}\n`);
        break;
      default:
        break;
    }
  });
}
