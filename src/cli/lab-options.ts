import type { Command } from "commander";
import { loadConfigFile, type ConfigFile } from "../config/file.js";
import { resolveLabSettings, type LabFlags, type LabSettings } from "../config/lab-config.js";
import { runningLabIn, type LabState } from "../lab/state.js";

/** Add the lab's flags (every port, address, memory size, worker count) to a command. */
export function addLabOptions(cmd: Command): Command {
  return cmd
    .option("--config <file>", "JSON config file (its `lab` section sets these defaults; env PBX_CUTOVER_CONFIG)")
    .option("--lab-dir <dir>", "lab state directory: pids, logs, sockets, dispatcher list (default .lab)")
    .option("--sip-addr <ip>", "Kamailio SIP listen address, loopback only (default 127.0.0.1)")
    .option("--sip-port <port>", "Kamailio SIP udp port (default 15060)")
    .option("--rpc-port <port>", "Kamailio JSON-RPC http port on the SIP address (default 15061)")
    .option("--old-addr <ip>", "old backend address, loopback only (default 127.0.0.1)")
    .option("--old-port <port>", "old backend udp port (default 15070)")
    .option("--new-addr <ip>", "new backend address, loopback only (default 127.0.0.1)")
    .option("--new-port <port>", "new backend udp port (default 15080)")
    .option(
      "--old-stand-in <how>",
      "backends sipp: how the old stand-in answers: answer (default), 503-one-in-five, slow (180/200 800 ms late), mute (sends no audio back), codec-mismatch (answers PCMA to a PCMU offer), dead-media-address (its SDP names a port nobody listens on)",
    )
    .option(
      "--new-stand-in <how>",
      "backends sipp: how the new stand-in answers: answer (default), 503-one-in-five (every fifth INVITE refused), slow, mute, codec-mismatch, dead-media-address; rehearses a failing gate and the automatic rollback",
    )
    .option(
      "--hep-port <port>",
      "udp port on 127.0.0.1 where Kamailio mirrors every SIP message as HEPv3 (default 15062)",
    )
    .option(
      "--hep-mirror <on|off>",
      "Kamailio mirrors from the start (on, default) or not (off: no mirroring cost; `siptrace.status on` switches it later)",
    )
    .option("--shm-mb <mb>", "Kamailio shared memory in MB (default 256; 64 caps the lab near 400 calls/s)")
    .option("--pkg-mb <mb>", "Kamailio private memory per process in MB (default 8)")
    .option("--children <n>", "Kamailio UDP worker processes (default 2)")
    .option(
      "--reload-delta <s>",
      "dispatcher reload_delta in seconds (default 0 in the lab; Kamailio's own default is 5)",
    )
    .option(
      "--dispatcher-alg <n>",
      "ds_select_dst algorithm in the lab's Kamailio: 4 round-robin (default), 9 weight-based (weighted plan steps)",
    )
    .option(
      "--media-relay <none|rtpengine>",
      "the lab's media relay: none (default: caller and PBX send RTP to each other) or rtpengine (Debian's rtpengine in userspace on loopback; Kamailio's rtpengine_offer/answer/delete put every call's RTP through it, as production relays do)",
    )
    .option(
      "--relay-ng-port <port>",
      "media relay rtpengine: its ng control udp port on the SIP address (default 15064)",
    )
    .option(
      "--relay-ports <lo-hi>",
      "media relay rtpengine: the RTP ports it relays on, 4 per call kept 30 s after its BYE (default 16200-22999)",
    )
    .option("--ready-timeout-ms <ms>", "how long `up` waits for each component to be ready (default 10000)")
    .option(
      "--backends <kind>",
      "what plays the PBXs: sipp (SIPp stand-ins, default) or freeswitch (real FreeSWITCH, old 1.10.3 and new 1.10.12)",
    )
    .option(
      "--old-freeswitch <version|dir>",
      "backends freeswitch: the old slot's FreeSWITCH, an installed version or a tree's path (default 1.10.3)",
    )
    .option("--new-freeswitch <version|dir>", "backends freeswitch: the new slot's FreeSWITCH (default 1.10.12)")
    .option(
      "--old-esl-port <port>",
      "backends freeswitch: old event socket tcp port on the old address (default 15071)",
    )
    .option("--new-esl-port <port>", "backends freeswitch: new event socket tcp port (default 15081)")
    .option("--old-rtp-ports <lo-hi>", "backends freeswitch: old RTP port range (default 16000-16099)")
    .option("--new-rtp-ports <lo-hi>", "backends freeswitch: new RTP port range (default 16100-16199)")
    .option(
      "--fusionpbx",
      "backends freeswitch: also serve FusionPBX (old 5.3.0, new 5.5.7) with PHP, backed by a PostgreSQL in the lab dir",
    )
    .option(
      "--old-fusionpbx <version|dir>",
      "--fusionpbx: the old FusionPBX, an installed version or a source tree's path (default 5.3.0)",
    )
    .option("--new-fusionpbx <version|dir>", "--fusionpbx: the new FusionPBX (default 5.5.7)")
    .option("--old-http-port <port>", "--fusionpbx: old FusionPBX http port on the old address (default 18080)")
    .option("--new-http-port <port>", "--fusionpbx: new FusionPBX http port on the new address (default 18081)")
    .option("--postgres-port <port>", "--fusionpbx: PostgreSQL tcp port on the Kamailio address (default 15432)");
}

/**
 * The lab settings for a command: flags over the config file over, when a native lab is running in
 * the lab dir, that lab's recorded settings (so `lab up --sip-port 25060` then `migrate` talks to
 * port 25060). A flag or config value that contradicts the running lab is exit 2, nothing touched.
 * `runningLab: "ignore"` (lab down, lab status, a driver that does not adopt a running native lab)
 * resolves without looking at the running lab. `file`: the config file when the command has read it
 * already (verify reads its own section too).
 * Commands call this once (directly, or through `targetChoiceFrom`) and pass the settings down.
 */
export function labSettingsFrom(
  opts: LabFlags & { config?: string },
  o: { runningLab?: "adopt" | "ignore"; file?: ConfigFile } = {},
): LabSettings {
  return resolveLab(opts, o).settings;
}

/** `labSettingsFrom`, with the state file of the lab found running (undefined: none runs, or not looked at). */
export function resolveLab(
  opts: LabFlags & { config?: string },
  o: { runningLab?: "adopt" | "ignore"; file?: ConfigFile } = {},
): { settings: LabSettings; running: LabState | undefined } {
  const file = o.file ?? loadConfigFile(opts.config);
  const source = file.path !== undefined ? `config file ${file.path}` : undefined;
  const s = resolveLabSettings(file.lab, opts, process.cwd(), source);
  if (o.runningLab === "ignore") return { settings: s, running: undefined };
  const running = runningLabIn(s.labDir);
  if (running === undefined) return { settings: s, running: undefined };
  return { settings: resolveLabSettings(file.lab, opts, process.cwd(), source, running), running: running.state };
}
