import path from "node:path";
import type { Command } from "commander";
import { checkRunDir, writeRunReport } from "../../web/run-report.js";

export function registerReportCommand(program: Command): void {
  program
    .command("report")
    .summary("rebuild a run folder's self-contained report.html")
    .argument("<run-dir>", "a sim, dashboard or migrate run folder (e.g. artifacts/latest)")
    .description(
      "rebuild report.html in a run folder from its events.ndjson and results.json: one self-contained file " +
        "(timeline, calls per backend over time, verdicts with their numbers, links to the evidence) that opens " +
        "from disk with no network. Exit 2 when RUN_DIR is not a run folder",
    )
    .action((runDir: string) => {
      const dir = path.resolve(runDir);
      checkRunDir(dir);
      const out = writeRunReport(dir);
      const rel = path.relative(process.cwd(), out);
      process.stdout.write(`report: ${rel.startsWith("..") ? out : rel}\n`);
    });
}
