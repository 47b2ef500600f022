import path from "node:path";
import { z } from "zod";
import { UsageError } from "../cli/errors.js";

/** SIP traffic goes to loopback only (127.0.0.0/8). */
export function isLoopbackV4(addr: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

const loopback = z.string().refine(isLoopbackV4, {
  message: "must be a loopback IPv4 address (127.0.0.0/8); the lab never sends SIP anywhere else",
});
const port = z.number().int().min(1).max(65535);

/** What plays the PBXs: SIPp stand-ins (fast, load) or the real FreeSWITCH 1.10.3 / 1.10.12. */
export const BACKEND_KINDS = ["sipp", "freeswitch"] as const;
export type BackendsKind = (typeof BACKEND_KINDS)[number];

/** One FreeSWITCH slot of the native lab (used when backends = freeswitch). */
const FreeswitchSlotSchema = z
  .object({
    /** "1.10.3" (a tree `make real-services` installed) or the path of a FreeSWITCH tree */
    tree: z.string().min(1),
    /** event socket (tcp) on the backend's address */
    eventSocketPort: port,
    rtpStart: port,
    rtpEnd: port,
  })
  .strict()
  .refine((f) => f.rtpEnd >= f.rtpStart, { message: "rtpEnd must not be below rtpStart" });

export const defaultFreeswitchSlots = {
  old: { tree: "1.10.3", eventSocketPort: 15071, rtpStart: 16000, rtpEnd: 16099 },
  new: { tree: "1.10.12", eventSocketPort: 15081, rtpStart: 16100, rtpEnd: 16199 },
};

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
        shmMb: z.number().int().min(16).max(65536),
        pkgMb: z.number().int().min(4).max(1024),
        children: z.number().int().min(1).max(64),
        /** dispatcher reload_delta in seconds; Kamailio's default is 5, the lab uses 0 for speed */
        reloadDelta: z.number().int().min(0).max(3600),
        setId: z.number().int().min(1).max(65535),
        /** ds_select_dst algorithm: 4 round-robin (old/both/new), 9 weight-based (weighted plan steps) */
        // default: a lab.json written before the key existed still reads (that lab's Kamailio used 4)
        dispatcherAlg: z.union([z.literal(4), z.literal(9)], { error: "must be 4 (round-robin) or 9 (weight-based)" }).default(4),
      })
      .strict(),
    old: z.object({ address: loopback, port }).strict(),
    new: z.object({ address: loopback, port }).strict(),
    /** where Kamailio mirrors every SIP message as HEPv3 (siptrace): the tool's collector, UDP */
    // default: a lab.json written before HEP existed still reads (that Kamailio mirrors nothing)
    hep: z
      .object({
        address: loopback,
        port,
        /** siptrace's trace_on at start; `siptrace.status on|off` switches it at runtime */
        mirror: z.enum(["on", "off"]).default("on"),
      })
      .strict()
      .default({ address: "127.0.0.1", port: 15062, mirror: "on" }),
    readyTimeoutMs: z.number().int().min(100).max(600_000),
    backends: z.enum(BACKEND_KINDS).default("sipp"),
    freeswitch: z
      .object({ old: FreeswitchSlotSchema, new: FreeswitchSlotSchema })
      .strict()
      .default(defaultFreeswitchSlots),
  })
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

/**
 * defaults < config file (`lab` section) < flags, then one schema check.
 * The lab directory becomes absolute (relative to `cwd`).
 */
export function resolveLabSettings(
  fileLab: LabSettingsInput | undefined,
  flags: LabFlags,
  cwd: string = process.cwd(),
): LabSettings {
  const d = defaultLabSettings;
  const f = fileLab ?? {};
  const num = (flag: string, raw: string | undefined): number | undefined =>
    raw === undefined ? undefined : parseIntFlag(flag, raw);
  const merged = {
    labDir: flags.labDir ?? f.labDir ?? d.labDir,
    kamailio: {
      ...d.kamailio,
      ...f.kamailio,
      ...defined({
        address: flags.sipAddr,
        sipPort: num("--sip-port", flags.sipPort),
        rpcPort: num("--rpc-port", flags.rpcPort),
        shmMb: num("--shm-mb", flags.shmMb),
        pkgMb: num("--pkg-mb", flags.pkgMb),
        children: num("--children", flags.children),
        reloadDelta: num("--reload-delta", flags.reloadDelta),
        dispatcherAlg: num("--dispatcher-alg", flags.dispatcherAlg),
      }),
    },
    old: { ...d.old, ...f.old, ...defined({ address: flags.oldAddr, port: num("--old-port", flags.oldPort) }) },
    new: { ...d.new, ...f.new, ...defined({ address: flags.newAddr, port: num("--new-port", flags.newPort) }) },
    hep: { ...d.hep, ...f.hep, ...defined({ port: num("--hep-port", flags.hepPort), mirror: flags.hepMirror }) },
    readyTimeoutMs: num("--ready-timeout-ms", flags.readyTimeoutMs) ?? f.readyTimeoutMs ?? d.readyTimeoutMs,
    backends: flags.backends ?? f.backends ?? d.backends,
    freeswitch: {
      old: {
        ...d.freeswitch.old,
        ...f.freeswitch?.old,
        ...defined({
          tree: flags.oldFreeswitch,
          eventSocketPort: num("--old-esl-port", flags.oldEslPort),
          ...(flags.oldRtpPorts !== undefined ? parseRangeFlag("--old-rtp-ports", flags.oldRtpPorts) : {}),
        }),
      },
      new: {
        ...d.freeswitch.new,
        ...f.freeswitch?.new,
        ...defined({
          tree: flags.newFreeswitch,
          eventSocketPort: num("--new-esl-port", flags.newEslPort),
          ...(flags.newRtpPorts !== undefined ? parseRangeFlag("--new-rtp-ports", flags.newRtpPorts) : {}),
        }),
      },
    },
  };
  const parsed = LabSettingsSchema.safeParse(merged);
  if (!parsed.success) {
    throw new UsageError(
      "invalid lab settings; nothing was started",
      parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`),
    );
  }
  const s = parsed.data;
  const endpoints = [
    ["kamailio sip (udp)", s.kamailio.address, s.kamailio.sipPort],
    ["old backend (udp)", s.old.address, s.old.port],
    ["new backend (udp)", s.new.address, s.new.port],
    ["HEP collector (udp)", s.hep.address, s.hep.port],
  ] as const;
  for (let i = 0; i < endpoints.length; i++) {
    for (let j = i + 1; j < endpoints.length; j++) {
      const a = endpoints[i]!;
      const b = endpoints[j]!;
      if (a[1] === b[1] && a[2] === b[2]) {
        throw new UsageError(`${a[0]} and ${b[0]} both use ${a[1]}:${a[2]}; give each its own address or port`);
      }
    }
  }
  if (s.backends === "freeswitch") checkFreeswitchPorts(s);
  return { ...s, labDir: path.resolve(cwd, s.labDir) };
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
  ];
  for (let i = 0; i < single.length; i++) {
    for (let j = i + 1; j < single.length; j++) {
      const a = single[i]!;
      const b = single[j]!;
      if (a[1] === b[1] && a[2] === b[2]) {
        throw new UsageError(`${a[0]} and ${b[0]} both use ${a[1]}:${a[2]}; give each its own port (--old-esl-port, --new-esl-port)`);
      }
    }
  }
  const ranges = (["old", "new"] as const).map((r) => [r, s[r].address, s.freeswitch[r].rtpStart, s.freeswitch[r].rtpEnd] as const);
  const [o, n] = ranges;
  if (o![1] === n![1] && o![2] <= n![3] && n![2] <= o![3]) {
    throw new UsageError(`old RTP ports ${o![2]}-${o![3]} and new RTP ports ${n![2]}-${n![3]} overlap; give each its own range`);
  }
  for (const [role, addr, lo, hi] of ranges) {
    const hit = single.find(([, a, p]) => a === addr && p >= lo && p <= hi);
    if (hit) throw new UsageError(`${role} RTP ports ${lo}-${hi} include ${hit[0]} port ${hit[2]}; move one of them`);
  }
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
