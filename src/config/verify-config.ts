import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { parseIntFlag } from "./lab-config.js";
import { hostProblem, type SipPolicy } from "../sip/sip-policy.js";

/**
 * The config file's `verify` section (validated here; src/config/file.ts passes it through):
 *
 *   "verify": {
 *     "timeoutMs": 1000,
 *     "throughProxy": true,
 *     "old": { "sip": "127.0.0.1:15070",
 *              "eventSocket": { "host": "127.0.0.1", "port": 8021, "passwordEnv": "OLD_ESL_PASSWORD" },
 *              "fusionpbxUrl": "http://127.0.0.1:18080/" },
 *     "new": { ... }
 *   }
 *
 * `sip` overrides where the direct OPTIONS probe goes (default: the target's backend).
 * The event-socket password comes from `password` or, better, from the env var named by `passwordEnv`;
 * it is never printed or written to an artifact.
 */
const hostPort = z
  .string()
  .regex(/^[^\s:]+:\d{1,5}$/, "must be host:port")
  .transform((s) => {
    const i = s.lastIndexOf(":");
    return { address: s.slice(0, i), port: Number(s.slice(i + 1)) };
  })
  .refine((v) => v.port >= 1 && v.port <= 65535, "port must be 1-65535");

const EventSocketSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(8021),
    password: z.string().min(1).optional(),
    passwordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
  })
  .strict()
  .refine((e) => e.password !== undefined || e.passwordEnv !== undefined, "give password or passwordEnv");

const BackendVerifySchema = z
  .object({
    sip: hostPort.optional(),
    eventSocket: EventSocketSchema.optional(),
    fusionpbxUrl: z.url({ protocol: /^https?$/ }).optional(),
  })
  .strict();

export const VerifySectionSchema = z
  .object({
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    throughProxy: z.boolean().default(true),
    old: BackendVerifySchema.default({}),
    new: BackendVerifySchema.default({}),
  })
  .strict();

export type VerifySection = z.infer<typeof VerifySectionSchema>;
export type BackendVerifyConfig = VerifySection["old"];

export interface EventSocketSettings {
  host: string;
  port: number;
  /** resolved secret; keep it out of every message and artifact */
  password: string;
}

/** Validate the raw `verify` section (undefined = all defaults). */
export function parseVerifySection(raw: unknown, flags: { timeoutMs?: string | undefined } = {}): VerifySection {
  const parsed = VerifySectionSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new UsageError(
      "invalid `verify` section in the config file; nothing was probed",
      parsed.error.issues.map((i) => `verify.${i.path.join(".") || "(root)"}: ${i.message}`),
    );
  }
  const v = parsed.data;
  if (flags.timeoutMs !== undefined) {
    const t = parseIntFlag("--timeout-ms", flags.timeoutMs);
    if (t < 50 || t > 60_000) throw new UsageError("--timeout-ms must be between 50 and 60000");
    v.timeoutMs = t;
  }
  return v;
}

/**
 * The endpoints of the `verify` section outside the target's SIP policy (pure): `sip`, the event
 * socket's host and the FusionPBX URL's host must be IPs inside it, so verify never sends a probe
 * or a DNS query anywhere else. One line per problem, naming the key.
 */
export function verifyEndpointProblems(config: VerifySection, policy: SipPolicy): string[] {
  const problems: string[] = [];
  for (const role of ["old", "new"] as const) {
    const c = config[role];
    const check = (key: string, host: string): void => {
      const p = hostProblem(policy, host);
      if (p !== undefined) problems.push(`verify.${role}.${key}: ${p}`);
    };
    if (c.sip) check("sip", c.sip.address);
    if (c.eventSocket) check("eventSocket.host", c.eventSocket.host);
    if (c.fusionpbxUrl) check("fusionpbxUrl", new URL(c.fusionpbxUrl).hostname);
  }
  return problems;
}

/** Resolve the event-socket password (config value or env var). Errors name the variable, never a value. */
export function eventSocketSettings(
  cfg: NonNullable<BackendVerifyConfig["eventSocket"]>,
  role: string,
  env: NodeJS.ProcessEnv = process.env,
): EventSocketSettings {
  let password = cfg.password;
  if (cfg.passwordEnv !== undefined) {
    const fromEnv = env[cfg.passwordEnv];
    if (fromEnv === undefined || fromEnv === "") {
      throw new UsageError(
        `verify.${role}.eventSocket.passwordEnv names ${cfg.passwordEnv}, which is not set; nothing was probed`,
      );
    }
    password = fromEnv;
  }
  return { host: cfg.host, port: cfg.port, password: password ?? "" };
}
