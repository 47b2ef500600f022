import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { LabSettings } from "../../config/lab-config.js";
import { ensureDir } from "../../files/ensure-dir.js";
import { FileMode, writeFileAtomic } from "../../files/atomic-write.js";
import { probeOptions } from "../../sip/options-probe.js";
import { eslApi } from "../../freeswitch/event-socket.js";
import { parseFreeswitchVersion } from "../../verify/product-version.js";
import type { BackendRole } from "../../core/backend-role.js";
import { freeswitchArgv, freeswitchPaths, renderFreeswitchConfig, type FreeswitchPaths } from "./config.js";

const execFileP = promisify(execFile);

/**
 * The effects around one FreeSWITCH instance of the native lab: its run directory, the config and
 * event-socket secret (both 0600), DTLS certificates made once and kept, readiness and version.
 */

/** Write `text` to `file` with mode 0600 (src/files/atomic-write.ts: exclusive temp file + rename). */
function writePrivate(file: string, text: string): void {
  writeFileAtomic(file, text, { mode: FileMode.private });
}

/**
 * FreeSWITCH makes 4096-bit DTLS/WSS certificates on a first start (2-5 s). The lab makes 2048-bit
 * ones with openssl instead (~0.1-0.7 s), once per lab directory; they are kept across lab down/up.
 * Without openssl FreeSWITCH makes its own.
 */
async function ensureCerts(p: FreeswitchPaths): Promise<void> {
  const dtls = path.join(p.certs, "dtls-srtp.pem");
  const wss = path.join(p.certs, "wss.pem");
  if (existsSync(dtls) && existsSync(wss)) return;
  const key = path.join(p.certs, `.key-${process.pid}.pem`);
  const crt = path.join(p.certs, `.crt-${process.pid}.pem`);
  try {
    await execFileP(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=pbx-cutover-lab",
        "-days",
        "3650",
        "-keyout",
        key,
        "-out",
        crt,
      ],
      { timeout: 20_000 },
    );
    const pem = readFileSync(key, "utf8") + readFileSync(crt, "utf8");
    if (!existsSync(dtls)) writePrivate(dtls, pem);
    if (!existsSync(wss)) writePrivate(wss, pem);
  } catch {
    // no openssl: FreeSWITCH generates its own on start (slower, same result)
  } finally {
    rmSync(key, { force: true });
    rmSync(crt, { force: true });
  }
}

export interface PreparedFreeswitch {
  argv: string[];
  paths: FreeswitchPaths;
}

/** Create the run directory, write freeswitch.xml and the secret (new password every start), certs. */
export async function prepareFreeswitch(s: LabSettings, role: BackendRole, tree: string): Promise<PreparedFreeswitch> {
  const p = freeswitchPaths(s.labDir, role);
  for (const d of p.dirs) ensureDir(d);
  const slot = s.freeswitch[role];
  const password = randomBytes(16).toString("hex");
  writePrivate(p.secretFile, password + "\n");
  writePrivate(
    p.configFile,
    renderFreeswitchConfig({
      role,
      sipAddress: s[role].address,
      sipPort: s[role].port,
      eventSocketAddress: s[role].address,
      eventSocketPort: slot.eventSocketPort,
      eventSocketPassword: password,
      rtpStart: slot.rtpStart,
      rtpEnd: slot.rtpEnd,
      logFile: p.logFile,
    }),
  );
  rmSync(p.stdout, { force: true });
  await ensureCerts(p);
  return { argv: freeswitchArgv(tree, p), paths: p };
}

/** The event-socket endpoint and password of a slot, read from the lab directory (never printed). */
export function eventSocketOf(s: LabSettings, role: BackendRole): { host: string; port: number; password: string } {
  const p = freeswitchPaths(s.labDir, role);
  return {
    host: s[role].address,
    port: s.freeswitch[role].eventSocketPort,
    password: readFileSync(p.secretFile, "utf8").trim(),
  };
}

/** Ready = answers SIP OPTIONS with 200 and its event socket answers `api version`. Throws why not. */
export async function probeFreeswitchReady(s: LabSettings, role: BackendRole): Promise<void> {
  const r = await probeOptions({ address: s[role].address, port: s[role].port }, 200);
  if (r.status !== 200) throw new Error(r.error ?? `answered OPTIONS with ${r.status ?? "nothing"}`);
  const es = eventSocketOf(s, role);
  await eslApi({ host: es.host, port: es.port }, es.password, "version", 500);
}

/** "FreeSWITCH 1.10.3 (1.10.3-release~64bit)" from the event socket, or why not. */
export async function freeswitchVersionText(s: LabSettings, role: BackendRole): Promise<string> {
  try {
    const es = eventSocketOf(s, role);
    const body = await eslApi({ host: es.host, port: es.port }, es.password, "version", 2000);
    const pv = parseFreeswitchVersion(body);
    if (!pv?.version) return `unparsed: ${body.trim().slice(0, 60)}`;
    return `FreeSWITCH ${pv.version}${pv.build ? ` (${pv.build})` : ""}`;
  } catch (err) {
    return `unknown (${(err as Error).message})`;
  }
}
