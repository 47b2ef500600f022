import path from "node:path";
import type { BackendRole } from "../../core/backend-role.js";

/**
 * One FreeSWITCH instance of the native lab, as data (pure): where its run directory lives, the
 * single freeswitch.xml the tool writes for it, and its argv. No vanilla config is used: only the
 * modules, the one SIP profile, the event socket and the dialplan the lab needs.
 */

export interface FreeswitchInstanceConfig {
  role: BackendRole;
  /** SIP (udp and tcp) listen address and port: the backend's dispatcher destination */
  sipAddress: string;
  sipPort: number;
  /** event socket on loopback */
  eventSocketAddress: string;
  eventSocketPort: number;
  /** generated per lab; it lives in this file (0600) and in the secret file, never in argv or logs */
  eventSocketPassword: string;
  /** who may connect to the event socket (FreeSWITCH ACL name); default loopback.auto. The Docker lab: localnet.auto (its network, where the host is the gateway) */
  eventSocketAcl?: string;
  rtpStart: number;
  rtpEnd: number;
  /** absolute path of FreeSWITCH's own log file */
  logFile: string;
}

/** Paths of one instance under the lab directory (FreeSWITCH's -base and its subdirectories). */
export function freeswitchPaths(labDir: string, role: BackendRole) {
  const base = path.join(labDir, `freeswitch-${role}`);
  const dir = (name: string): string => path.join(base, name);
  return {
    base,
    conf: dir("conf"),
    configFile: path.join(base, "conf", "freeswitch.xml"),
    /** the event-socket password alone (0600), for `lab status` and `verify` */
    secretFile: path.join(base, "event-socket.secret"),
    log: dir("log"),
    logFile: path.join(base, "log", "freeswitch.log"),
    /** stdout/stderr of the process (nearly empty with -nc; crashes end up here) */
    stdout: path.join(base, "stdout.log"),
    certs: dir("certs"),
    /** every directory FreeSWITCH is told about, created before it starts */
    dirs: [
      "conf",
      "log",
      "db",
      "run",
      "cache",
      "temp",
      "storage",
      "recordings",
      "sounds",
      "certs",
      "scripts",
      "grammar",
      "htdocs",
    ].map(dir),
  };
}
export type FreeswitchPaths = ReturnType<typeof freeswitchPaths>;

/**
 * The argv (pure): foreground (-nf), no console (-nc), no NAT discovery (-nonat), and every
 * directory under the lab's run dir (-base first: without it FreeSWITCH creates fonts/ and images/
 * under its compiled-in prefix). Modules come from the installed tree.
 */
export function freeswitchArgv(tree: string, p: FreeswitchPaths): string[] {
  const d = (flag: string, sub: string): string[] => [flag, path.join(p.base, sub)];
  return [
    path.join(tree, "bin", "freeswitch"),
    "-nonat",
    "-nc",
    "-nf",
    "-base",
    p.base,
    ...d("-conf", "conf"),
    ...d("-log", "log"),
    ...d("-db", "db"),
    ...d("-run", "run"),
    ...d("-cache", "cache"),
    ...d("-temp", "temp"),
    "-mod",
    path.join(tree, "mod"),
    ...d("-storage", "storage"),
    ...d("-recordings", "recordings"),
    ...d("-sounds", "sounds"),
    ...d("-certs", "certs"),
    ...d("-scripts", "scripts"),
    ...d("-grammar", "grammar"),
    ...d("-htdocs", "htdocs"),
  ];
}

function xmlAttr(v: string | number): string {
  return String(v).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function params(entries: [string, string | number][], indent: string): string {
  return entries.map(([k, v]) => `${indent}<param name="${xmlAttr(k)}" value="${xmlAttr(v)}"/>`).join("\n");
}

/** The modules the lab loads; all ten shipped modules minus the file formats it never plays. */
export const LAB_MODULES = [
  "mod_console",
  "mod_logfile",
  "mod_event_socket",
  "mod_commands",
  "mod_dptools",
  "mod_dialplan_xml",
  "mod_sofia",
] as const;

/**
 * freeswitch.xml for one instance (pure). SIP profile `lab` on the backend's address and port,
 * no auth, PCMU/PCMA, late negotiation, no NAT parameters (every ext-* is the loopback address);
 * event socket on its own loopback port; RTP in [rtpStart, rtpEnd]; the public context answers
 * every call and echoes the caller's audio back (mod_dptools' echo), so each call carries audio both
 * ways and lasts until the caller's BYE.
 */
export function renderFreeswitchConfig(c: FreeswitchInstanceConfig): string {
  if (!(c.rtpStart > 0 && c.rtpEnd >= c.rtpStart && c.rtpEnd <= 65535)) {
    throw new Error(`invalid RTP range ${c.rtpStart}-${c.rtpEnd}`);
  }
  const i4 = "        ";
  const i6 = "            ";
  return `<?xml version="1.0"?>
<!-- written by pbx-cutover lab up for the ${c.role} backend; rewritten on every start -->
<document type="freeswitch/xml">
  <section name="configuration" description="pbx-cutover lab">
    <configuration name="switch.conf" description="core">
      <settings>
${params(
  [
    ["switchname", `pbx-cutover-${c.role}`],
    ["rtp-start-port", c.rtpStart],
    ["rtp-end-port", c.rtpEnd],
    ["max-sessions", 2000],
    ["sessions-per-second", 2000],
    ["loglevel", "info"],
    ["dump-cores", "no"],
  ],
  i4,
)}
      </settings>
    </configuration>
    <configuration name="modules.conf" description="modules">
      <modules>
${LAB_MODULES.map((m) => `${i4}<load module="${m}"/>`).join("\n")}
      </modules>
    </configuration>
    <configuration name="console.conf" description="console">
      <mappings><map name="all" value="console,debug,info,notice,warning,err,crit,alert"/></mappings>
      <settings><param name="colorize" value="false"/><param name="loglevel" value="info"/></settings>
    </configuration>
    <configuration name="logfile.conf" description="log file">
      <settings><param name="rotate-on-hup" value="true"/></settings>
      <profiles>
        <profile name="default">
          <settings>
${params(
  [
    ["logfile", c.logFile],
    ["rollover", 10485760],
    ["maximum-rotate", 2],
  ],
  i6,
)}
          </settings>
          <mappings><map name="all" value="info,notice,warning,err,crit,alert"/></mappings>
        </profile>
      </profiles>
    </configuration>
    <configuration name="event_socket.conf" description="event socket">
      <settings>
${params(
  [
    ["nat-map", "false"],
    ["listen-ip", c.eventSocketAddress],
    ["listen-port", c.eventSocketPort],
    ["password", c.eventSocketPassword],
    ["apply-inbound-acl", c.eventSocketAcl ?? "loopback.auto"],
  ],
  i4,
)}
      </settings>
    </configuration>
    <configuration name="sofia.conf" description="SIP">
      <global_settings><param name="log-level" value="0"/></global_settings>
      <profiles>
        <profile name="lab">
          <settings>
${params(
  [
    ["sip-ip", c.sipAddress],
    ["sip-port", c.sipPort],
    ["rtp-ip", c.sipAddress],
    ["ext-rtp-ip", c.sipAddress],
    ["ext-sip-ip", c.sipAddress],
    ["context", "public"],
    ["dialplan", "XML"],
    ["auth-calls", "false"],
    ["inbound-late-negotiation", "true"],
    ["inbound-codec-prefs", "PCMU,PCMA"],
    ["outbound-codec-prefs", "PCMU,PCMA"],
    ["manage-presence", "false"],
    ["tls", "false"],
  ],
  i6,
)}
          </settings>
        </profile>
      </profiles>
    </configuration>
  </section>
  <section name="dialplan" description="answer and echo the caller's audio until the caller hangs up">
    <context name="public">
      <extension name="pbx-cutover-answer-and-echo">
        <condition field="destination_number" expression="^.*$">
          <action application="answer"/>
          <action application="echo"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
`;
}
