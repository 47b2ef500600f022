import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isAlive } from "../../src/os/process.js";
import { assetPath } from "../../src/core/assets.js";
import { eslApi } from "../../src/freeswitch/event-socket.js";
import { freePorts, freeTcpPort, labFixture, type LabFixture } from "./lab-fixture.js";

const RTP_BASE = 61000;
const RTP_UNIT = 40;
const RTP_UNITS = 100;

/**
 * The first of `count` consecutive RTP ports no other test process holds: above the kernel's
 * ephemeral range (32768-60999), where freeTcpPort's ports (event sockets, PostgreSQL, HTTP) come
 * from. Test files run side by side, so each 40-port unit is reserved by a directory made atomically
 * (mkdir) naming this process; a unit whose process is gone is taken over. Reservations last as long
 * as the test process.
 */
function reserveRtpPorts(count: number): number {
  const units = Math.ceil(count / RTP_UNIT);
  const root = path.join(os.tmpdir(), "pbx-cutover-test-rtp");
  mkdirSync(root, { recursive: true });
  const take = (unit: number): boolean => {
    const dir = path.join(root, String(unit));
    for (let tries = 0; tries < 2; tries++) {
      try {
        mkdirSync(dir);
        writeFileSync(path.join(dir, "pid"), String(process.pid));
        return true;
      } catch {
        const pid = Number(readFileOr(path.join(dir, "pid")));
        // a unit being made this instant has no pid yet: leave it to its maker
        if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) return false;
        rmSync(dir, { recursive: true, force: true });
      }
    }
    return false;
  };
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = Math.floor(Math.random() * (RTP_UNITS - units + 1));
    const held: number[] = [];
    for (let u = first; u < first + units && take(u); u++) held.push(u);
    if (held.length === units) return RTP_BASE + first * RTP_UNIT;
    for (const u of held) rmSync(path.join(root, String(u)), { recursive: true, force: true });
  }
  throw new Error(`no ${count} free RTP ports in ${RTP_BASE}-${RTP_BASE + RTP_UNITS * RTP_UNIT - 1}`);
}

function readFileOr(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/**
 * The flags that make a fixture's lab run real FreeSWITCH: event sockets and RTP ranges of its own,
 * `rtpPorts` each (20 by default: a few calls at a time; a port pair per call held while it is up).
 */
export async function freeswitchFlags(opts: { old?: string; new?: string; rtpPorts?: number } = {}): Promise<string[]> {
  const [oldEsl, newEsl] = [await freeTcpPort(), await freeTcpPort()];
  const span = opts.rtpPorts ?? 20;
  const rtp = reserveRtpPorts(2 * span);
  return [
    "--backends",
    "freeswitch",
    "--old-esl-port",
    String(oldEsl),
    "--new-esl-port",
    String(newEsl),
    "--old-rtp-ports",
    `${rtp}-${rtp + span - 1}`,
    "--new-rtp-ports",
    `${rtp + span}-${rtp + 2 * span - 1}`,
    ...(opts.old ? ["--old-freeswitch", opts.old] : []),
    ...(opts.new ? ["--new-freeswitch", opts.new] : []),
  ];
}

/** A fixture whose lab is up with real FreeSWITCH (`freeswitchFlags(opts)`), and those flags. */
export async function freeswitchLabUp(
  opts: Parameters<typeof freeswitchFlags>[0] = {},
): Promise<{ f: LabFixture; fs: string[] }> {
  const f = await labFixture();
  const fs = await freeswitchFlags(opts);
  const up = await f.cli(["lab", "up", ...f.flags, ...fs], { timeoutMs: 120_000 });
  assert.equal(up.code, 0, up.stdout + up.stderr);
  return { f, fs };
}

/** Dispose of a fixture that ran real FreeSWITCH, and check none of its freeswitch processes is left. */
export async function disposeFreeswitchLab(f: LabFixture | undefined): Promise<void> {
  if (!f) return;
  await f.dispose();
  assert.deepEqual(freeswitchPidsUnder(f.dir), [], "no freeswitch left behind");
}

/** Pids of freeswitch processes (zombies excluded) whose command line mentions `dir`. */
export function freeswitchPidsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "Z" || readFileSync(`/proc/${e}/comm`, "utf8").trim() !== "freeswitch") continue;
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(dir)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export interface FsCallResult {
  code: number | null;
  /** User-Agent headers of the final responses the UAC received (INVITE and BYE 200s) */
  userAgents: string[];
  /** "200" per final response received, in order */
  statuses: string[];
  log: string;
}

/** `n` real calls through the lab's Kamailio with assets/sipp/uac-call.xml, held `holdMs`. */
export async function callThroughProxy(f: LabFixture, n: number, label: string, holdMs = 200): Promise<FsCallResult> {
  const uacPort = (await freePorts()).sip;
  const log = `${f.dir}/uac-${label}.messages.log`;
  const argv = [
    `127.0.0.1:${f.ports.sip}`,
    "-sf",
    assetPath("sipp", "uac-call.xml"),
    "-i",
    "127.0.0.1",
    "-p",
    String(uacPort),
    "-m",
    String(n),
    "-r",
    "5",
    "-d",
    String(holdMs),
    "-cid_str",
    `fs-e2e-${label}-%u-%p@%s`,
    "-nostdin",
    "-timeout",
    String(Math.max(20, Math.ceil(holdMs / 1000) + 20)),
    "-timeout_error",
    "-recv_timeout",
    "5000",
    "-trace_msg",
    "-message_file",
    log,
  ];
  const uac = spawn("sipp", argv, { stdio: "ignore" });
  const code = await new Promise<number | null>((resolve) => uac.on("close", resolve));
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    // no log: SIPp did not start
  }
  const received = text.split(/^-{10,}.*$/m).filter((rec) => /message received/.test(rec));
  return {
    code,
    userAgents: received.flatMap((rec) =>
      /^SIP\/2\.0 [2-6]\d\d/m.test(rec) ? [/^User-Agent:\s*(.+)$/im.exec(rec)?.[1]?.trim() ?? "(none)"] : [],
    ),
    statuses: received.flatMap((rec) => /^SIP\/2\.0 ([2-6]\d\d)/m.exec(rec)?.[1] ?? []),
    log: text,
  };
}

/**
 * Change what a running lab's FreeSWITCH does with a call, from outside the tool: the actions of its
 * public dialplan (the lab writes answer + echo) are replaced by `actions` in its freeswitch.xml and
 * FreeSWITCH reloads it (`reloadxml` over its event socket). `undefined` puts answer + echo back.
 */
export async function setDialplan(
  labDir: string,
  role: "old" | "new",
  eslPort: number,
  actions?: string,
): Promise<void> {
  const base = path.join(labDir, `freeswitch-${role}`);
  const file = path.join(base, "conf", "freeswitch.xml");
  const xml = readFileSync(file, "utf8");
  const body = actions ?? '<action application="answer"/><action application="echo"/>';
  const condition = /(<condition field="destination_number" expression="\^\.\*\$">)[\s\S]*?(<\/condition>)/;
  assert.match(xml, condition, `no dialplan condition in ${file}`);
  writeFileSync(file, xml.replace(condition, `$1${body}$2`));
  const password = readFileSync(path.join(base, "event-socket.secret"), "utf8").trim();
  const reply = await eslApi({ host: "127.0.0.1", port: eslPort }, password, "reloadxml");
  assert.match(reply, /^\+OK/, reply);
}

/** The value of `flag` in a list of CLI flags (freeswitchFlags' ports and ranges). */
export function flagValue(flags: readonly string[], flag: string): string {
  const i = flags.indexOf(flag);
  assert.ok(i >= 0 && i + 1 < flags.length, `${flag} not in ${flags.join(" ")}`);
  return flags[i + 1]!;
}
