/**
 * `--target FILE`: a Kamailio the tool did not start, described in YAML (schema below; unknown keys
 * anywhere are errors naming their path). `parseTargetFile` is pure; `readTargetFile` reads the file
 * and the secrets it names. Every problem is a UsageError (exit 2) thrown before anything is
 * contacted or changed.
 *
 *   id: pbx-east                       # names the tool's state (lock, backups) for this deployment
 *   dispatcher:
 *     setId: 1
 *     algorithm: 4                     # what the operator's ds_select_dst uses: 4 round-robin, 9 weight-based
 *     old: [{ uri: "sip:10.0.0.10:5060", flags: 8, attrs: "duid=pbx-a" }]
 *     new: [{ uri: "sip:10.0.0.20:5060" }]
 *   sipPolicy: [10.0.0.0/24]           # where SIP may go (default: the destinations' own addresses)
 *   hep: { collector: "10.0.0.5:9060" } # where the node's siptrace mirrors; the tool listens there
 *   dialogProfile: pbx                 # a dialog profile with value, set to $du per call (drain, check)
 *   stateDir: /var/lib/pbx-cutover/pbx-east   # lock and list backups (default $XDG_STATE_HOME/pbx-cutover/targets/ID)
 *   nodes:                             # one node, or a fleet: each with its own RPC; a list file each, or one shared database table
 *     - name: kam1
 *       sip: "10.0.0.2:5060"           # the node's SIP listener (OPTIONS from `target check`, probe calls)
 *       rpc:
 *         http:
 *           url: https://10.0.0.2:5071/RPC
 *           auth: { bearer: { file: /etc/pbx-cutover/kam1.token } }   # or basic: { user, password: {env: X} }
 *           caFile: /etc/pbx-cutover/kam-ca.pem
 *       list:
 *         file: { path: /etc/kamailio/dispatcher.list }
 */
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { issueLines } from "../core/zod-issues.js";
import { sameHostPort } from "../sip/sip-uri.js";
import { DISPATCHER_ALGORITHMS, type DispatcherAlgorithm } from "../dispatcher/weights.js";
import { parseYamlData, readBoundedFile } from "../files/yaml-file.js";
import { checkDestination, parseCidr, sipPolicy, type SipPolicy } from "../sip/sip-policy.js";
import { readSecret, type Secret, type SecretRef } from "./secret.js";
import type { SshConnection } from "../os/ssh.js";
import type { DbListSource } from "./db-list.js";
import { PbxSectionSchema, SecretRefSchema, pbxOf, type PbxSpec } from "./pbx-event-socket.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const SecretSchema = SecretRefSchema;

const DestinationSchema = z
  .object({
    uri: z.string().min(1),
    flags: z.number().int().min(0).max(0xffff).default(0),
    priority: z.number().int().min(0).max(999_999_999).default(0),
    attrs: z.string().min(1).optional(),
  })
  .strict();

const HttpRpcSchema = z
  .object({
    url: z.string().min(1),
    auth: z
      .union([
        z.object({ bearer: SecretSchema }).strict(),
        z.object({ basic: z.object({ user: z.string().min(1), password: SecretSchema }).strict() }).strict(),
      ])
      .optional(),
    caFile: z.string().min(1).optional(),
    timeoutMs: z.number().int().min(100).max(60_000).default(2000),
  })
  .strict();

const KamcmdRpcSchema = z
  .object({
    socket: z.string().min(1),
    binary: z
      .string()
      .regex(/^[A-Za-z0-9_./+-]+$/, "a program name or path (letters, digits, '.', '_', '/', '+', '-')")
      .default("kamcmd"),
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
  })
  .strict();

const SshSchema = z
  .object({
    host: z
      .string()
      .regex(
        /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/,
        "an IPv4 address or a host name (letters, digits, '.', '-')",
      ),
    port: z.number().int().min(1).max(65535).default(22),
    user: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, "a user name (letters, digits, '_', '.', '-')")
      .optional(),
    knownHosts: z.string().min(1),
    identityFile: z.string().min(1).optional(),
    connectTimeoutS: z.number().int().min(1).max(60).default(5),
  })
  .strict();

const DbListSchema = z
  .object({
    url: z.string().min(1),
    password: SecretSchema.optional(),
    table: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "a table name (letters, digits, '_')")
      .default("dispatcher"),
    timeoutMs: z.number().int().min(1000).max(60_000).default(5000),
  })
  .strict();

const ListSourceSchema = z
  .object({
    file: z
      .object({ path: z.string().min(1) })
      .strict()
      .optional(),
    db: DbListSchema.optional(),
  })
  .strict();

const NodeSchema = z
  .object({
    name: z.string().regex(NAME, "letters, digits, '.', '_' or '-' (at most 63)"),
    sip: z.string().min(1),
    ssh: SshSchema.optional(),
    rpc: z.object({ http: HttpRpcSchema.optional(), kamcmd: KamcmdRpcSchema.optional() }).strict(),
    list: ListSourceSchema,
  })
  .strict();

const TargetFileSchema = z
  .object({
    id: z.string().regex(NAME, "letters, digits, '.', '_' or '-' (at most 63)"),
    dispatcher: z
      .object({
        setId: z.number().int().min(0).max(999_999_999),
        algorithm: z.number().int(),
        old: z.array(DestinationSchema).min(1),
        new: z.array(DestinationSchema).min(1),
      })
      .strict(),
    sipPolicy: z.array(z.string()).min(1).optional(),
    hep: z
      .object({ collector: z.string().min(1) })
      .strict()
      .optional(),
    dialogProfile: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,64}$/, "a Kamailio dialog profile name")
      .optional(),
    stateDir: z.string().min(1).optional(),
    pbx: PbxSectionSchema.optional(),
    nodes: z.array(NodeSchema).min(1),
  })
  .strict();

type TargetFileInput = z.infer<typeof TargetFileSchema>;

/** A destination as the operator's list writes it (its flags, priority and attrs are kept). */
export interface TargetDestination {
  uri: string;
  flags: number;
  priority: number;
  attrs: string | undefined;
}

export interface Endpoint {
  address: string;
  port: number;
}

export type RpcTransport =
  | {
      kind: "http";
      url: URL;
      /** the Authorization header's value, built from the secret only when sent */
      auth: { scheme: "bearer"; token: Secret } | { scheme: "basic"; user: string; password: Secret } | undefined;
      caFile: string | undefined;
      timeoutMs: number;
    }
  | {
      /** kamcmd on the node's ctl socket: here, or on the node's host over its ssh */
      kind: "kamcmd";
      socket: string;
      binary: string;
      timeoutMs: number;
      ssh: SshConnection | undefined;
    };

/** the list file (here, or on the node's host over its ssh), or Kamailio's dispatcher table in PostgreSQL */
export type ListSource =
  { kind: "file"; path: string; ssh: SshConnection | undefined } | { kind: "db"; db: DbListSource };

export interface TargetNode {
  name: string;
  sip: Endpoint;
  /** kamcmd and the list file are on this host (reached over the system's ssh) */
  ssh: SshConnection | undefined;
  rpc: RpcTransport;
  list: ListSource;
}

export interface ProductionTargetSpec {
  source: string;
  id: string;
  setId: number;
  algorithm: DispatcherAlgorithm;
  old: TargetDestination;
  new: TargetDestination;
  sipPolicy: SipPolicy;
  hepCollector: Endpoint | undefined;
  dialogProfile: string | undefined;
  /** each backend PBX's event socket, when the file names one (the drain asks it once, not per node) */
  pbx: PbxSpec;
  /** where the tool keeps its lock and list backups for this target */
  stateDir: string;
  nodes: TargetNode[];
}

/** "a.b.c.d:port" (IPv4 literal: nothing is resolved). */
export function parseEndpoint(text: string): Endpoint | string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  if (!m || !parseCidr(`${m[1]}/32`)) return `${JSON.stringify(text)} is not an IPv4 address:port`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `${JSON.stringify(text)}: port ${port} is outside 1-65535`;
  return { address: m[1]!, port };
}

/** What the resolution of secrets needs (pure parse: a resolver that records instead of reading). */
export type SecretResolver = (ref: SecretRef, what: string) => Secret;

/**
 * Validate target data (already parsed from YAML): schema, then the rules across fields. Secrets are
 * resolved through `secret` (readSecret in readTargetFile). `baseDir` resolves relative paths.
 */
export function targetFromInput(
  raw: unknown,
  source: string,
  secret: SecretResolver,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): ProductionTargetSpec {
  const parsed = TargetFileSchema.safeParse(raw);
  const bad = (lines: string[]): never => {
    throw new UsageError(`${source}: invalid target file; nothing was changed`, lines);
  };
  if (!parsed.success) bad(issueLines(parsed.error.issues));
  const t = parsed.data as TargetFileInput;
  const problems: string[] = [];
  const d = t.dispatcher;
  if (!(DISPATCHER_ALGORITHMS as readonly number[]).includes(d.algorithm)) {
    problems.push(
      `dispatcher.algorithm: ${d.algorithm} is not one pbx-cutover can step through; it moves traffic with 4 (round-robin: 0/50/100) or 9 (weight-based: any weight)`,
    );
  }
  if (d.old.length !== 1 || d.new.length !== 1) {
    problems.push(
      `dispatcher.old / dispatcher.new: one destination each for now (old has ${d.old.length}, new has ${d.new.length})`,
    );
  }
  let policy: SipPolicy | undefined;
  if (t.sipPolicy) {
    const badCidrs = t.sipPolicy.filter((c) => !parseCidr(c));
    if (badCidrs.length > 0)
      problems.push(`sipPolicy: ${badCidrs.map((c) => JSON.stringify(c)).join(", ")} not IPv4 CIDRs`);
    else policy = sipPolicy(`the SIP policy of ${source}`, t.sipPolicy);
  }
  const dests = [...d.old.map((x) => ({ role: "old", x })), ...d.new.map((x) => ({ role: "new", x }))];
  // without an explicit policy the destinations' own addresses are the policy
  if (!t.sipPolicy) {
    const hosts = dests.flatMap(({ x }) => {
      const r = checkDestination(sipPolicy("any", ["0.0.0.0/0"]), x.uri);
      return r.ok ? [`${r.uri.host}/32`] : [];
    });
    policy = sipPolicy(`the SIP policy of ${source} (its destinations' addresses)`, hosts);
  }
  const checked = dests.map(({ role, x }, i) => {
    const r = checkDestination(policy ?? sipPolicy("any", ["0.0.0.0/0"]), x.uri);
    if (!r.ok) problems.push(`dispatcher.${role}[${role === "old" ? i : i - d.old.length}].uri: ${r.error}`);
    return r;
  });
  for (let i = 0; i < checked.length; i++)
    for (let j = i + 1; j < checked.length; j++) {
      const a = checked[i]!;
      const b = checked[j]!;
      if (a.ok && b.ok && sameHostPort(a.uri, b.uri))
        problems.push(
          `${dests[i]!.x.uri} and ${dests[j]!.x.uri} are the same destination; a migration needs two different PBXs`,
        );
    }
  const hep = t.hep ? parseEndpoint(t.hep.collector) : undefined;
  const pbx = pbxOf(t.pbx, policy, secret, baseDir, problems);
  if (typeof hep === "string") problems.push(`hep.collector: ${hep}`);
  const names = new Set<string>();
  const lists = new Map<string, string>();
  const table: NodeContext["table"] = {};
  const nodes: TargetNode[] = [];
  t.nodes.forEach((n, i) => {
    const at = `nodes[${i}]`;
    if (names.has(n.name)) problems.push(`${at}.name: ${n.name} names two nodes`);
    names.add(n.name);
    const node = nodeOf(n, at, { fleet: t.nodes.length > 1, lists, table, baseDir, secret, problems });
    if (node) nodes.push(node);
  });
  if (problems.length > 0) bad(problems);
  const entry = (x: z.infer<typeof DestinationSchema>): TargetDestination => ({
    uri: x.uri,
    flags: x.flags,
    priority: x.priority,
    attrs: x.attrs,
  });
  return {
    source,
    id: t.id,
    setId: d.setId,
    algorithm: d.algorithm as DispatcherAlgorithm,
    old: entry(d.old[0]!),
    new: entry(d.new[0]!),
    sipPolicy: policy!,
    hepCollector: hep as Endpoint | undefined,
    dialogProfile: t.dialogProfile,
    pbx,
    stateDir: t.stateDir
      ? path.resolve(baseDir, t.stateDir)
      : path.join(stateHome(env), "pbx-cutover", "targets", t.id),
    nodes,
  };
}

type NodeInput = TargetFileInput["nodes"][number];

/** What validating one node needs from the whole file; problems are collected, not thrown. */
interface NodeContext {
  fleet: boolean;
  /** list file -> node name, across the fleet */
  lists: Map<string, string>;
  /** the fleet's one database table (the first node on a table): every node of a table fleet names it */
  table: { first?: { node: string; key: string } };
  baseDir: string;
  secret: SecretResolver;
  problems: string[];
}

/** One node of the file: its SIP address, list source and RPC transport, or undefined with the problems said. */
function nodeOf(n: NodeInput, at: string, c: NodeContext): TargetNode | undefined {
  const { problems, baseDir } = c;
  const sip = parseEndpoint(n.sip);
  if (typeof sip === "string") problems.push(`${at}.sip: ${sip}`);
  const ssh = n.ssh ? sshOf(n.ssh, `${at}.ssh`, baseDir, problems) : undefined;
  const list = listSourceOf(n, at, ssh, c);
  if (list === undefined) return undefined;
  if ((n.rpc.http === undefined) === (n.rpc.kamcmd === undefined)) {
    problems.push(`${at}.rpc: name one transport, http or kamcmd`);
    return undefined;
  }
  if (n.rpc.kamcmd) {
    const k = n.rpc.kamcmd;
    const socket = remotePath(k.socket, `${at}.rpc.kamcmd.socket`, ssh, baseDir, problems);
    // sockaddr_un holds 107 bytes and a NUL
    if (Buffer.byteLength(socket) > 107)
      problems.push(`${at}.rpc.kamcmd.socket: ${socket} is longer than a unix socket path can be (107 bytes)`);
    if (typeof sip === "string") return undefined;
    return {
      name: n.name,
      sip,
      ssh,
      rpc: { kind: "kamcmd", socket, binary: k.binary, timeoutMs: k.timeoutMs, ssh },
      list,
    };
  }
  const rpc = httpRpcOf(n.rpc.http!, at, c);
  if (typeof sip === "string" || rpc === undefined) return undefined;
  return { name: n.name, sip, ssh, rpc, list };
}

function listSourceOf(n: NodeInput, at: string, ssh: TargetNode["ssh"], c: NodeContext): ListSource | undefined {
  const { problems, baseDir } = c;
  if ((n.list.file === undefined) === (n.list.db === undefined)) {
    problems.push(`${at}.list: name one source, file or db`);
    return undefined;
  }
  if (n.list.db) {
    const db = dbSourceOf(n.list.db, `${at}.list.db`, baseDir, c.secret, problems);
    if (db !== undefined && c.fleet) sameTable(db, n.name, `${at}.list.db`, c);
    return db === undefined ? undefined : { kind: "db", db };
  }
  if (c.fleet && c.table.first !== undefined)
    problems.push(
      `${at}.list.file: node ${c.table.first.node} reads a database table; a fleet is either a list file per node or one shared table`,
    );
  const listPath = remotePath(n.list.file!.path, `${at}.list.file.path`, ssh, baseDir, problems);
  // a fleet of file-per-node: two nodes writing one file would step each other's list
  const where = ssh ? `${ssh.host}:${ssh.port}:${listPath}` : listPath;
  const other = c.lists.get(where);
  if (other !== undefined)
    problems.push(`${at}.list.file.path: ${listPath} is also the list of node ${other}; each node needs its own list`);
  else c.lists.set(where, n.name);
  return { kind: "file", path: listPath, ssh };
}

/** A fleet on a database table: every node names the one table, reached the same way (one transaction, one lock row). */
function sameTable(db: DbListSource, name: string, at: string, c: NodeContext): void {
  const key = `postgres://${db.user}@${db.host}:${db.port}/${db.database} table ${db.table}`;
  const first = c.table.first;
  if (first === undefined) {
    if (c.lists.size > 0)
      c.problems.push(
        `${at}: node ${[...c.lists.values()][0]} has a list file; a fleet is either a list file per node or one shared table`,
      );
    c.table.first = { node: name, key };
  } else if (first.key !== key)
    c.problems.push(
      `${at}: names ${key}, node ${first.node} ${first.key}; the nodes of a fleet on a database table share one table, named the same way`,
    );
}

function httpRpcOf(
  h: NonNullable<NodeInput["rpc"]["http"]>,
  at: string,
  c: NodeContext,
): Extract<RpcTransport, { kind: "http" }> | undefined {
  const { problems, baseDir, secret } = c;
  let url: URL | undefined;
  try {
    url = new URL(h.url);
  } catch {
    problems.push(`${at}.rpc.http.url: ${JSON.stringify(h.url)} is not a URL`);
  }
  if (url && url.protocol !== "http:" && url.protocol !== "https:")
    problems.push(`${at}.rpc.http.url: ${url.protocol} is not http: or https:`);
  if (url && (url.username !== "" || url.password !== ""))
    problems.push(`${at}.rpc.http.url: has credentials in it; put them in rpc.http.auth (a 0600 file or an env var)`);
  if (url && h.caFile && url.protocol !== "https:") problems.push(`${at}.rpc.http.caFile: only for an https: url`);
  const caFile = h.caFile ? path.resolve(baseDir, h.caFile) : undefined;
  if (caFile && !existsSync(caFile)) problems.push(`${at}.rpc.http.caFile: ${caFile} does not exist`);
  let auth: Extract<RpcTransport, { kind: "http" }>["auth"];
  try {
    if (h.auth && "bearer" in h.auth)
      auth = { scheme: "bearer", token: secret(resolveRef(h.auth.bearer, baseDir), `${at}.rpc.http.auth.bearer`) };
    else if (h.auth)
      auth = {
        scheme: "basic",
        user: h.auth.basic.user,
        password: secret(resolveRef(h.auth.basic.password, baseDir), `${at}.rpc.http.auth.basic.password`),
      };
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    problems.push(err.message.replace(/; nothing was changed$/, ""));
  }
  return url ? { kind: "http", url, auth, caFile, timeoutMs: h.timeoutMs } : undefined;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A path on the node: over ssh it must be absolute (it is the node's, nothing here resolves it); a
 * local one is resolved against the target file's directory. Control characters are refused.
 */
function remotePath(
  p: string,
  at: string,
  ssh: SshConnection | undefined,
  baseDir: string,
  problems: string[],
): string {
  if (CONTROL.test(p)) problems.push(`${at}: control characters in a path`);
  if (ssh && !path.isAbsolute(p)) problems.push(`${at}: ${p} is on the node (over ssh): give it as an absolute path`);
  return ssh ? path.posix.normalize(p) : path.resolve(baseDir, p);
}

/** The node's ssh: the known_hosts file must be there (an empty one refuses every host). */
function sshOf(x: z.infer<typeof SshSchema>, at: string, baseDir: string, problems: string[]): SshConnection {
  const knownHosts = path.resolve(baseDir, x.knownHosts);
  if (!existsSync(knownHosts)) problems.push(`${at}.knownHosts: ${knownHosts} does not exist`);
  const identityFile = x.identityFile ? path.resolve(baseDir, x.identityFile) : undefined;
  if (identityFile && !existsSync(identityFile)) problems.push(`${at}.identityFile: ${identityFile} does not exist`);
  for (const [k, v] of [
    ["knownHosts", knownHosts],
    ["identityFile", identityFile],
  ] as const)
    if (v && CONTROL.test(v)) problems.push(`${at}.${k}: control characters in a path`);
  return { host: x.host, port: x.port, user: x.user, knownHosts, identityFile, connectTimeoutS: x.connectTimeoutS };
}

/**
 * `postgres://USER@HOST:PORT/DATABASE`: the password from the target's secret (never in the URL), no
 * parameters; the parts are what psql's connection string is made of, so each is checked here.
 */
function dbSourceOf(
  x: z.infer<typeof DbListSchema>,
  at: string,
  baseDir: string,
  secret: SecretResolver,
  problems: string[],
): DbListSource | undefined {
  let u: URL;
  try {
    u = new URL(x.url);
  } catch {
    problems.push(`${at}.url: ${JSON.stringify(x.url)} is not a URL`);
    return undefined;
  }
  const bad = (why: string): undefined => {
    problems.push(`${at}.url: ${why}`);
    return undefined;
  };
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") return bad(`${u.protocol} is not postgres:`);
  if (u.password !== "") return bad("has a password in it; put it in list.db.password (a 0600 file or an env var)");
  if (u.search !== "" || u.hash !== "") return bad("no parameters: postgres://USER@HOST:PORT/DATABASE");
  const user = decodeURIComponent(u.username);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,62}$/.test(user)) return bad("needs a user name (letters, digits, '_', '.', '-')");
  const host = u.hostname;
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(host))
    return bad("needs an IPv4 address or a host name");
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(database)) return bad("needs a database name (letters, digits, '_', '-')");
  let password: Secret | undefined;
  try {
    password = x.password ? secret(resolveRef(x.password, baseDir), `${at}.password`) : undefined;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    problems.push(err.message.replace(/; nothing was changed$/, ""));
  }
  return {
    host,
    port: u.port === "" ? 5432 : Number(u.port),
    user,
    database,
    table: x.table,
    password,
    timeoutMs: x.timeoutMs,
  };
}

/** $XDG_STATE_HOME, else ~/.local/state */
function stateHome(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_STATE_HOME;
  return xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME ?? os.homedir(), ".local", "state");
}

function resolveRef(ref: SecretRef, baseDir: string): SecretRef {
  return "file" in ref ? { file: path.resolve(baseDir, ref.file) } : ref;
}

/** Read a target file and its secrets (UsageError, exit 2, on any problem; nothing contacted). */
export function readTargetFile(file: string, env: NodeJS.ProcessEnv = process.env): ProductionTargetSpec {
  const data = parseYamlData(readBoundedFile(file, "target"), file, "target");
  if (data === undefined || data === null)
    throw new UsageError(`${file} is empty; a target file needs id, dispatcher and nodes`);
  return targetFromInput(data, file, (ref, what) => readSecret(ref, what, env), path.dirname(path.resolve(file)), env);
}
