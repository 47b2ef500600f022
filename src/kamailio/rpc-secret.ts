/**
 * The secret a caller of a lab's Kamailio JSON-RPC must send (`Authorization: Bearer <hex>`):
 * Kamailio has no RPC authentication of its own, so the lab's config (assets/kamailio/kamailio.cfg.tmpl)
 * includes this file, which defines the one Authorization value its `event_route[xhttp:request]`
 * accepts. Made afresh by every `lab up`, mode 0600: only the user who started the lab can read it,
 * so only that user can call the RPC.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileFault } from "../core/errors.js";
import { FileMode, writeFileAtomic } from "../files/atomic-write.js";

/** its name beside the lab's kamailio.cfg */
export const RPC_SECRET_CFG = "kamailio-rpc-secret.cfg";

/** The include file's text (pure): a Kamailio preprocessor substitution of the Authorization value. */
export function rpcSecretCfg(token: string): string {
  if (!/^[0-9a-f]{32,}$/.test(token)) throw new Error("rpc secret: expected lowercase hex");
  return (
    "# pbx-cutover: the one Authorization value the lab's JSON-RPC accepts (made by `lab up`; mode 0600)\n" +
    `#!substdef "!PBX_CUTOVER_RPC_AUTHORIZATION!Bearer ${token}!"\n`
  );
}

/** The Authorization value an include file defines (pure), or undefined. */
export function authorizationOf(cfg: string): string | undefined {
  const m = /^#!substdef "!PBX_CUTOVER_RPC_AUTHORIZATION!(Bearer [0-9a-f]{32,})!"$/m.exec(cfg);
  return m?.[1];
}

/** A new secret in `file` (0600); returns the Authorization value callers send. */
export function writeRpcSecret(file: string): string {
  const token = randomBytes(32).toString("hex");
  writeFileAtomic(file, rpcSecretCfg(token), { mode: FileMode.private });
  return `Bearer ${token}`;
}

/** The Authorization value of a lab's include file; undefined when there is none (no lab was started there). */
export function readRpcAuthorization(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fileFault(err, file, "read");
  }
  return authorizationOf(text);
}
