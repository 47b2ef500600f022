/**
 * One real call through the lab's Kamailio with SIPp (assets/sipp/uac-call.xml), and which backend
 * got its INVITE, read from the backends' SIPp message logs (evidence per Call-ID, not totals).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { assetPath } from "../../src/core/assets.js";
import { freePorts, type LabFixture } from "./lab-fixture.js";
import type { BackendRole } from "../../src/core/backend-role.js";

export interface CallsResult {
  /** SIPp's exit code: 0 = every call completed (2xx to INVITE and to BYE) */
  code: number | null;
  tag: string;
  /** distinct Call-IDs whose INVITE each backend received */
  old: number;
  new: number;
  /** the backend of each call by SIPp's call number (1-based; index 0 unused), undefined if none got it */
  byCallNumber: (BackendRole | undefined)[];
}

function callIdsWithInvite(log: string, tag: string): Set<string> {
  const ids = new Set<string>();
  for (const rec of log.split(/^-{10,}.*$/m)) {
    if (!/message received/.test(rec) || !/^INVITE /m.test(rec)) continue;
    const id = /^Call-ID:\s*(\S+)/im.exec(rec)?.[1];
    if (id?.startsWith(tag)) ids.add(id);
  }
  return ids;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Place `n` calls (10 per second unless `rate` says otherwise, held 0 ms) and count where their INVITEs arrived. */
export async function placeCalls(
  f: LabFixture,
  n: number,
  label: string,
  opts: { rate?: number } = {},
): Promise<CallsResult> {
  const tag = `e2e-${label}-${randomBytes(3).toString("hex")}`;
  const uacPort = (await freePorts()).sip;
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
    String(opts.rate ?? 10),
    "-d",
    "0",
    "-cid_str",
    `${tag}-%u-%p@%s`,
    "-nostdin",
    "-timeout",
    "15",
    "-timeout_error",
  ];
  const uac = spawn("sipp", argv, { stdio: "ignore" });
  const code = await new Promise<number | null>((resolve) => uac.on("close", resolve));
  const seen = {
    old: callIdsWithInvite(readLog(path.join(f.labDir, "uas-old.messages.log")), tag),
    new: callIdsWithInvite(readLog(path.join(f.labDir, "uas-new.messages.log")), tag),
  };
  const byCallNumber: CallsResult["byCallNumber"] = Array.from({ length: n + 1 }, () => undefined);
  for (const role of ["old", "new"] as const) {
    for (const id of seen[role]) {
      const num = Number(id.slice(tag.length + 1).split("-")[0]);
      if (num >= 1 && num <= n) byCallNumber[num] = role;
    }
  }
  return { code, tag, old: seen.old.size, new: seen.new.size, byCallNumber };
}
