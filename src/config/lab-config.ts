import path from "node:path";
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { canonicalHost, ipv4AmbiguityProblem } from "../sip/sip-uri.js";
import { cfgStringProblem, MAX_CTL_SOCKET_BYTES } from "../kamailio/config-template.js";
import { labPaths } from "./lab-paths.js";
import { isLoopbackV4 } from "../sip/sip-policy.js";

/** Addresses in their one spelling (127.0.0.01 -> 127.0.0.1), so two spellings are never two endpoints. */
const loopback = z
  .string()
  .refine(isLoopbackV4, {
    message: "must be a loopback IPv4 address (127.0.0.0/8); the lab never sends SIP anywhere else",
  })
  .refine((a) => ipv4AmbiguityProblem(a) === undefined, {
    message: "must not have an octet with leading zeros that reads differently in octal",
  })
  .transform(canonicalHost);
const int = (min: number, max: number) =>
  z
    .number({ error: (i) => `expected number, got ${typeof i.input}` })
    .int({ error: "must be an integer" })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });
const port = int(1, 65535);

/** What plays the PBXs: SIPp stand-ins (fast, load) or the real FreeSWITCH 1.10.3 / 1.10.12. */
export const BACKEND_KINDS = ["sipp", "freeswitch"] as const;
export type BackendsKind = (typeof BACKEND_KINDS)[number];

/** One FreeSWITCH slot of the native lab (used when backends = freeswitch). */
const FreeswitchSlotObject = z
  .object({
    /** "1.10.3" (a tree `make real-services` installed) or the path of a FreeSWITCH tree */
    tree: z.string().min(1),
    /** event socket (tcp) on the backend's address */
    eventSocketPort: port,
    rtpStart: port,
    rtpEnd: port,
  })
  .strict();
const FreeswitchSlotSchema = FreeswitchSlotObject.refine((f) => f.rtpEnd >= f.rtpStart, {
  message: "rtpEnd must not be below rtpStart",
});

export const defaultFreeswitchSlots = {
  old: { tree: "1.10.3", eventSocketPort: 15071, rtpStart: 16000, rtpEnd: 16099 },
  new: { tree: "1.10.12", eventSocketPort: 15081, rtpStart: 16100, rtpEnd: 16199 },
};

/** One FusionPBX web UI of the native lab (used when fusionpbx.enabled, with backends = freeswitch). */
const FusionpbxSlotObject = z
  .object({
    /** "5.3.0" (a tree `make real-services` installed) or the path of a FusionPBX source tree */
    tree: z.string().min(1),
    /** HTTP (tcp) on the backend's address */
    httpPort: port,
  })
  .strict();

/** FusionPBX 5.3.0 (old) and 5.5.7 (new) served over HTTP, backed by one PostgreSQL in the lab dir. */
const FusionpbxObject = z
  .object({
    enabled: z.boolean(),
    /** PostgreSQL (tcp) on the Kamailio address; its unix socket lives in the lab dir */
    postgresPort: port,
    old: FusionpbxSlotObject,
    new: FusionpbxSlotObject,
  })
  .strict();

export const defaultFusionpbx = {
  enabled: false,
  postgresPort: 15432,
  old: { tree: "5.3.0", httpPort: 18080 },
  new: { tree: "5.5.7", httpPort: 18081 },
};

/** where Kamailio mirrors every SIP message as HEPv3 (siptrace): the tool's collector, UDP */
const HepObject = z
  .object({
    address: loopback,
    port,
    /** siptrace's trace_on at start; `siptrace.status on|off` switches it at runtime */
    mirror: z.enum(["on", "off"], { error: "must be on or off" }).default("on"),
  })
  .strict();

export const MEDIA_RELAYS = ["none", "rtpengine"] as const;
export type MediaRelayKind = (typeof MEDIA_RELAYS)[number];

/**
 * The lab's media relay: `none` (the caller and the PBX send RTP to each other) or `rtpengine` (Debian's
 * rtpengine, userspace forwarding on loopback, its ng control on `ngPort`; Kamailio rewrites every
 * SDP with rtpengine_offer/answer so RTP flows through it, ports rtpStart-rtpEnd)
 */
const MediaRelayObject = z
  .object({
    kind: z.enum(MEDIA_RELAYS, { error: `must be one of ${MEDIA_RELAYS.join(", ")}` }),
    ngPort: port,
    rtpStart: port,
    rtpEnd: port,
  })
  .strict();
/** 6800 ports: rtpengine takes 4 a call (RTP and RTCP per leg) and keeps a call's for its delete delay (30 s): ~50 calls/s of 1 s calls */
const defaultMediaRelay = { kind: "none" as MediaRelayKind, ngPort: 15064, rtpStart: 16200, rtpEnd: 22999 };

/**
 * How a SIPp stand-in answers calls (backends sipp): `answer` every call (assets/sipp/uas-answer.xml),
 * `503-one-in-five` (every fifth INVITE refused with 503: uas-503-one-in-five.xml) or `slow` (180/200
 * 800 ms after the INVITE: uas-answer-slow.xml) or `mute` (answers every call like `answer` but sends no audio
 * back: the one-way audio of a PBX that answers and never sends RTP) or `codec-mismatch` (its 200 OK answers
 * PCMA to the caller's PCMU-only offer: uas-answer-codec-mismatch.xml) or `dead-media-address` (its 200 OK's
 * SDP names port 9, where nobody listens: uas-answer-dead-media-address.xml). The faulty ones rehearse a failing gate and the
 * automatic rollback; undefined = answer.
 */
export const STAND_IN_ANSWERS = [
  "answer",
  "503-one-in-five",
  "slow",
  "mute",
  "codec-mismatch",
  "dead-media-address",
] as const;
export type StandInAnswer = (typeof STAND_IN_ANSWERS)[number];
const standIn = z.enum(STAND_IN_ANSWERS, { error: `must be one of ${STAND_IN_ANSWERS.join(", ")}` }).optional();

/** The native lab's settings. Every port, address, memory size and worker count is overridable. */
export const LabSettingsSchema = z
  .object({
    labDir: z.string().min(1),
    kamailio: z
      .object({
        address: loopback,
        sipPort: port,
        /** JSON-RPC over HTTP (xhttp + jsonrpcs), loopback only */
        rpcPort: port,
        shmMb: int(16, 65536),
        pkgMb: int(4, 1024),
        children: int(1, 64),
        /** dispatcher reload_delta in seconds; Kamailio's default is 5, the lab uses 0 for speed */
        reloadDelta: int(0, 3600),
        setId: int(1, 65535),
        /** ds_select_dst algorithm: 4 round-robin (old/both/new), 9 weight-based (weighted plan steps) */
        // default: a lab.json written before the key existed still reads (that lab's Kamailio used 4)
        dispatcherAlg: z
          .union([z.literal(4), z.literal(9)], { error: "must be 4 (round-robin) or 9 (weight-based)" })
          .default(4),
      })
      .strict(),
    old: z.object({ address: loopback, port, standIn }).strict(),
    new: z.object({ address: loopback, port, standIn }).strict(),
    /** where Kamailio mirrors every SIP message as HEPv3 (siptrace): the tool's collector, UDP */
    // default: a lab.json written before HEP existed still reads (that Kamailio mirrors nothing)
    hep: HepObject.default({ address: "127.0.0.1", port: 15062, mirror: "on" }),
    readyTimeoutMs: int(100, 600_000),
    backends: z.enum(BACKEND_KINDS, { error: `must be one of ${BACKEND_KINDS.join(", ")}` }).default("sipp"),
    freeswitch: z
      .object({ old: FreeswitchSlotSchema, new: FreeswitchSlotSchema })
      .strict()
      .default(defaultFreeswitchSlots),
    // default: a lab.json written before FusionPBX was served still reads (that lab served none)
    fusionpbx: FusionpbxObject.default(defaultFusionpbx),
    // default: a lab.json written before the relay existed still reads (that lab had none)
    mediaRelay: MediaRelayObject.refine((r) => r.rtpEnd >= r.rtpStart, {
      message: "rtpEnd must not be below rtpStart",
    }).default(defaultMediaRelay),
  })
  .strict();

/**
 * The config file's `lab` section: any subset of the settings, checked on its own (unknown keys at
 * every level, wrong types) whether or not a flag overrides a key.
 */
export const LabSectionSchema = LabSettingsSchema.extend({
  kamailio: LabSettingsSchema.shape.kamailio.partial().optional(),
  old: LabSettingsSchema.shape.old.partial().optional(),
  new: LabSettingsSchema.shape.new.partial().optional(),
  hep: HepObject.partial().optional(),
  backends: z.enum(BACKEND_KINDS, { error: `must be one of ${BACKEND_KINDS.join(", ")}` }).optional(),
  freeswitch: z
    .object({ old: FreeswitchSlotObject.partial().optional(), new: FreeswitchSlotObject.partial().optional() })
    .strict()
    .optional(),
  fusionpbx: FusionpbxObject.extend({
    old: FusionpbxSlotObject.partial().optional(),
    new: FusionpbxSlotObject.partial().optional(),
  })
    .partial()
    .strict()
    .optional(),
  mediaRelay: MediaRelayObject.partial().optional(),
})
  .partial()
  .strict();

export type LabSettings = z.infer<typeof LabSettingsSchema>;

export const defaultLabSettings: LabSettings = {
  labDir: ".lab",
  kamailio: {
    address: "127.0.0.1",
    sipPort: 15060,
    rpcPort: 15061,
    shmMb: 256,
    pkgMb: 8,
    children: 2,
    reloadDelta: 0,
    setId: 1,
    dispatcherAlg: 4,
  },
  old: { address: "127.0.0.1", port: 15070 },
  new: { address: "127.0.0.1", port: 15080 },
  hep: { address: "127.0.0.1", port: 15062, mirror: "on" },
  readyTimeoutMs: 10_000,
  backends: "sipp",
  freeswitch: defaultFreeswitchSlots,
  fusionpbx: defaultFusionpbx,
  mediaRelay: defaultMediaRelay,
};

/** Flags that override the lab settings (all optional; undefined means "not given"). */
export interface LabFlags {
  labDir?: string | undefined;
  sipAddr?: string | undefined;
  sipPort?: string | undefined;
  rpcPort?: string | undefined;
  oldAddr?: string | undefined;
  oldPort?: string | undefined;
  newAddr?: string | undefined;
  newPort?: string | undefined;
  hepPort?: string | undefined;
  hepMirror?: string | undefined;
  shmMb?: string | undefined;
  pkgMb?: string | undefined;
  children?: string | undefined;
  reloadDelta?: string | undefined;
  dispatcherAlg?: string | undefined;
  readyTimeoutMs?: string | undefined;
  backends?: string | undefined;
  oldFreeswitch?: string | undefined;
  newFreeswitch?: string | undefined;
  oldEslPort?: string | undefined;
  newEslPort?: string | undefined;
  oldRtpPorts?: string | undefined;
  newRtpPorts?: string | undefined;
  /** `--fusionpbx`: serve FusionPBX (and its PostgreSQL) beside the FreeSWITCH backends */
  fusionpbx?: boolean | undefined;
  oldFusionpbx?: string | undefined;
  newFusionpbx?: string | undefined;
  oldHttpPort?: string | undefined;
  newHttpPort?: string | undefined;
  postgresPort?: string | undefined;
  oldStandIn?: string | undefined;
  newStandIn?: string | undefined;
  mediaRelay?: string | undefined;
  relayNgPort?: string | undefined;
  relayPorts?: string | undefined;
}

/** `--old-rtp-ports 16000-16099` -> start and end; the message names the flag. */
export function parseRangeFlag(flag: string, raw: string): { rtpStart: number; rtpEnd: number } {
  const m = /^\s*(\d+)-(\d+)\s*$/.exec(raw);
  if (!m) throw new UsageError(`${flag} must be a port range like 16000-16099, got ${JSON.stringify(raw)}`);
  return { rtpStart: Number(m[1]), rtpEnd: Number(m[2]) };
}

/** Parse a flag that must be an integer; the message names the flag. */
export function parseIntFlag(flag: string, raw: string): number {
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new UsageError(`${flag} must be an integer, got ${JSON.stringify(raw)}`);
  }
  return Number(raw.trim());
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type LabSettingsInput = DeepPartial<LabSettings>;

/** Which flag sets which setting (`int`: parsed as an integer; `range`: `a-b` into rtpStart/rtpEnd). Errors name the flag. */
const FLAG_SETTINGS: readonly {
  key: Exclude<keyof LabFlags, "fusionpbx">;
  flag: string;
  path: readonly string[];
  kind: "int" | "string" | "range";
}[] = [
  { key: "labDir", flag: "--lab-dir", path: ["labDir"], kind: "string" },
  { key: "sipAddr", flag: "--sip-addr", path: ["kamailio", "address"], kind: "string" },
  { key: "sipPort", flag: "--sip-port", path: ["kamailio", "sipPort"], kind: "int" },
  { key: "rpcPort", flag: "--rpc-port", path: ["kamailio", "rpcPort"], kind: "int" },
  { key: "shmMb", flag: "--shm-mb", path: ["kamailio", "shmMb"], kind: "int" },
  { key: "pkgMb", flag: "--pkg-mb", path: ["kamailio", "pkgMb"], kind: "int" },
  { key: "children", flag: "--children", path: ["kamailio", "children"], kind: "int" },
  { key: "reloadDelta", flag: "--reload-delta", path: ["kamailio", "reloadDelta"], kind: "int" },
  { key: "dispatcherAlg", flag: "--dispatcher-alg", path: ["kamailio", "dispatcherAlg"], kind: "int" },
  { key: "oldAddr", flag: "--old-addr", path: ["old", "address"], kind: "string" },
  { key: "oldPort", flag: "--old-port", path: ["old", "port"], kind: "int" },
  { key: "newAddr", flag: "--new-addr", path: ["new", "address"], kind: "string" },
  { key: "newPort", flag: "--new-port", path: ["new", "port"], kind: "int" },
  { key: "oldStandIn", flag: "--old-stand-in", path: ["old", "standIn"], kind: "string" },
  { key: "newStandIn", flag: "--new-stand-in", path: ["new", "standIn"], kind: "string" },
  { key: "hepPort", flag: "--hep-port", path: ["hep", "port"], kind: "int" },
  { key: "hepMirror", flag: "--hep-mirror", path: ["hep", "mirror"], kind: "string" },
  { key: "readyTimeoutMs", flag: "--ready-timeout-ms", path: ["readyTimeoutMs"], kind: "int" },
  { key: "backends", flag: "--backends", path: ["backends"], kind: "string" },
  { key: "oldFreeswitch", flag: "--old-freeswitch", path: ["freeswitch", "old", "tree"], kind: "string" },
  { key: "newFreeswitch", flag: "--new-freeswitch", path: ["freeswitch", "new", "tree"], kind: "string" },
  { key: "oldEslPort", flag: "--old-esl-port", path: ["freeswitch", "old", "eventSocketPort"], kind: "int" },
  { key: "newEslPort", flag: "--new-esl-port", path: ["freeswitch", "new", "eventSocketPort"], kind: "int" },
  { key: "oldRtpPorts", flag: "--old-rtp-ports", path: ["freeswitch", "old"], kind: "range" },
  { key: "newRtpPorts", flag: "--new-rtp-ports", path: ["freeswitch", "new"], kind: "range" },
  { key: "oldFusionpbx", flag: "--old-fusionpbx", path: ["fusionpbx", "old", "tree"], kind: "string" },
  { key: "newFusionpbx", flag: "--new-fusionpbx", path: ["fusionpbx", "new", "tree"], kind: "string" },
  { key: "oldHttpPort", flag: "--old-http-port", path: ["fusionpbx", "old", "httpPort"], kind: "int" },
  { key: "newHttpPort", flag: "--new-http-port", path: ["fusionpbx", "new", "httpPort"], kind: "int" },
  { key: "postgresPort", flag: "--postgres-port", path: ["fusionpbx", "postgresPort"], kind: "int" },
  { key: "mediaRelay", flag: "--media-relay", path: ["mediaRelay", "kind"], kind: "string" },
  { key: "relayNgPort", flag: "--relay-ng-port", path: ["mediaRelay", "ngPort"], kind: "int" },
  { key: "relayPorts", flag: "--relay-ports", path: ["mediaRelay"], kind: "range" },
];

/** zod issues as "path: message" lines; an unknown key is named with its whole path ("lab.kamailio.sipPrt: unknown key"). */
export function issueLines(issues: readonly z.core.$ZodIssue[], prefix: string): string[] {
  const join = (p: readonly PropertyKey[]): string =>
    [prefix, ...p.map(String)].filter((x) => x !== "").join(".") || "(root)";
  return issues.flatMap((i) =>
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => `${join([...i.path, k])}: unknown key`)
      : [`${join(i.path)}: ${i.message}`],
  );
}

/** Validate the config file's `lab` section on its own; UsageError naming each bad key path. */
export function parseLabSection(raw: unknown, source = "config file"): LabSettingsInput {
  const parsed = LabSectionSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = issueLines(parsed.error.issues, "lab");
    throw new UsageError(`${source}: ${lines[0]}; nothing was started or changed`, lines.slice(1));
  }
  return parsed.data;
}

/**
 * defaults < config file (`lab` section) < flags. The file's section is checked on its own (a wrong
 * type is an error even when a flag overrides it), each flag against its setting (the error names
 * the flag), the lab directory against what Kamailio's config can hold. The lab directory becomes
 * absolute (relative to `cwd`).
 */
export function resolveLabSettings(
  fileLab: LabSettingsInput | undefined,
  flags: LabFlags,
  cwd: string = process.cwd(),
  source = "config file",
  running?: RunningLab,
): LabSettings {
  const d =
    running === undefined
      ? defaultLabSettings
      : { ...running.settings, readyTimeoutMs: defaultLabSettings.readyTimeoutMs };
  const f = fileLab === undefined ? {} : parseLabSection(fileLab, source);
  const fromFlags = settingsFromFlags(flags);
  if (running !== undefined) refuseRunningLabClash(running, f, fromFlags, flags, source);
  const parsed = LabSettingsSchema.safeParse(mergeLabSettings(d, f, fromFlags, flags));
  if (!parsed.success) {
    const lines = issueLines(parsed.error.issues, "lab");
    throw new UsageError(`invalid lab settings: ${lines[0]}; nothing was started`, lines.slice(1));
  }
  const s = parsed.data;
  const labDir = path.resolve(cwd, s.labDir);
  const dirProblem = labDirProblem(labDir);
  if (dirProblem !== undefined) {
    const origin =
      flags.labDir !== undefined
        ? `--lab-dir ${JSON.stringify(s.labDir)}`
        : f.labDir !== undefined
          ? `${source}: lab.labDir ${JSON.stringify(s.labDir)}`
          : `the default lab dir ${JSON.stringify(s.labDir)}`;
    throw new UsageError(`${origin}: ${dirProblem}; nothing was created`, [
      "pass a --lab-dir made of ordinary characters (letters, digits, / . _ - and spaces are fine)",
    ]);
  }
  const shared = sharedEndpoint(s);
  if (shared !== undefined) throw new UsageError(shared);
  if (s.fusionpbx.enabled && s.backends !== "freeswitch") {
    throw new UsageError(
      "--fusionpbx (lab.fusionpbx.enabled) needs --backends freeswitch: FusionPBX is served beside the real FreeSWITCH backends; nothing was started",
    );
  }
  if (s.backends === "freeswitch") checkFreeswitchPorts(s);
  return { ...s, labDir };
}

/** The settings the flags give, by setting path; every bad flag named (UsageError, the first one leading). */
function settingsFromFlags(flags: LabFlags): Record<string, unknown> {
  const problems: string[] = [];
  const fromFlags: Record<string, unknown> = {};
  const check = (flag: string, shown: string, path: readonly string[], value: unknown): void => {
    const r = leafSchema(path)?.safeParse(value);
    if (r && !r.success) problems.push(`${flag} ${shown}: ${r.error.issues[0]?.message ?? "invalid"}`);
    else put(fromFlags, path, r ? r.data : value);
  };
  for (const s of FLAG_SETTINGS) {
    const raw = flags[s.key];
    if (raw === undefined) continue;
    if (s.kind === "range") {
      const r = parseRangeFlag(s.flag, raw);
      check(s.flag, raw.trim(), [...s.path, "rtpStart"], r.rtpStart);
      check(s.flag, raw.trim(), [...s.path, "rtpEnd"], r.rtpEnd);
    } else if (s.kind === "int") {
      const v = parseIntFlag(s.flag, raw);
      check(s.flag, String(v), s.path, v);
    } else {
      check(s.flag, JSON.stringify(raw), s.path, raw);
    }
  }
  if (problems.length > 0) throw new UsageError(`${problems[0]}; nothing was started or changed`, problems.slice(1));
  return fromFlags;
}

/** An explicit value (file or flag) contradicting the running lab's settings: exit 2 naming each. */
function refuseRunningLabClash(
  running: RunningLab,
  f: LabSettingsInput,
  fromFlags: Record<string, unknown>,
  flags: LabFlags,
  source: string,
): void {
  const clash = runningLabConflicts(running, f, fromFlags, source);
  // `--fusionpbx` is a switch, not a setting path: asked of a lab that serves no FusionPBX, it would be silently dropped
  if (flags.fusionpbx === true && !running.settings.fusionpbx.enabled)
    clash.unshift("--fusionpbx, the lab serves no FusionPBX");
  if (clash.length > 0) {
    throw new UsageError(
      `the lab in ${running.settings.labDir} is running with other settings: ${clash[0]}; nothing was started or changed`,
      [
        ...clash.slice(1),
        "leave those flags out (commands use the running lab's own settings), or stop it first with `pbx-cutover lab down`",
      ],
    );
  }
}

/** defaults < file < flags, section by section (not validated yet) */
function mergeLabSettings(
  d: LabSettings,
  f: LabSettingsInput,
  fromFlags: Record<string, unknown>,
  flags: LabFlags,
): unknown {
  const slot = <T extends object>(dv: T, fv: object | undefined, path: readonly string[]): T => ({
    ...dv,
    ...fv,
    ...(pick(fromFlags, path) as object | undefined),
  });
  return {
    labDir: (pick(fromFlags, ["labDir"]) as string | undefined) ?? f.labDir ?? d.labDir,
    kamailio: { ...d.kamailio, ...f.kamailio, ...pickObj(fromFlags, "kamailio") },
    old: { ...d.old, ...f.old, ...pickObj(fromFlags, "old") },
    new: { ...d.new, ...f.new, ...pickObj(fromFlags, "new") },
    hep: { ...d.hep, ...f.hep, ...pickObj(fromFlags, "hep") },
    readyTimeoutMs: (pick(fromFlags, ["readyTimeoutMs"]) as number | undefined) ?? f.readyTimeoutMs ?? d.readyTimeoutMs,
    backends: (pick(fromFlags, ["backends"]) as string | undefined) ?? f.backends ?? d.backends,
    freeswitch: {
      old: slot(d.freeswitch.old, f.freeswitch?.old, ["freeswitch", "old"]),
      new: slot(d.freeswitch.new, f.freeswitch?.new, ["freeswitch", "new"]),
    },
    fusionpbx: {
      enabled: flags.fusionpbx === true ? true : (f.fusionpbx?.enabled ?? d.fusionpbx.enabled),
      postgresPort:
        (pick(fromFlags, ["fusionpbx", "postgresPort"]) as number | undefined) ??
        f.fusionpbx?.postgresPort ??
        d.fusionpbx.postgresPort,
      old: slot(d.fusionpbx.old, f.fusionpbx?.old, ["fusionpbx", "old"]),
      new: slot(d.fusionpbx.new, f.fusionpbx?.new, ["fusionpbx", "new"]),
    },
    mediaRelay: slot(d.mediaRelay, f.mediaRelay, ["mediaRelay"]),
  };
}

/** Two of Kamailio's SIP socket, the backends and the HEP collector on one address and port: what to say, else undefined. */
function sharedEndpoint(s: LabSettings): string | undefined {
  const endpoints = [
    ["kamailio sip (udp)", s.kamailio.address, s.kamailio.sipPort],
    ["old backend (udp)", s.old.address, s.old.port],
    ["new backend (udp)", s.new.address, s.new.port],
    ["HEP collector (udp)", s.hep.address, s.hep.port],
    ...(s.mediaRelay.kind === "rtpengine"
      ? ([["rtpengine ng control (udp)", s.kamailio.address, s.mediaRelay.ngPort]] as const)
      : []),
  ] as const;
  for (let i = 0; i < endpoints.length; i++) {
    for (let j = i + 1; j < endpoints.length; j++) {
      const a = endpoints[i]!;
      const b = endpoints[j]!;
      if (a[1] === b[1] && a[2] === b[2]) {
        return `${a[0]} and ${b[0]} both use ${a[1]}:${a[2]}; give each its own address or port`;
      }
    }
  }
  return undefined;
}

/** The schema of one setting (undefined for labDir, checked by labDirProblem). */
function leafSchema(path: readonly string[]): z.ZodType | undefined {
  if (path[0] === "labDir") return undefined;
  let cur: z.ZodType = LabSettingsSchema;
  for (const key of path) {
    while (cur instanceof z.ZodDefault || cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
    if (!(cur instanceof z.ZodObject)) return undefined;
    cur = (cur.shape as Record<string, z.ZodType>)[key]!;
  }
  return cur;
}

/** A lab found running in the lab dir: its recorded settings are the defaults every command starts from. */
export interface RunningLab {
  settings: LabSettings;
}

/** settings that describe a wait of the command, not the lab: never a conflict */
const NOT_LAB_IDENTITY = new Set(["labDir", "readyTimeoutMs"]);

function leaves(o: unknown, prefix: readonly string[] = []): { path: string[]; value: unknown }[] {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return [{ path: [...prefix], value: o }];
  return Object.entries(o).flatMap(([k, v]) => leaves(v, [...prefix, k]));
}

/**
 * Settings given explicitly (a flag, or the config file) that differ from the running lab's: the
 * command would talk to ports or a dispatcher algorithm the lab does not have.
 */
export function runningLabConflicts(
  running: RunningLab,
  fileLab: object,
  fromFlags: Record<string, unknown>,
  source: string,
): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const consider = (origin: (path: string[]) => string, o: object): void => {
    for (const l of leaves(o)) {
      const key = l.path.join(".");
      if (l.path.length === 0 || NOT_LAB_IDENTITY.has(l.path[0]!) || seen.has(key)) continue;
      const have = pick(running.settings, l.path);
      if (have === undefined || JSON.stringify(have) === JSON.stringify(l.value)) continue;
      seen.add(key);
      out.push(`${origin(l.path)} ${JSON.stringify(l.value)}, the lab has ${JSON.stringify(have)}`);
    }
  };
  const flagOf = (p: string[]): string => {
    const key = p.join(".");
    const hit = FLAG_SETTINGS.find((s) => key === s.path.join(".") || key.startsWith(s.path.join(".") + "."));
    return hit ? hit.flag : `lab.${key}`;
  };
  consider(flagOf, fromFlags);
  consider((p) => `${source}: lab.${p.join(".")}`, fileLab);
  return out;
}

function put(o: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = o;
  for (const k of path.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[path[path.length - 1]!] = value;
}

function pick(o: Record<string, unknown>, path: readonly string[]): unknown {
  let cur: unknown = o;
  for (const k of path) cur = cur !== undefined && cur !== null ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

function pickObj(o: Record<string, unknown>, key: string): Record<string, unknown> {
  return (o[key] as Record<string, unknown> | undefined) ?? {};
}

/**
 * Why Kamailio could not use this lab directory (its paths go into kamailio.cfg as quoted strings:
 * the ctl socket, the dispatcher list), or undefined.
 */
export function labDirProblem(absLabDir: string): string | undefined {
  const p = labPaths(absLabDir);
  const bad = cfgStringProblem(absLabDir);
  if (bad !== undefined) return `${bad}, which Kamailio's config cannot hold (the lab's paths go into kamailio.cfg)`;
  const bytes = Buffer.byteLength(p.ctlSocket);
  if (bytes > MAX_CTL_SOCKET_BYTES) {
    return `its ctl socket path ${p.ctlSocket} is ${bytes} bytes; Kamailio's ctl socket path holds at most ${MAX_CTL_SOCKET_BYTES} (use a shorter lab dir)`;
  }
  return undefined;
}

/** FreeSWITCH's ports must not collide with each other or with the lab's other ports. */
function checkFreeswitchPorts(s: LabSettings): void {
  const single: [string, string, number][] = [
    ["kamailio sip", s.kamailio.address, s.kamailio.sipPort],
    ["kamailio rpc", s.kamailio.address, s.kamailio.rpcPort],
    ["old backend sip", s.old.address, s.old.port],
    ["new backend sip", s.new.address, s.new.port],
    ["old event socket", s.old.address, s.freeswitch.old.eventSocketPort],
    ["new event socket", s.new.address, s.freeswitch.new.eventSocketPort],
    ...(s.fusionpbx.enabled
      ? ([
          ["old FusionPBX http", s.old.address, s.fusionpbx.old.httpPort],
          ["new FusionPBX http", s.new.address, s.fusionpbx.new.httpPort],
          ["PostgreSQL", s.kamailio.address, s.fusionpbx.postgresPort],
        ] as [string, string, number][])
      : []),
  ];
  for (let i = 0; i < single.length; i++) {
    for (let j = i + 1; j < single.length; j++) {
      const a = single[i]!;
      const b = single[j]!;
      if (a[1] === b[1] && a[2] === b[2]) {
        throw new UsageError(
          `${a[0]} and ${b[0]} both use ${a[1]}:${a[2]}; give each its own port (--old-esl-port, --new-esl-port` +
            (s.fusionpbx.enabled ? ", --old-http-port, --new-http-port, --postgres-port)" : ")"),
        );
      }
    }
  }
  const ranges = (["old", "new"] as const).map(
    (r) => [r, s[r].address, s.freeswitch[r].rtpStart, s.freeswitch[r].rtpEnd] as const,
  );
  const [o, n] = ranges;
  if (o![1] === n![1] && o![2] <= n![3] && n![2] <= o![3]) {
    throw new UsageError(
      `old RTP ports ${o![2]}-${o![3]} and new RTP ports ${n![2]}-${n![3]} overlap; give each its own range`,
    );
  }
  for (const [role, addr, lo, hi] of ranges) {
    const hit = single.find(([, a, p]) => a === addr && p >= lo && p <= hi);
    if (hit) throw new UsageError(`${role} RTP ports ${lo}-${hi} include ${hit[0]} port ${hit[2]}; move one of them`);
  }
}
