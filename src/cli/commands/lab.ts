import { Command } from "commander";
import path from "node:path";
import { ExitCode } from "../../core/exit-codes.js";
import { addLabOptions, labSettingsFrom } from "../lab-options.js";
import { withScope } from "../../core/scope.js";
import { labDown, labStatus, labUp, type LabStatus } from "../../lab/native-lab.js";
import type { LabFlags } from "../../config/lab-config.js";
import { componentProto } from "../../lab/layout.js";
import type { DriverFlags, DriverName } from "../../drivers/driver.js";
import { driverOf } from "../../drivers/select.js";
import { addDriverOptions } from "../target-options.js";
import { dockerDownCommand, dockerStatusCommand, dockerUpCommand } from "./lab-docker.js";
import { UsageError } from "../../core/errors.js";
import { kamailioMirrors } from "../../hep/capture.js";
import { hepView } from "../../hep/evidence-source.js";
import {
  DEFAULT_RATE_WINDOW_MS,
  formatRateSample,
  parseRateWindow,
  sampleRates,
  type RateSample,
} from "../../hep/rate-snapshot.js";
import { labPaths } from "../../config/lab-paths.js";
import { readLabState } from "../../lab/state.js";
import { nativeTarget } from "../../lab/native-target.js";
import { credentialsPath, DEFAULT_SEED } from "../../lab/fusionpbx/installer.js";
import { existsSync, statSync } from "node:fs";

type LabOpts = LabFlags & DriverFlags & { config?: string; json?: boolean; fusionpbxSeed?: string | boolean };
type LabStatusOpts = LabOpts & { rates?: string | boolean };

export function formatStatus(st: LabStatus): string {
  if (st.components.length === 0)
    return [`lab is not running (lab dir ${st.labDir})`, ...st.problems.map((p) => `problem: ${p}`)].join("\n");
  const rows = [
    ["ROLE", "ADDRESS", "PID", "STATE", "VERSION"],
    ...st.components.map((c) => [c.role, c.address, String(c.pid), c.state, c.version]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
  const d = st.dispatcher;
  const mode =
    d.mode === "unavailable"
      ? `dispatcher mode: unavailable (${d.error ?? "Kamailio RPC not answering"})`
      : `dispatcher mode: ${d.mode} (runtime: ${d.destinations.join(", ") || "no destinations"})`;
  const calls =
    st.activeCalls.old !== undefined
      ? `active calls: old ${st.activeCalls.old}, new ${st.activeCalls.new ?? 0}`
      : undefined;
  const channels =
    st.pbxChannels !== undefined
      ? `FreeSWITCH channels (show channels count): old ${st.pbxChannels.old ?? "?"}, new ${st.pbxChannels.new ?? "?"}`
      : undefined;
  return [
    ...table,
    mode,
    ...(calls ? [calls] : []),
    ...(channels ? [channels] : []),
    `lab dir: ${st.labDir}`,
    ...st.problems.map((p) => `problem: ${p}`),
  ].join("\n");
}

/** `lab status --rates`: the running lab's own settings (its state file) say where Kamailio mirrors and who is who. */
async function labRates(labDir: string, running: boolean, windowMs: number): Promise<RateSample> {
  const state = running ? readLabState(labPaths(labDir)) : undefined;
  if (!state) return { kind: "not-sampled", reason: "the lab is not running" };
  const s = state.settings;
  const t = nativeTarget(s);
  try {
    const mirroring = await kamailioMirrors(t.rpc);
    if (mirroring !== true) {
      return {
        kind: "not-sampled",
        reason:
          mirroring === undefined
            ? "Kamailio did not answer siptrace.status"
            : "Kamailio's mirroring is off (`siptrace.status on` switches it on; lab setting hep.mirror)",
      };
    }
  } finally {
    t.close();
  }
  const at = (e: { address: string; port: number }): string => `${e.address}:${e.port}`;
  const view = hepView([at(t.proxy)], { old: at(t.backends.old), new: at(t.backends.new) });
  return sampleRates({ address: s.hep.address, port: s.hep.port, view, windowMs });
}

/** `--fusionpbx-seed [file]`: the file (default the project's data set), checked before anything starts (exit 2). */
function seedFileFrom(v: string | boolean | undefined, fusionpbx: boolean): string | undefined {
  if (v === undefined || v === false) return undefined;
  if (!fusionpbx) throw new UsageError("--fusionpbx-seed needs --fusionpbx; nothing was started");
  const file = v === true ? DEFAULT_SEED : path.resolve(v);
  if (!existsSync(file) || !statSync(file).isFile())
    throw new UsageError(`--fusionpbx-seed: ${file} is not a file; nothing was started`);
  return file;
}

async function nativeUp(opts: LabOpts): Promise<void> {
  const settings = labSettingsFrom(opts);
  const fusionpbxSeed = seedFileFrom(opts.fusionpbxSeed, settings.fusionpbx.enabled);
  const say = opts.json ? undefined : (line: string): void => void process.stdout.write(`${line}\n`);
  const r = await withScope((scope) =>
    labUp(settings, scope, {
      frozen: "refuse",
      ...(say ? { say } : {}),
      ...(fusionpbxSeed ? { fusionpbxSeed } : {}),
    }),
  );
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({ ...r.state, alreadyRunning: r.alreadyRunning, readyMs: r.readyMs }, null, 2) + "\n",
    );
    return;
  }
  if (r.alreadyRunning) {
    process.stdout.write(
      `lab already running (backends ${r.state.settings.backends}, lab dir ${path.relative(process.cwd(), settings.labDir) || "."})\n`,
    );
  } else {
    if (r.replacedDead) {
      process.stdout.write(
        `previous lab had dead components (${r.replacedDead.join(", ")}); stopped the rest and started afresh\n`,
      );
    }
    for (const c of r.state.components) {
      process.stdout.write(
        `started ${c.role.padEnd(8)} ${c.address}:${c.port}/${componentProto(c.role)}  pid ${c.pid}\n`,
      );
    }
    for (const f of r.fusionpbx?.slots ?? []) {
      process.stdout.write(
        `FusionPBX ${f.role} ${f.version} ${f.how} in ${(f.ms / 1000).toFixed(1)} s (database ${f.database}, domain ${f.domain}); ` +
          `admin login reaches the dashboard\n`,
      );
    }
    const seed = r.fusionpbx?.seed;
    if (seed)
      process.stdout.write(`FusionPBX old: data set ${seed.file} ${seed.how} (${(seed.ms / 1000).toFixed(1)} s)\n`);
    if (r.fusionpbx) process.stdout.write(`FusionPBX admin credentials: ${credentialsPath(settings.labDir)} (0600)\n`);
    process.stdout.write(
      `lab ready in ${Math.round(r.readyMs)} ms: JSON-RPC http://${settings.kamailio.address}:${settings.kamailio.rpcPort}/RPC, ` +
        `dispatcher profile old; lab dir ${settings.labDir}\n`,
    );
  }
}

async function nativeDown(opts: LabOpts): Promise<void> {
  const settings = labSettingsFrom(opts, { runningLab: "ignore" });
  const r = await withScope(() => labDown(settings.labDir));
  if (r.corruptStateMovedTo)
    process.stdout.write(`the lab state file was corrupt; moved aside to ${r.corruptStateMovedTo}\n`);
  if (!r.wasRunning) {
    process.stdout.write(`lab is not running (lab dir ${settings.labDir}); nothing to stop\n`);
    return;
  }
  if (r.foundByCommandLine)
    process.stdout.write(
      `lab state missing or incomplete; found this lab's processes by their command line (naming ${settings.labDir})\n`,
    );
  for (const s of r.stopped) process.stdout.write(`stopped ${s.role.padEnd(8)} pid ${s.pid}: ${s.result}\n`);
  for (const n of r.notOurs) process.stdout.write(`warning: ${n}: not ours, never signalled\n`);
  process.stdout.write("lab down\n");
}

async function nativeStatus(opts: LabStatusOpts): Promise<void> {
  const windowMs = parseRateWindow(opts.rates);
  const settings = labSettingsFrom(opts, { runningLab: "ignore" });
  const st = await labStatus(settings.labDir);
  const rates = windowMs === undefined ? undefined : await labRates(settings.labDir, st.running, windowMs);
  if (opts.json) {
    process.stdout.write(JSON.stringify(rates ? { ...st, rates } : st, null, 2) + "\n");
  } else {
    process.stdout.write([formatStatus(st), ...(rates ? formatRateSample(rates) : [])].join("\n") + "\n");
  }
  if (!st.running || (rates !== undefined && rates.kind !== "sampled")) process.exitCode = ExitCode.Environment;
}

async function dockerStatus(opts: LabStatusOpts): Promise<void> {
  if (opts.rates !== undefined)
    throw new UsageError(
      "--rates: the docker lab's Kamailio does not mirror to this machine's loopback; nothing was sampled",
    );
  return dockerStatusCommand(opts);
}

interface LabCommands {
  up(opts: LabOpts): Promise<void>;
  down(opts: LabOpts): Promise<void>;
  status(opts: LabStatusOpts): Promise<void>;
}

/** How each driver's lab is started, stopped and shown (the docker driver's in lab-docker.ts). */
const LAB_COMMANDS: Record<DriverName, LabCommands> = {
  native: { up: nativeUp, down: nativeDown, status: nativeStatus },
  docker: { up: dockerUpCommand, down: dockerDownCommand, status: dockerStatus },
  production: { up: notALab, down: notALab, status: notALab },
};

function notALab(): Promise<void> {
  return Promise.reject(
    new UsageError(
      "a target file's Kamailio is not a lab: pbx-cutover never starts or stops it; `pbx-cutover target check --target FILE` looks at it",
    ),
  );
}

function labCommandsOf(opts: DriverFlags): LabCommands {
  return LAB_COMMANDS[driverOf(opts).name];
}

export function registerLabCommand(program: Command): void {
  const lab = program
    .command("lab")
    .summary("start, stop and inspect a lab: Kamailio with SIPp stand-ins or real FreeSWITCH/FusionPBX")
    .description(
      "start, stop and inspect a lab: Kamailio in front of an old and a new backend on loopback, played by SIPp " +
        "stand-ins (--backends sipp, the default) or by real FreeSWITCH 1.10.3 and 1.10.12 (--backends freeswitch; " +
        "--fusionpbx adds FusionPBX 5.3.0 and 5.5.7 with a PostgreSQL); --driver docker runs the Docker lab instead",
    )
    .addHelpText(
      "after",
      "\nEach subcommand takes the lab flags (see `pbx-cutover lab up --help`).\n" +
        "Binaries are found on PATH, then /usr/sbin; override with PBX_CUTOVER_KAMAILIO, PBX_CUTOVER_KAMCMD,\n" +
        "PBX_CUTOVER_SIPP. A config file (--config FILE or PBX_CUTOVER_CONFIG) may hold the same settings in\n" +
        'its "lab" section: {"lab": {"labDir": ".lab", "kamailio": {"sipPort": 15060, "shmMb": 256}, "old": {"port": 15070}}}.\n' +
        "Flags win over the config file, the config file over the defaults.",
    );

  addDriverOptions(
    addLabOptions(
      lab
        .command("up")
        .summary("start the lab; returns when every component answers")
        .description(
          "start Kamailio and both backends (and FusionPBX with its PostgreSQL, with --fusionpbx); returns when each " +
            "answers (Kamailio's JSON-RPC, SIP OPTIONS, FreeSWITCH's event socket, FusionPBX's page). A lab that " +
            "runs already is left as it is",
        )
        .option("--json", "print the lab state as JSON")
        .option(
          "--fusionpbx-seed [sql-file]",
          "--fusionpbx: load a data set into the old FusionPBX once installed (default: the project's, " +
            "assets/fusionpbx/seed-5.3.0.sql: two domains, extensions with voicemail, a gateway, routes, a ring group, an IVR); once per lab dir",
        ),
    ),
  ).action((opts: LabOpts) => labCommandsOf(opts).up(opts));

  addDriverOptions(
    addLabOptions(
      lab
        .command("down")
        .summary("stop everything the lab started; idempotent")
        .description(
          "stop everything the lab started (whole process groups; found by their command line when lab.json is " +
            "gone; a process that is not the lab's is never signalled); idempotent",
        ),
    ),
  ).action((opts: LabOpts) => labCommandsOf(opts).down(opts));

  addDriverOptions(
    addLabOptions(
      lab
        .command("status")
        .summary("each component's state, the runtime dispatcher mode, active calls")
        .description(
          "each component (role, address, pid, state: alive, dead, frozen, unhealthy or not ours; version), the " +
            "dispatcher mode read from Kamailio's runtime and the active calls per backend; exit 3 unless all are alive",
        )
        .option("--json", "machine-readable output")
        .option(
          "--rates [window]",
          `also sample live per-backend rates from Kamailio's HEP mirror for a window (e.g. 2s, 500ms; default ${DEFAULT_RATE_WINDOW_MS / 1000}s): ` +
            "new calls routed and answers to INVITE by class, per second. Binds the lab's HEP port, so not while a sim or dashboard holds it (exit 3, saying who does)",
        ),
    ),
  ).action((opts: LabStatusOpts) => labCommandsOf(opts).status(opts));
}
