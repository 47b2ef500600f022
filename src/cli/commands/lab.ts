import { Command } from "commander";
import path from "node:path";
import { ExitCode } from "../exit-codes.js";
import { addLabOptions, labSettingsFrom } from "../lab-options.js";
import { withScope } from "../scope.js";
import { labDown, labStatus, labUp, type LabStatus } from "../../lab/native-lab.js";
import type { LabFlags } from "../../config/lab-config.js";
import { addDriverOptions, driverFrom, type DriverFlags } from "../../lab/driver.js";
import { dockerDownCommand, dockerStatusCommand, dockerUpCommand } from "./lab-docker.js";

type LabOpts = LabFlags & DriverFlags & { config?: string; json?: boolean };

export function formatStatus(st: LabStatus): string {
  if (st.components.length === 0) return [`lab is not running (lab dir ${st.labDir})`, ...st.problems.map((p) => `problem: ${p}`)].join("\n");
  const rows = [
    ["ROLE", "ADDRESS", "PID", "STATE", "VERSION"],
    ...st.components.map((c) => [c.role, c.address, String(c.pid), c.state, c.version]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
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
  return [...table, mode, ...(calls ? [calls] : []), ...(channels ? [channels] : []), `lab dir: ${st.labDir}`, ...st.problems.map((p) => `problem: ${p}`)].join("\n");
}

export function registerLabCommand(program: Command): void {
  const lab = program
    .command("lab")
    .description("start, stop and inspect the native lab (Kamailio + old and new SIPp backends on loopback)")
    .addHelpText(
      "after",
      "\nEach subcommand takes the lab flags (see `pbx-cutover lab up --help`).\n" +
        "Binaries are found on PATH, then /usr/sbin; override with PBX_CUTOVER_KAMAILIO, PBX_CUTOVER_KAMCMD,\n" +
        "PBX_CUTOVER_SIPP. A config file (--config FILE or PBX_CUTOVER_CONFIG) may hold the same settings in\n" +
        'its "lab" section: {"lab": {"labDir": ".lab", "kamailio": {"sipPort": 15060, "shmMb": 256}, "old": {"port": 15070}}}.\n' +
        "Flags win over the config file, the config file over the defaults.",
    );

  addDriverOptions(addLabOptions(
    lab
      .command("up")
      .description("start Kamailio and both backends; returns when all answer (RPC, SIP OPTIONS)")
      .option("--json", "print the lab state as JSON"),
  )).action(async (opts: LabOpts) => {
    if (driverFrom(opts) === "docker") return dockerUpCommand(opts);
    const settings = labSettingsFrom(opts);
    const r = await withScope((scope) => labUp(settings, scope));
    if (opts.json) {
      process.stdout.write(JSON.stringify({ ...r.state, alreadyRunning: r.alreadyRunning, readyMs: r.readyMs }, null, 2) + "\n");
      return;
    }
    if (r.alreadyRunning) {
      process.stdout.write(
        `lab already running (backends ${r.state.settings.backends}, lab dir ${path.relative(process.cwd(), settings.labDir) || "."})\n`,
      );
    } else {
      if (r.replacedDead) {
        process.stdout.write(`previous lab had dead components (${r.replacedDead.join(", ")}); stopped the rest and started afresh\n`);
      }
      for (const c of r.state.components) {
        process.stdout.write(`started ${c.role.padEnd(8)} ${c.address}:${c.port}/udp  pid ${c.pid}\n`);
      }
      process.stdout.write(
        `lab ready in ${Math.round(r.readyMs)} ms: JSON-RPC http://${settings.kamailio.address}:${settings.kamailio.rpcPort}/RPC, ` +
          `dispatcher profile old; lab dir ${settings.labDir}\n`,
      );
    }
  });

  addDriverOptions(addLabOptions(
    lab.command("down").description("stop everything the lab started (whole process groups); idempotent"),
  )).action(async (opts: LabOpts) => {
    if (driverFrom(opts) === "docker") return dockerDownCommand(opts);
    const settings = labSettingsFrom(opts);
    const r = await withScope(() => labDown(settings.labDir));
    if (r.corruptStateMovedTo) process.stdout.write(`the lab state file was corrupt; moved aside to ${r.corruptStateMovedTo}\n`);
    if (!r.wasRunning) {
      process.stdout.write(`lab is not running (lab dir ${settings.labDir}); nothing to stop\n`);
      return;
    }
    if (r.foundByCommandLine) process.stdout.write(`lab state missing or incomplete; found this lab's processes by their command line (naming ${settings.labDir})\n`);
    for (const s of r.stopped) process.stdout.write(`stopped ${s.role.padEnd(8)} pid ${s.pid}: ${s.result}\n`);
    for (const n of r.notOurs) process.stdout.write(`warning: ${n}: not ours, never signalled\n`);
    process.stdout.write("lab down\n");
  });

  addDriverOptions(addLabOptions(
    lab
      .command("status")
      .description("each component (role, address, pid, alive, version) and the runtime dispatcher mode")
      .option("--json", "machine-readable output"),
  )).action(async (opts: LabOpts) => {
    if (driverFrom(opts) === "docker") return dockerStatusCommand(opts);
    const settings = labSettingsFrom(opts);
    const st = await labStatus(settings.labDir);
    process.stdout.write(opts.json ? JSON.stringify(st, null, 2) + "\n" : formatStatus(st) + "\n");
    if (!st.running) process.exitCode = ExitCode.Environment;
  });
}
