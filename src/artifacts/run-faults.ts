/**
 * Faults writing a run folder's files (events.ndjson, the step lists, results.json, summary.md,
 * report.html, kamcmd's listing): recorded, never thrown into the run, so a full, read-only or
 * failing disk cannot interrupt what routing is doing (a rollback still happens, a verified step
 * stands). The first one ends the run with exit 3 naming the file, followed by what routing did.
 */
import { EnvironmentError, FileFaultError, fileFault } from "../core/errors.js";

export class RunFileFaults {
  private readonly faults: FileFaultError[] = [];

  get first(): FileFaultError | undefined {
    return this.faults[0];
  }

  /**
   * Record a fault of `file` (an errno error, e.g. ENOSPC from a write to an open fd that names no
   * path, becomes a FileFaultError naming `file`). Anything that is not a file-system fault is thrown.
   */
  record(err: unknown, file: string, op = "write"): void {
    const f = fileFault(err, file, op);
    if (!(f instanceof FileFaultError)) throw f;
    if (!this.faults.some((x) => x.path === f.path)) this.faults.push(f);
  }

  /** Do one write of a run-folder file; a file-system fault is recorded (false), not thrown. */
  write(file: string, write: () => void): boolean {
    try {
      write();
      return true;
    } catch (err) {
      this.record(err, file);
      return false;
    }
  }

  /**
   * The run's end when a file could not be written: exit 3 naming the first one (and how many more),
   * with `routing` (what the run did to routing) so the operator knows where calls go now.
   */
  endError(runDir: string, routing: string): EnvironmentError | undefined {
    const first = this.first;
    if (first === undefined) return undefined;
    const more = this.faults.slice(1).map((f) => f.path);
    return new EnvironmentError(
      `${first.message}; the run's evidence in ${runDir} is incomplete${more.length > 0 ? ` (${more.length} more file${more.length === 1 ? "" : "s"} not written)` : ""}. Routing: ${routing}`,
      [...first.details, ...more.map((p) => `not written: ${p}`)],
    );
  }
}
