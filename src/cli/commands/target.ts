import type { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import { checkVerdict, renderCheck } from "../../cutover/check-report.js";
import { checkTarget } from "../../cutover/target-check.js";
import { readTargetFile } from "../../target/target-file.js";

interface TargetCheckOpts {
  target?: string;
  json?: boolean;
}

export function registerTargetCommand(program: Command): void {
  const target = program
    .command("target")
    .description("a Kamailio the tool did not start, described by a target file (YAML; see docs/production.md)");
  target
    .command("check")
    .description(
      "per node: reachable and its version, runtime dispatcher.list equal to the durable list (else drift, exit 4), " +
        "which destinations are old/new and their probe state, the reload_delta guard (from a refused reload's reply: " +
        "two reloads in a row, only when runtime equals the list), HEP from the node reaching the collector (an OPTIONS " +
        "through the node), the dialog profile per destination. Writes nothing. Exit 0 ok, 1 HEP or dialog profile " +
        "missing, 2 bad target file or a destination in neither old nor new, 3 unreachable or refused, 4 drift",
    )
    .option("--target <file>", "the target file (YAML)")
    .option("--json", "print the findings and the verdict as JSON")
    .action(async (opts: TargetCheckOpts) => {
      if (opts.target === undefined) throw new UsageError("--target FILE is required: the target file to check");
      const spec = readTargetFile(opts.target);
      const check = await checkTarget(spec);
      const verdict = checkVerdict(check);
      process.stdout.write(
        opts.json ? JSON.stringify({ ...check, verdict }, null, 2) + "\n" : renderCheck(check, verdict),
      );
      process.exitCode = verdict.exitCode;
    });
}
