/**
 * A target file's `pbx` section: how to ask each backend PBX for its own channels (FreeSWITCH's event
 * socket), so the drain can wait for a call the proxy forgot but the PBX still holds.
 *
 *   pbx:
 *     old:
 *       eventSocket:
 *         host: 10.0.0.10                          # an IPv4 address inside sipPolicy (nothing is resolved)
 *         port: 8021                               # default 8021
 *         password: { env: FS_OLD_ESL_PW }         # or { file: /etc/pbx-cutover/fs-old.pw } (0600)
 *         timeoutMs: 1000                          # one question's bound (default 1000)
 *     new: { eventSocket: { ... } }
 *
 * One event socket per PBX, whatever the number of nodes in front of it. The password is a `Secret`:
 * never written inline in the file, never printed, logged or written to a run folder.
 */
import path from "node:path";
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import type { BackendRole } from "../core/backend-role.js";
import { hostProblem, type SipPolicy } from "../sip/sip-policy.js";
import type { Secret, SecretRef } from "./secret.js";

export const SecretRefSchema = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name") }).strict(),
]);

const EventSocketSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(8021),
    password: SecretRefSchema,
    timeoutMs: z.number().int().min(100).max(10_000).default(1000),
  })
  .strict();

const PbxSchema = z.object({ eventSocket: EventSocketSchema }).strict();

export const PbxSectionSchema = z.object({ old: PbxSchema.optional(), new: PbxSchema.optional() }).strict();

export interface PbxEventSocket {
  host: string;
  port: number;
  password: Secret;
  timeoutMs: number;
}

/** each backend PBX the target file can ask for its channels */
export type PbxSpec = Partial<Record<BackendRole, { eventSocket: PbxEventSocket }>>;

/**
 * The `pbx` section checked against the target's SIP policy (the tool sends nothing outside it) and
 * its secrets resolved through `secret`; problems are collected, not thrown.
 */
export function pbxOf(
  x: z.infer<typeof PbxSectionSchema> | undefined,
  policy: SipPolicy | undefined,
  secret: (ref: SecretRef, what: string) => Secret,
  baseDir: string,
  problems: string[],
): PbxSpec {
  const out: PbxSpec = {};
  for (const role of ["old", "new"] as const) {
    const es = x?.[role]?.eventSocket;
    if (!es) continue;
    const at = `pbx.${role}.eventSocket`;
    const bad = policy ? hostProblem(policy, es.host) : undefined;
    if (bad !== undefined) problems.push(`${at}.host: ${bad}`);
    let password: Secret | undefined;
    try {
      const ref = "file" in es.password ? { file: path.resolve(baseDir, es.password.file) } : es.password;
      password = secret(ref, `${at}.password`);
      if (/[\r\n]/.test(password.reveal()))
        problems.push(`${at}.password: holds a line break (from ${password.source})`);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      problems.push(err.message.replace(/; nothing was changed$/, ""));
    }
    if (password) out[role] = { eventSocket: { host: es.host, port: es.port, password, timeoutMs: es.timeoutMs } };
  }
  const [o, n] = [out.old?.eventSocket, out.new?.eventSocket];
  if (o && n && o.host === n.host && o.port === n.port)
    problems.push(
      `pbx.old.eventSocket and pbx.new.eventSocket are the same socket (${o.host}:${o.port}); each PBX has its own`,
    );
  return out;
}
