import type { Command } from "commander";
import path from "node:path";
import { createRunDir } from "../../artifacts/run-dir.js";
import { loadConfigFile } from "../../config/file.js";
import { driverFor } from "../../drivers/select.js";
import { formatTable } from "../../verify/checks.js";
import { runVerify, writeVerifyJson, type VerifyReport } from "../../verify/run-verify.js";
import { parseVerifySection, verifyEndpointProblems } from "../../config/verify-config.js";
import { EnvironmentError, UsageError } from "../../core/errors.js";
import { ExitCode } from "../../core/exit-codes.js";
import type { ConfigFile } from "../../config/file.js";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import { requireFusionpbxPrograms } from "../../lab/fusionpbx/instance.js";
import { labParity } from "../../lab/fusionpbx/parity-read.js";
import { pgConnOf } from "../../lab/fusionpbx/pg-client.js";
import { formatParity } from "../../verify/fusionpbx-parity.js";
import { addDriverOptions, targetChoiceFrom, type TargetFlags } from "../target-options.js";
import { addLabOptions, resolveLab } from "../lab-options.js";

type VerifyOpts = TargetFlags & { artifactsDir?: string; timeoutMs?: string; json?: boolean; parity?: boolean };

export const DEFAULT_ARTIFACTS_DIR = "artifacts";

export function formatReport(r: VerifyReport, verifyJson: string, kamailioDownHint: string): string {
  const lines = [formatTable(r.rows), ""];
  for (const f of r.findings) {
    const tag = f.severity === "fail" ? "FAIL" : f.severity === "unreachable" ? "UNREACHABLE" : "warning";
    lines.push(`${tag}: ${f.message}`);
  }
  const summary =
    r.verdict === "pass"
      ? "verify passed: both stacks answer and are truly different"
      : r.verdict === "fail"
        ? "verify FAILED: old and new are not truly different (exit 1)"
        : "verify could not reach everything (exit 3)";
  lines.push(`${summary}; ${r.rows.length} probes in ${Math.round(r.durationMs)} ms (${r.driver} driver)`);
  const kamailioDown = r.rows.some((row) => row.stack === "kamailio" && row.reachable === false);
  if (kamailioDown) {
    lines.push(`hint: ${kamailioDownHint}`);
  }
  lines.push(`verify.json: ${verifyJson}`);
  return lines.join("\n");
}

export function registerVerifyCommand(program: Command): void {
  const cmd = program
    .command("verify")
    .summary("preflight: old and new reachable and truly different versions")
    .description(
      "preflight (replaces the legacy lab's verify_versions.sh): both stacks reachable and truly different: Kamailio's " +
        "RPC, SIP OPTIONS to each backend directly and from Kamailio, versions from the SIP headers and, where the lab " +
        "runs them, FreeSWITCH's event socket and binary and FusionPBX's code and page; exit 1 when old and new are " +
        "the same endpoint or version, 3 when something does not answer",
    )
    .option("--artifacts-dir <dir>", `where the run folder with verify.json goes (default ${DEFAULT_ARTIFACTS_DIR})`)
    .option("--timeout-ms <ms>", "per-probe timeout (default 1000; config verify.timeoutMs)")
    .option("--json", "print the report as JSON instead of the table")
    .option(
      "--parity",
      "instead: configuration parity of the lab's two FusionPBX (domains, extensions, voicemail boxes, gateways, " +
        "dialplans and routes, ring groups, IVRs, inbound numbers) by the keys a user knows; exit 1 on any missing, extra or different object",
    );
  addDriverOptions(addLabOptions(cmd)).action(async (opts: VerifyOpts) => {
    // the config file is read once: its verify section here, its lab section for the target
    const file = loadConfigFile(opts.config);
    if (opts.parity) return parityCommand(opts, file);
    const section = parseVerifySection(file.raw["verify"], { timeoutMs: opts.timeoutMs });
    const choice = targetChoiceFrom(opts, { file });
    const driver = driverFor(choice);
    const config = driver.withVerifyDefaults(section);
    const policy = driver.sipPolicy;
    const outside = verifyEndpointProblems(config, policy);
    if (outside.length > 0) {
      throw new UsageError(
        `${file.path !== undefined ? `config file ${file.path}: ` : ""}${outside[0]}; nothing was probed`,
        [...outside.slice(1), `verify probes only IPs inside ${policy.name} (${policy.allow.join(", ")})`],
      );
    }
    const target = await driver.openTarget();
    let report: VerifyReport;
    try {
      report = await runVerify({ target, config, versionSources: driver.versionSources() });
    } finally {
      target.close();
    }
    const runDir = createRunDir(path.resolve(opts.artifactsDir ?? DEFAULT_ARTIFACTS_DIR), "verify");
    const jsonFile = writeVerifyJson(runDir, report, config);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ ...report, verifyJson: jsonFile }, null, 2) + "\n");
    } else {
      process.stdout.write(formatReport(report, jsonFile, driver.kamailioDownHint) + "\n");
    }
    process.exitCode = report.exitCode;
  });
}

async function parityCommand(opts: VerifyOpts, file: ConfigFile): Promise<void> {
  const { settings, running } = resolveLab(opts, { file });
  if (running === undefined || !settings.fusionpbx.enabled) {
    throw new EnvironmentError(`no lab serving FusionPBX runs in ${settings.labDir}; nothing was compared`, [
      "start one: pbx-cutover lab up --backends freeswitch --fusionpbx",
    ]);
  }
  const programs = requireFusionpbxPrograms(settings)!;
  const result = await labParity(pgConnOf(settings, programs.pgBin), programs.trees);
  const runDir = createRunDir(path.resolve(opts.artifactsDir ?? DEFAULT_ARTIFACTS_DIR), "parity");
  const jsonFile = path.join(runDir, "parity.json");
  writeFileAtomic(jsonFile, JSON.stringify(result, null, 2) + "\n", { mode: FileMode.public });
  process.stdout.write(
    (opts.json
      ? JSON.stringify({ ...result, parityJson: jsonFile }, null, 2)
      : `${formatParity(result)}\nparity.json: ${jsonFile}`) + "\n",
  );
  process.exitCode = result.ok ? ExitCode.Ok : ExitCode.VerificationFailed;
}
