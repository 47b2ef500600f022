import type { Command } from "commander";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createRunDir } from "../../artifacts/run-dir.js";
import { assetPath } from "../../assets.js";
import { RunEvents } from "../../events/run-events.js";
import { verifiedApply } from "../../kamailio/apply.js";
import { requireBinaries } from "../../lab/binaries.js";
import { addDriverOptions, targetFrom, type TargetFlags } from "../../lab/driver.js";
import { labControlFor } from "../../lab/lab-control.js";
import { KNOBS, resolveKnobs } from "../../sim/knobs.js";
import { failureLine } from "../../sim/report.js";
import { attachRunFiles } from "../../sim/run-files.js";
import { runSimulation } from "../../sim/run-sim.js";
import { injectFault, parseTestFaults, TEST_FAULT_ENV } from "../../sim/test-faults.js";
import { addLabOptions, labSettingsFrom } from "../lab-options.js";
import { withScope } from "../scope.js";

type SimOpts = TargetFlags & { artifactsDir?: string; keepLab?: boolean; quiet?: boolean } & Record<string, unknown>;

export const DEFAULT_SIM_ARTIFACTS_DIR = "artifacts";

export function registerSimCommand(program: Command): void {
  const cmd = program
    .command("sim")
    .description(
      "live call cutover simulation (the seed's run_call_cutover_sim.sh): phases old, both, new with real calls and\n" +
        "per-call evidence, then an in-flight cutover under a long call; exit 0 all assertions pass, 1 any fails,\n" +
        "2 bad input, 3 environment. Starts the lab if it is not running and stops what it started (unless --keep-lab)",
    )
    .option("--artifacts-dir <dir>", `where call-cutover-YYYYmmdd_HHMMSS/ and the \`latest\` link go (default ${DEFAULT_SIM_ARTIFACTS_DIR})`)
    .option("--keep-lab", "leave the lab running at the end if this run started it (a lab that was already up is always left up)")
    .option("--quiet", "print only the result lines (simulation.stdout.log still has everything)");
  for (const k of KNOBS) cmd.option(`${k.flag} <${k.integer ? "n" : "x"}>`, `${k.help} (env ${k.env}, default ${k.def})`);
  addDriverOptions(addLabOptions(cmd)).action(async (opts: SimOpts) => {
    // everything validated before anything starts (exit 2)
    const knobs = resolveKnobs(process.env, opts);
    const faults = parseTestFaults(process.env[TEST_FAULT_ENV]);
    const settings = labSettingsFrom(opts);
    const lab = labControlFor(opts, { needsEvidence: true });
    const { sipp } = requireBinaries(["sipp"]);
    const artifactsDir = path.resolve(opts.artifactsDir ?? DEFAULT_SIM_ARTIFACTS_DIR);
    const echoAll = opts.quiet !== true;
    const exitCode = await withScope(async (scope) => {
      const runDir = createRunDir(artifactsDir, "call-cutover");
      const events = new RunEvents();
      const echo = (line: string): void => void process.stdout.write(line + "\n");
      let resultPhase = false;
      scope.defer("run files", attachRunFiles(events, runDir, (l) => (echoAll || resultPhase ? echo(l) : undefined)));
      const log = (line: string): void => events.emit({ kind: "log", at: Date.now(), line });
      events.emit({ kind: "phase", at: Date.now(), phase: "stack-start" });
      let up;
      try {
        up = await lab.ensureUp(scope);
      } catch (err) {
        writeFileSync(path.join(runDir, "status.txt"), "failed\n");
        throw err;
      }
      if (up.alreadyRunning) {
        log(`lab: already running (${opts.driver ?? "native"} driver, lab dir ${settings.labDir}); left running at the end`);
      } else {
        log(`lab: started in ${Math.round(up.readyMs)} ms (lab dir ${settings.labDir}); ${opts.keepLab ? "left running (--keep-lab)" : "stopped at the end"}`);
        if (!opts.keepLab) scope.defer("lab", () => lab.down());
      }
      const target = await targetFrom(opts, { needsEvidence: true });
      scope.defer("target", () => target.close());
      const outcome = await runSimulation({
        target,
        knobs,
        runDir,
        events,
        signal: scope.signal,
        sippBin: sipp,
        scenario: assetPath("sipp", "uac-call.xml"),
        faults,
        injectFault: (f) => injectFault(f, target, settings.labDir),
        apply: async (mode) => {
          const r = await verifiedApply(target, mode, { events, signal: scope.signal, command: "pbx-cutover sim" });
          return { durationMs: r.timings.totalMs, runtime: r.runtime.map((d) => d.uri) };
        },
      });
      const r = outcome.results;
      resultPhase = true;
      const rel = path.relative(process.cwd(), runDir) || runDir;
      const seconds = (ms: number): string => (ms / 1000).toFixed(1);
      log("== result");
      log(`wall time ${seconds(r.durationMs)} s, floor ${seconds(r.floorMs)} s (the call time the knobs impose), overhead ${seconds(r.durationMs - r.floorMs)} s`);
      log(`evidence: ${rel} (results.json, junit.xml, <phase>.assertions.txt, message logs)`);
      const notPassed = r.verdicts.filter((a) => a.verdict !== "pass");
      if (notPassed.length === 0) {
        log(`PASS: all ${r.verdicts.length} assertions passed (old, both, new, in-flight cutover)`);
      } else {
        log(`FAIL: ${notPassed.length} of ${r.verdicts.length} assertions did not pass:`);
        // the failing assertions and their numbers are the last lines printed
        for (const a of notPassed) {
          log(failureLine(a));
          for (const off of a.offenders) log(`    ${off}`);
        }
      }
      return outcome.exitCode;
    });
    process.exitCode = exitCode;
  });
}
