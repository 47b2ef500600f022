import type { Command } from "commander";
import path from "node:path";
import { UsageError } from "../core/errors.js";
import { parseHepForward } from "../hep/forward-target.js";
import { CAPTURE_MAX_MB_HELP, parseCaptureMaxMb } from "../hep/capture.js";
import { resolveEvidence } from "../sim/evidence-mode.js";
import { KNOBS, resolveKnobs } from "../sim/knobs.js";
import { simPlan } from "../sim/sim-plan.js";
import { planWithMediaGates } from "../plan/plan.js";
import type { SimRequest } from "../sim/session.js";
import { parseTestFaults, TEST_FAULT_ENV } from "../sim/test-faults.js";
import { addWebOptions, webAddressFrom, type WebFlags } from "../web/web-address.js";
import { driverFor } from "../drivers/select.js";
import { planFrom } from "./commands/plan.js";
import { addDriverOptions, targetChoiceFrom, type TargetFlags } from "./target-options.js";
import { addLabOptions } from "./lab-options.js";

/** The flags of `sim` and `dashboard`, resolved once into a `SimRequest` (src/sim/session.ts). */
export type SimOpts = TargetFlags &
  WebFlags & {
    artifactsDir?: string;
    keepLab?: boolean;
    quiet?: boolean;
    evidence?: string;
    hepForward?: string;
    captureMaxMb?: string;
    steps?: string;
    plan?: string;
    media?: string;
  } & Record<string, unknown>;

export const DEFAULT_SIM_ARTIFACTS_DIR = "artifacts";

/** The sim's flags (knobs, artifacts, --keep-lab, lab and driver flags) on a command. */
export function addSimOptions(cmd: Command): Command {
  cmd
    .option(
      "--artifacts-dir <dir>",
      `where call-cutover-YYYYmmdd_HHMMSS/ and the \`latest\` link go (default ${DEFAULT_SIM_ARTIFACTS_DIR})`,
    )
    .option(
      "--keep-lab",
      "leave the lab running at the end if this run started it (a lab that was already up is always left up)",
    )
    .option(
      "--evidence <source>",
      "what the verdicts rest on: hep (what Kamailio mirrored, alone), sipp (the stand-ins' logs), both (the logs, cross-checked by HEP call by call: evidence-agrees). Default both in the lab (hep above 500 calls/s: the collector reads every message anyway), falling back to the logs when HEP is unavailable",
    )
    .option(
      "--media <on|off>",
      "calls carry G.711 audio (20 ms packets) both ways and media-both-ways checks each call's packets per direction; off for pure-signalling load. Default on where the backends send audio back (the native lab: SIPp stand-ins and FreeSWITCH echo it)",
    )
    .option(
      "--hep-forward <host:port>",
      "relay every HEP datagram Kamailio mirrors, unchanged, to a Homer or another collector (UDP)",
    )
    .option("--capture-max-mb <mb>", CAPTURE_MAX_MB_HELP)
    .option(
      "--steps <weights>",
      "run weighted steps instead of old,both,new: the new backend's weight per step, e.g. 0,10,50,100 (weights other than 0/50/100 need --dispatcher-alg 9), each with the default gates and a burst of enough calls for them",
    )
    .option(
      "--plan <file>",
      "run a YAML plan file (steps, gates; a step's hold.minCalls is its burst of calls, else CALLS_PER_PHASE)",
    );
  for (const k of KNOBS)
    cmd.option(`${k.flag} <${k.integer ? "n" : "x"}>`, `${k.help} (env ${k.env}, default ${k.def})`);
  return addWebOptions(addDriverOptions(addLabOptions(cmd)));
}

/**
 * Everything a sim run needs, validated before anything starts (exit 2): knobs (env < flags), test
 * faults, --web, the target (flags, config file and running lab read once), --evidence, --hep-forward,
 * the plan's steps (sim-plan.ts).
 */
export function simRequestFrom(opts: SimOpts, env: NodeJS.ProcessEnv = process.env): SimRequest {
  const knobs = resolveKnobs(env, opts);
  const faults = parseTestFaults(env[TEST_FAULT_ENV]);
  const webAddress = webAddressFrom(opts);
  const plan = planFrom(opts);
  const choice = targetChoiceFrom(opts, { needsEvidence: true });
  const driver = driverFor(choice);
  const algorithm = driver.dispatcherAlgorithm;
  if (opts.steps === undefined && opts.plan === undefined && algorithm === 9) {
    throw new UsageError(
      "sim's both phase asserts round-robin's split (each backend within one call of even), which the weight-based dispatcher (algorithm 9) of this lab does not give over a phase's few calls; nothing was started",
      [
        "run sim on a round-robin lab (--dispatcher-alg 4, the default), or weighted steps with `pbx-cutover sim --steps 0,10,50,100`",
      ],
    );
  }
  // a native lab running (or asked to run) real FreeSWITCH: no message logs, HEP is the evidence
  const realPbx = driver.realPbx;
  const evidence = resolveEvidence(opts.evidence, !realPbx, knobs.callRate);
  if (opts.media !== undefined && opts.media !== "on" && opts.media !== "off")
    throw new UsageError(`--media must be on or off, got ${JSON.stringify(opts.media)}; nothing was started`);
  const media = opts.media === undefined ? driver.echoesMedia : opts.media === "on";
  if (media && !driver.echoesMedia)
    throw new UsageError(
      "--media on needs backends that send the caller's audio back (the native lab's SIPp stand-ins or FreeSWITCH); the docker lab's do not yet; nothing was started",
    );
  const forward = opts.hepForward !== undefined ? parseHepForward(opts.hepForward) : undefined;
  const captureMaxMb = opts.captureMaxMb !== undefined ? parseCaptureMaxMb(opts.captureMaxMb) : undefined;
  return {
    knobs,
    faults,
    ...(webAddress ? { webAddress } : {}),
    choice,
    realPbx,
    evidence,
    media,
    ...(forward ? { forward } : {}),
    ...(captureMaxMb !== undefined ? { captureMaxMb } : {}),
    artifactsDir: path.resolve(opts.artifactsDir ?? DEFAULT_SIM_ARTIFACTS_DIR),
    keepLab: opts.keepLab === true,
    quiet: opts.quiet === true,
    // the routing phases are the steps of a plan (the seed's by default), run by the plan runner; a
    // plan's steps (--steps, --plan) with audio on are gated on it as migrate's are
    plan: simPlan(
      opts.steps === undefined && opts.plan === undefined
        ? plan
        : planWithMediaGates(plan, media, "give the calls audio: --media on (the default on the native lab)"),
      knobs.callsPerPhase,
      algorithm,
    ),
  };
}
