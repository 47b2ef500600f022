import type { LabSettings } from "../config/lab-config.js";
import type { LabPaths } from "../config/lab-paths.js";
import type { BackendRole } from "../core/backend-role.js";

/** FusionPBX's web UI of a slot and the PostgreSQL behind both (`--fusionpbx`) */
export type ServiceRole = "postgres" | "fusionpbx-old" | "fusionpbx-new";
export type ComponentRole = "kamailio" | BackendRole | ServiceRole | "rtpengine";

/** What a component's recorded address:port is: SIP (udp) for Kamailio and the backends, tcp for the services. */
export function componentProto(role: ComponentRole): "udp" | "tcp" {
  return role === "postgres" || role.startsWith("fusionpbx-") ? "tcp" : "udp";
}

/** The SIP URI dispatcher uses for a backend. */
export function backendUri(s: LabSettings, role: BackendRole): string {
  const b = s[role];
  return `sip:${b.address}:${b.port}`;
}

/** The Server header the SIPp stand-ins answer with: honest about not being a PBX. */
export function standInServerHeader(role: BackendRole): string {
  return `SIPp stand-in (pbx-cutover lab ${role} backend; not a PBX)`;
}

/** kamailio argv (pure): foreground, log to stderr, config from the lab directory. */
export function kamailioArgv(bin: string, s: LabSettings, p: LabPaths): string[] {
  return [
    bin,
    "-DD",
    "-E",
    "-f",
    p.kamailioConfig,
    "-m",
    String(s.kamailio.shmMb),
    "-M",
    String(s.kamailio.pkgMb),
    "-Y",
    p.labDir,
    "-w",
    p.labDir,
  ];
}

/** sipp UAS argv (pure): the project's uas-answer scenario, every message logged. */
export function uasArgv(bin: string, scenario: string, s: LabSettings, p: LabPaths, role: BackendRole): string[] {
  const b = s[role];
  const files = p.backend(role);
  return [
    bin,
    "-sf",
    scenario,
    "-i",
    b.address,
    "-p",
    String(b.port),
    // SIPp's remote-control socket (UDP 8888 and up) binds all interfaces unless told: loopback only
    "-ci",
    b.address,
    "-set",
    "server_name",
    standInServerHeader(role),
    // a retransmitted INVITE is one whatever bytes differ besides To, From, Call-ID and CSeq (a copy
    // re-sent through another hop): SIPp answers it again instead of aborting the call, in every state
    "-rtcheck",
    "loose",
    // RTP sent to the media address in its 200 OK goes back to its sender; a mute stand-in sends none
    ...(b.standIn === "mute" ? [] : ["-rtp_echo"]),
    "-trace_msg",
    "-message_file",
    files.messages,
    "-trace_err",
    "-error_file",
    files.errors,
    "-nostdin",
  ];
}
