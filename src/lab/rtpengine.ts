/**
 * The lab's media relay (`lab up --media-relay rtpengine`): Debian's rtpengine in userspace (no kernel
 * module: --table=-1), on the lab's loopback address only, its ng control socket there too, its own
 * config file ignored, as a component native-lab.ts starts, waits for (ng ping) and stops like the others.
 * Kamailio's rtpengine module (kamailio.cfg.tmpl, WITH_RTPENGINE) rewrites every call's SDP through it.
 */
import path from "node:path";
import type { LabSettings } from "../config/lab-config.js";
import type { LabPaths } from "../config/lab-paths.js";
import { ngPing } from "../rtpengine/ng.js";
import type { ComponentSpec } from "./backend-spec.js";

/** how long rtpengine keeps a call after its delete: its counters stay readable (ng query) that long */
export const RELAY_DELETE_DELAY_S = 30;

export function relayLog(p: LabPaths): string {
  return path.join(p.labDir, "rtpengine.log");
}

export function rtpengineArgv(bin: string, s: LabSettings, p: LabPaths): string[] {
  const a = s.kamailio.address;
  const r = s.mediaRelay;
  return [
    bin,
    // its Debian config file (/etc/rtpengine/rtpengine.conf) is not the lab's
    "--config-file=none",
    "--foreground",
    "--log-stderr",
    "--log-level=5",
    // userspace forwarding only: no kernel module, no iptables chain of its own
    "--table=-1",
    `--interface=${a}`,
    `--listen-ng=${a}:${r.ngPort}`,
    `--port-min=${r.rtpStart}`,
    `--port-max=${r.rtpEnd}`,
    `--delete-delay=${RELAY_DELETE_DELAY_S}`,
    "--num-threads=2",
    // names the lab dir on its command line (whose process it is) and keeps its pid beside lab.json
    "--pidfile",
    path.join(p.labDir, "rtpengine.pid"),
  ];
}

/** The relay as a lab component, when the lab has one. */
export function relaySpecs(s: LabSettings, p: LabPaths, bin: string | undefined): ComponentSpec[] {
  if (s.mediaRelay.kind !== "rtpengine" || bin === undefined) return [];
  const ng = { address: s.kamailio.address, port: s.mediaRelay.ngPort };
  return [
    {
      role: "rtpengine",
      comm: "rtpengine",
      argv: rtpengineArgv(bin, s, p),
      log: relayLog(p),
      extraLogs: [],
      label: `rtpengine media relay (ng ${ng.address}:${ng.port}/udp, RTP ${s.mediaRelay.rtpStart}-${s.mediaRelay.rtpEnd})`,
      address: ng.address,
      port: ng.port,
      proto: "udp",
      probeReady: () => ngPing(ng),
    },
  ];
}

/** The ports the relay binds (for the port-in-use check before start): its ng control socket. */
export function relayPorts(s: LabSettings): { proto: "udp"; address: string; port: number }[] {
  return s.mediaRelay.kind === "rtpengine"
    ? [{ proto: "udp", address: s.kamailio.address, port: s.mediaRelay.ngPort }]
    : [];
}
