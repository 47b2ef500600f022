import type { Command } from "commander";
import path from "node:path";
import { runMigrate } from "../../cutover/migrate.js";
import type { TrafficSettings } from "../../cutover/traffic-run.js";
import { defaultPlan } from "../../plan/plan.js";
import { planFrom, printDryRun } from "./plan.js";
import { targetChoiceFrom } from "../target-options.js";
import { UsageError, VerificationError } from "../../core/errors.js";
import type { LabSettings } from "../../config/lab-config.js";
import { requireFusionpbxPrograms } from "../../lab/fusionpbx/instance.js";
import { labParity } from "../../lab/fusionpbx/parity-read.js";
import { pgConnOf } from "../../lab/fusionpbx/pg-client.js";
import { formatParity } from "../../verify/fusionpbx-parity.js";
import { withScope } from "../../core/scope.js";
import { assetPath } from "../../core/assets.js";
import { parseTrafficRate } from "../../cutover/background-traffic.js";
import { probeRequest } from "../../cutover/probe-calls.js";
import { localAddressTowards } from "../../os/ports.js";
import { CAPTURE_MAX_MB_HELP, parseCaptureMaxMb } from "../../hep/capture.js";
import { parseHepForward, type HepForwardTarget } from "../../hep/forward-target.js";
import { driverFor } from "../../drivers/select.js";
import { requireBinaries } from "../../lab/binaries.js";
import { startLiveServer } from "../../run/session.js";
import { takeFleetLock, TAKE_OVER_FLAG, TAKE_OVER_HELP } from "../fleet-dispatch.js";
import { addWebOptions, webAddressFrom, type WebFlags } from "../../web/web-address.js";
import {
  addDispatcherOptions,
  dispatcherFleet,
  dispatcherTarget,
  reloadWaitMs,
  type DispatcherCommandOpts,
} from "../dispatcher-options.js";

type MigrateOpts = DispatcherCommandOpts &
  WebFlags & {
    artifactsDir?: string;
    keepLab?: boolean;
    steps?: string;
    plan?: string;
    dryRun?: boolean;
    traffic?: string;
    media?: string;
    probe?: string;
    probeUri?: string;
    captureMaxMb?: string;
    hepForward?: string;
    drainTimeout?: string;
    takeOverStaleLock?: boolean;
  };

const MAX_DRAIN_S = 7 * 86_400;

/** --drain-timeout: seconds (fractions allowed) from 0 to 7 days; UsageError naming the flag. */
export function drainTimeoutMs(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const t = raw.trim();
  const n = Number(t);
  if (!/^\d*\.?\d+$/.test(t) || !Number.isFinite(n) || n > MAX_DRAIN_S) {
    throw new UsageError(
      `--drain-timeout ${JSON.stringify(raw)}: must be a number of seconds from 0 to ${MAX_DRAIN_S} (7 days); nothing was started`,
    );
  }
  return Math.round(n * 1000);
}

export function registerMigrateCommand(program: Command): void {
  migrateOptions(program).action(migrateAction);
}

function migrateOptions(program: Command): Command {
  return addWebOptions(
    addDispatcherOptions(
      program
        .command("migrate")
        .summary("cut routing over step by step: gates, automatic rollback, drain, operator control")
        .description(
          "cut routing over from old to new by a plan (default old -> both -> new; weighted steps with --steps or " +
            "--plan), each step a verified apply and a hold (by time, or with --traffic by live calls whose gates roll " +
            "back to the last good step on a fail); starts the lab if needed, probes both backends, checks the final " +
            "state, reports the old backend's calls still up (--drain-timeout waits for them); status, pause, resume, " +
            "promote and abort reach it from another terminal (replaces the legacy lab's run_real_migration_smoke.sh)",
        )
        .option("--artifacts-dir <dir>", "where run-YYYYmmdd_HHMMSS/ folders and the `latest` link go", "artifacts")
        .option(
          "--keep-lab",
          "leave the lab running at the end if this run started it (a lab that was already up is always left up)",
        )
        .option(
          "--steps <weights>",
          "run weighted steps: the new backend's weight per step, e.g. 0,10,50,100 (weights other than 0/50/100 need --dispatcher-alg 9)",
        )
        .option(
          "--plan <file>",
          "run a YAML or JSON plan file (steps, holds, gates; docs/cutover.md); without --traffic steps hold by time only",
        )
        .option(
          "--traffic <rate>",
          "lab only: background calls at RATE calls/s through Kamailio for the whole plan, judged from HEP; each step holds until its gates and split can decide, a failed gate rolls back by itself",
        )
        .option(
          "--media <on|off>",
          "with --traffic: the calls carry G.711 audio both ways (1 s calls), the caller's RTP is captured (media.pcap) and every step also gets the media gates (one-way calls of new <= 0, RTP loss of new not worse than old's by more than 1 point); off for pure-signalling calls (100 ms). Default on where the backends send audio back (the native lab)",
        )
        .option(
          "--probe <rate>",
          "target only: the tool's own calls at RATE calls/s through the node (SIPp; a fleet: through every node, RATE each, counted per node), dialing --probe-uri; labelled by their Call-ID and counted apart from the users' calls (a step without user calls is judged on them)",
        )
        .option(
          "--probe-uri <uri>",
          "with --probe: what the probe calls dial, sip:USER@NODE-ADDRESS[:PORT] (the node's own SIP address; a fleet: any of its nodes', USER is dialed at each node)",
        )
        .option("--capture-max-mb <mb>", `with --traffic or a target's mirrored calls: ${CAPTURE_MAX_MB_HELP}`)
        .option(
          "--hep-forward <host:port>",
          "with --traffic or a target's mirrored calls: relay every HEP datagram the run's collector receives (on a fleet every node's), unchanged, to a Homer or another collector (UDP)",
        )
        .option(
          "--drain-timeout <s>",
          "after a last step of 100 (new only): wait up to this many seconds for the old backend's calls to end (Kamailio's dialog profile); " +
            "calls still up then fail the run (exit 1) naming each with its age. 0 (default): one look, the calls left are reported, not waited for",
        )
        .option(TAKE_OVER_FLAG, TAKE_OVER_HELP)
        .option(
          "--dry-run",
          "print the plan (default: old -> both -> new), every list it would write and every RPC; change nothing",
        ),
    ),
  );
}

type MigrateDriver = ReturnType<typeof driverFor>;

/** Every flag checked, with the target chosen, before anything starts (exit 2). */
function migrateFlags(opts: MigrateOpts) {
  const planned = opts.steps !== undefined || opts.plan !== undefined ? planFrom(opts) : undefined;
  const drainMs = drainTimeoutMs(opts.drainTimeout);
  const lastWeight = (planned ?? defaultPlan()).steps.at(-1)!.weightNew;
  if (drainMs > 0 && lastWeight !== 100) {
    throw new UsageError(
      `--drain-timeout: the plan's last step is new=${lastWeight}%, which still sends calls to old, so old never drains; nothing was started`,
      ["end the plan with 100, or leave --drain-timeout out"],
    );
  }
  const rate = opts.traffic === undefined ? undefined : parseTrafficRate(opts.traffic);
  const captureMaxMb = opts.captureMaxMb === undefined ? undefined : parseCaptureMaxMb(opts.captureMaxMb);
  // the flags, the config file and the running lab, resolved once for the whole command
  const choice = targetChoiceFrom(opts);
  const driver = driverFor(choice);
  if (rate !== undefined && !driver.placesTraffic) {
    throw new UsageError(
      `--traffic places calls through the native lab's Kamailio only, not on ${driver.where}; nothing was started`,
      [
        driver.mirroredCalls
          ? "drop --traffic: the plan's gates judge the real calls the node mirrors"
          : "drop --traffic (real traffic is judged by the plan's holds), or run on the native lab",
      ],
    );
  }
  if (opts.media !== undefined && opts.media !== "on" && opts.media !== "off")
    throw new UsageError(`--media must be on or off, got ${JSON.stringify(opts.media)}; nothing was started`);
  if (opts.media === "on" && (rate === undefined || !driver.echoesMedia))
    throw new UsageError(
      rate === undefined
        ? "--media on: migrate places calls (with or without audio) only with --traffic RATE; nothing was started"
        : "--media on needs backends that send the caller's audio back (the native lab's SIPp stand-ins or FreeSWITCH); nothing was started",
    );
  const media = rate !== undefined && (opts.media === undefined ? driver.echoesMedia : opts.media === "on");
  if ((opts.probe !== undefined || opts.probeUri !== undefined) && !driver.mirroredCalls) {
    throw new UsageError(
      `--probe places calls through a target's node (--target FILE), not on ${driver.where}; nothing was started`,
      ["on the lab, --traffic RATE places the calls"],
    );
  }
  const forward = opts.hepForward === undefined ? undefined : parseHepForward(opts.hepForward);
  if (forward && rate === undefined && !driver.mirroredCalls)
    throw new UsageError(
      `--hep-forward relays what the run's HEP collector receives, and on ${driver.where} without --traffic there is none; nothing was started`,
      ["add --traffic RATE on the lab, or name hep.collector in the target file"],
    );
  return { planned, drainMs, rate, captureMaxMb, media, choice, driver, forward };
}

async function migrateAction(opts: MigrateOpts): Promise<void> {
  const { planned, drainMs, rate, captureMaxMb, media, choice, driver, forward } = migrateFlags(opts);
  const webAddress = webAddressFrom(opts);
  if (opts.dryRun && webAddress)
    throw new UsageError("--web with --dry-run: a dry run changes nothing and runs no step to watch; drop one of them");
  if (opts.dryRun) {
    await printDryRun(opts, choice, planned ?? defaultPlan(), false);
    return;
  }
  if (planned?.requires?.includes("fusionpbx-parity")) {
    await requireFusionpbxParity(choice.settings);
    process.stdout.write("migrate: required FusionPBX parity holds: old and new hold the same configuration\n");
  }
  const plan = planned === undefined ? undefined : { plan: planned, algorithm: driver.dispatcherAlgorithm };
  const settings = choice.settings;
  const waitMs = reloadWaitMs(settings, opts.reloadWaitMs);
  const traffic = trafficSettings(rate, media, captureMaxMb, forward, settings, driver);
  const lab = driver.lab();
  // a target file naming several nodes: every node, the first one the run's target
  const fleet = await dispatcherFleet(opts, choice);
  const target = fleet ? fleet[0]!.target : await dispatcherTarget(opts, choice);
  // the probe calls go through every node (a single target: name "")
  const nodes = fleet ?? [{ name: "", target }];
  try {
    const probe = probeRequest(
      opts.probe,
      opts.probeUri,
      nodes.map((n) => ({
        // a target's RPC endpoint names its node first ("node kam1 (https://...)")
        name: /^node \S+/.exec(n.target.rpc.endpoint)?.[0] ?? "the target's node",
        ...n.target.proxy,
      })),
    );
    if (probe && traffic) {
      traffic.probe = {
        ...probe,
        sippBin: requireBinaries(["sipp"]).sipp,
        scenario: assetPath("sipp", "uac-call.xml"),
        via: await Promise.all(
          nodes.map(async (n) => ({
            name: n.name,
            localAddress: await localAddressTowards(n.target.proxy.address, n.target.proxy.port),
          })),
        ),
      };
    }
    const log = (line: string): void => {
      process.stdout.write(`migrate: ${line}\n`);
    };
    const r = await withScope(async (scope) => {
      // --web: listening before anything else starts (a port in use is exit 3 with nothing started or changed)
      const web = await startLiveServer(scope, webAddress);
      // a fleet: no other run anywhere on these nodes while this one runs (exit 3 naming the holder)
      if (fleet) {
        const lock = await takeFleetLock(fleet, choice, {
          command: "pbx-cutover migrate",
          takeOverStale: opts.takeOverStaleLock === true,
          log,
        });
        scope.defer("fleet lock", () => lock.release());
      }
      return runMigrate(
        lab,
        target,
        {
          artifactsDir: path.resolve(opts.artifactsDir ?? "artifacts"),
          keepLab: opts.keepLab === true,
          reloadWaitMs: waitMs,
          log,
          plan,
          traffic,
          drainTimeoutMs: drainMs,
          restartWatchMs: driver.restartWatchMs,
          web,
          fleet,
        },
        scope,
      );
    });
    const last = r.steps.at(-1)?.label ?? "new";
    log(
      `PASS: ${plan === undefined || last === "new" ? "cutover complete, new only in file and runtime" : `plan complete, ${last} in file and runtime`}; evidence in ${path.relative(process.cwd(), r.runDir) || r.runDir}`,
    );
  } finally {
    // every node's connection, whatever ended the run (a missing sipp, a probe URI naming no node, a fault)
    for (const t of nodes.map((n) => n.target)) t.close();
  }
}

/** The steps are judged on the tool's own calls (--traffic), or on the real calls a target mirrors. */
function trafficSettings(
  rate: number | undefined,
  media: boolean,
  captureMaxMb: number | undefined,
  forward: HepForwardTarget | undefined,
  settings: LabSettings,
  driver: MigrateDriver,
): TrafficSettings | undefined {
  const capture = { ...(captureMaxMb !== undefined ? { captureMaxMb } : {}), ...(forward ? { forward } : {}) };
  if (rate !== undefined)
    return {
      calls: {
        rate,
        sippBin: requireBinaries(["sipp"]).sipp,
        scenario: assetPath("sipp", "uac-call.xml"),
        ...(media
          ? {
              media: {
                dumpcapBin: requireBinaries(["dumpcap"]).dumpcap,
                ...(driver.mediaRelay ? { relay: driver.mediaRelay } : {}),
                ...(driver.realPbx ? { pbx: settings } : {}),
              },
            }
          : {}),
      },
      hep: { address: settings.hep.address, port: settings.hep.port },
      ...capture,
    };
  return driver.mirroredCalls ? { hep: driver.mirroredCalls, ...capture } : undefined;
}

/** A plan's `requires: [fusionpbx-parity]`: the lab's two FusionPBX compared before any step; a difference is exit 1, nothing changed. */
async function requireFusionpbxParity(settings: LabSettings): Promise<void> {
  if (!settings.fusionpbx.enabled) {
    throw new UsageError(
      "the plan requires fusionpbx-parity, which needs the native lab serving FusionPBX (lab up --backends freeswitch --fusionpbx); nothing was changed",
    );
  }
  const programs = requireFusionpbxPrograms(settings)!;
  const r = await labParity(pgConnOf(settings, programs.pgBin), programs.trees);
  if (!r.ok) {
    throw new VerificationError(
      "the plan requires fusionpbx-parity and old and new FusionPBX differ; no step was run, nothing was changed",
      formatParity(r).split("\n"),
    );
  }
}
