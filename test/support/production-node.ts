/**
 * "Production" Kamailio nodes for end-to-end tests: started by the test, not by pbx-cutover. Each
 * node runs its own kamailio.cfg shaped like an operator's (dispatcher from a list file, JSON-RPC over
 * xhttp with an auth check in event_route[xhttp:request], a ctl socket for kamcmd, siptrace mirroring
 * HEP3 to an address the test names, a dialog profile keyed by destination, `reload_delta` as the
 * test chooses), on its own loopback address 127.0.1.x, with two SIPp stand-ins as its PBXs.
 * The tool is only ever handed a target file that describes the node.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import https from "node:https";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { stringify } from "yaml";
import os from "node:os";
import path from "node:path";
import { isTcpFree, isUdpFree } from "../../src/os/ports.js";
import { ROOT } from "./lab-fixture.js";
import { uacArgv } from "../../src/sipp/argv.js";
import { startSipp } from "../../src/sipp/runner.js";

const KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

export type NodeAuth = { basic: { user: string; password: string } } | { bearer: string };

export interface ProductionNodeOptions {
  auth: NodeAuth;
  /** where siptrace mirrors HEP3 (the tool's collector); default 127.0.0.1 and a free port */
  hep?: { address: string; port: number };
  /** Kamailio's own default is 5 */
  reloadDelta?: number;
  /** the ds_select_dst algorithm of the node's config (4 round-robin, 9 weight-based) */
  algorithm?: 4 | 9;
  setId?: number;
  /** the dialog profile (with value) the node's config sets per destination; null: none */
  dialogProfile?: string | null;
  /** the list the node starts with; default: set `setId` with old only (flags 0, priority 0) */
  initialList?: (uris: { old: string; new: string }) => string;
  /** the SIPp scenario each stand-in plays (assets/sipp/, or an absolute path), default uas-answer.xml */
  scenarios?: { old?: string; new?: string };
  /** also run an sshd (Debian's openssh-server) on the node's address, with a test-only host key and client key */
  ssh?: boolean;
  /**
   * where the node's dispatcher reads its list: a file (default), or the dispatcher table of a
   * PostgreSQL the harness starts on the node's address (Kamailio's db_postgres, Debian's schema files)
   */
  listSource?: "file" | "db";
  /** read the dispatcher table of another node's PostgreSQL (a fleet sharing one table); that node owns it */
  sharedDb?: NodeDb;
  /** route to another node's stand-ins (a fleet: every node in front of the same two PBXs) instead of starting its own */
  sharedBackends?: ProductionNode["backends"];
  /**
   * serve the JSON-RPC over TLS (Kamailio's tls module, Debian's kamailio-tls-modules) instead of plain
   * TCP, with a certificate for the node's address signed by a CA the harness makes
   */
  https?: boolean;
  /**
   * this node's path to the new PBX is "broken": it marks the INVITEs it relays to new with
   * `X-Harness-Path: broken`, which test/fixtures/sipp/uas-503-when-marked.xml refuses with 503
   */
  brokenPathToNew?: boolean;
}

/** A node's TLS (https: true): the test CA (PEM) that signed its certificate. */
export interface NodeTls {
  caFile: string;
}

/** the new PBX's stand-in that refuses what a node with brokenPathToNew relays to it */
export const UAS_503_WHEN_MARKED = path.join(ROOT, "test", "fixtures", "sipp", "uas-503-when-marked.xml");

/** The node's PostgreSQL (listSource db): the dispatcher table Kamailio reads. */
export interface NodeDb {
  /** postgres://USER@ADDRESS:PORT/DATABASE, without the password */
  url: string;
  password: string;
  /** one SQL script through psql as the table's owner (the test's own reads and writes); stdout */
  sql(script: string): string;
  /** the table's rows as list lines, in id order */
  rows(): string[];
  /** a psql session that holds `script` open (a lock, a sleep) until killed */
  hold(script: string): ChildProcess;
  /** PostgreSQL goes away at once (immediate shutdown: open transactions are not committed) */
  crash(): Promise<void>;
  start(): Promise<void>;
}

/** The node's sshd: a host key of its own, a test-only client key, and a known_hosts line for it. */
export interface NodeSsh {
  port: number;
  user: string;
  /** the test-only client key (0600) whose public half is the sshd's only authorized key */
  identityFile: string;
  /** `[address]:port ssh-ed25519 AAAA...`: what a known_hosts file holds for this sshd */
  knownHostsLine: string;
  log: string;
}

export interface ProductionNode {
  dir: string;
  address: string;
  sipPort: number;
  httpPort: number;
  ctlSocket: string;
  listFile: string;
  cfgFile: string;
  log: string;
  hep: { address: string; port: number };
  setId: number;
  backends: {
    old: { uri: string; port: number; messages: string };
    new: { uri: string; port: number; messages: string };
  };
  /** the Authorization header the node's config accepts */
  authorization: string;
  /** the RPC's URL: http://ADDRESS:PORT/RPC, or https:// with `tls` */
  rpcUrl: string;
  tls: NodeTls | undefined;
  ssh: NodeSsh | undefined;
  db: NodeDb | undefined;
  /** one JSON-RPC call with the right credentials (for the test's own reads) */
  rpc(method: string, params?: readonly (string | number)[]): Promise<unknown>;
  /**
   * stop Kamailio and start it again from its config (the list file is re-read); with `reloadDelta`,
   * the config's reload_delta is that from now on
   */
  restart(o?: { reloadDelta?: number }): Promise<void>;
  /** Kamailio's process group (SIGSTOP it to freeze the node's RPC) */
  kamailioGroup(): number;
  stop(): Promise<void>;
}

const used = new Set<string>();

/** process groups of every node and stand-in still running: killed when the test process exits, whatever failed */
const groups = new Set<number>();
process.once("exit", () => {
  for (const g of groups) {
    try {
      process.kill(-g, "SIGKILL");
    } catch {
      /* gone */
    }
  }
});

/** A 127.0.1.x address no other node of this process uses, and free ports on it. */
async function nodeAddress(): Promise<{
  address: string;
  sip: number;
  http: number;
  old: number;
  new: number;
  ssh: number;
  pg: number;
}> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const address = `127.0.1.${2 + Math.floor(Math.random() * 250)}`;
    if (used.has(address)) continue;
    const base = 25000 + Math.floor(Math.random() * 1000) * 10;
    const ok = await Promise.all([
      isUdpFree(address, base),
      isTcpFree(address, base + 1),
      isUdpFree(address, base + 2),
      isUdpFree(address, base + 3),
      isTcpFree(address, base + 4),
      isTcpFree(address, base + 5),
    ]);
    if (ok.every(Boolean)) {
      used.add(address);
      return { address, sip: base, http: base + 1, old: base + 2, new: base + 3, ssh: base + 4, pg: base + 5 };
    }
  }
  throw new Error("no free 127.0.1.x address and ports found");
}

export function authorizationOf(auth: NodeAuth): string {
  return "basic" in auth
    ? `Basic ${Buffer.from(`${auth.basic.user}:${auth.basic.password}`).toString("base64")}`
    : `Bearer ${auth.bearer}`;
}

/** The node's kamailio.cfg: what an operator's looks like (pure). */
export function operatorConfig(v: {
  address: string;
  sipPort: number;
  httpPort: number;
  ctlSocket: string;
  listFile: string;
  /** the dispatcher table's URL with its password (listSource db) instead of the list file */
  dbUrl?: string;
  reloadDelta: number;
  algorithm: number;
  setId: number;
  hep: { address: string; port: number };
  authorization: string;
  dialogProfile: string | null;
  /** the RPC over TLS with this certificate and key (the tls module) */
  tls?: { certificate: string; privateKey: string };
  /** INVITEs relayed to this URI carry `X-Harness-Path: broken` (a node whose path to it is broken) */
  markTo?: string;
}): string {
  const profile = v.dialogProfile;
  const tls = v.tls;
  return `#!KAMAILIO
# an operator's proxy in front of two PBXs (test harness node)
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:${v.address}:${v.sipPort}
${tls ? `enable_tls=yes\nlisten=tls:${v.address}:${v.httpPort}` : `listen=tcp:${v.address}:${v.httpPort}`}
tcp_accept_no_cl=yes
mpath="${KAMAILIO_MODULES}"
${tls ? '\nloadmodule "tls.so"\n' : ""}
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "xlog.so"
loadmodule "ctl.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
${v.dbUrl ? 'loadmodule "db_postgres.so"\n' : ""}loadmodule "dispatcher.so"
loadmodule "dialog.so"
loadmodule "siptrace.so"

${tls ? `modparam("tls", "certificate", "${tls.certificate}")\nmodparam("tls", "private_key", "${tls.privateKey}")\nmodparam("tls", "tls_method", "TLSv1.2+")\n` : ""}modparam("ctl", "binrpc", "unix:${v.ctlSocket}")
modparam("jsonrpcs", "transport", 1)
${v.dbUrl ? `modparam("dispatcher", "db_url", "${v.dbUrl}")` : `modparam("dispatcher", "list_file", "${v.listFile}")`}
modparam("dispatcher", "reload_delta", ${v.reloadDelta})
modparam("dispatcher", "ds_ping_interval", 0)
modparam("rr", "append_fromtag", 1)
${profile === null ? "" : `modparam("dialog", "profiles_with_value", "${profile}")`}
modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_mode", 1)
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", 3)
modparam("siptrace", "hep_capture_id", 7)
modparam("siptrace", "duplicate_uri", "sip:${v.hep.address}:${v.hep.port}")

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (has_totag()) {
    if (loose_route()) {
      t_relay();
      exit;
    }
    if (is_method("ACK")) {
      if (t_check_trans()) t_relay();
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) {
    if (t_check_trans()) t_relay();
    exit;
  }
  if (t_check_trans()) exit;
  if (is_method("INVITE")) record_route();
  if (!ds_select_dst("${v.setId}", "${v.algorithm}")) {
    sl_send_reply("503", "No destination");
    exit;
  }
${
  v.markTo
    ? `  if ($du == "${v.markTo}") append_hf("X-Harness-Path: broken\\r\\n");
`
    : ""
}  if (is_method("INVITE")) {
    dlg_manage();
${profile === null ? "" : `    set_dlg_profile("${profile}", "$du");\n`}  }
  if (!t_relay()) sl_reply_error();
  exit;
}

# Kamailio has no RPC authentication: the operator checks the caller here
event_route[xhttp:request] {
  if ($hu =~ "^/RPC") {
    if ($hdr(Authorization) != "${v.authorization}") {
      xhttp_reply("401", "Unauthorized", "text/plain", "who are you?");
      exit;
    }
    jsonrpc_dispatch();
    exit;
  }
  xhttp_reply("404", "Not Found", "text/plain", "");
}
`;
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    }, 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(-child.pid!, "SIGTERM");
      // a frozen (SIGSTOPped) node ends too
      process.kill(-child.pid!, "SIGCONT");
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

function spawnGroup(argv: string[], log: string, cwd: string): ChildProcess {
  const fd = openSync(log, "a");
  try {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, detached: true, stdio: ["ignore", fd, fd] });
    child.on("error", () => undefined);
    const pid = child.pid;
    if (pid !== undefined) {
      groups.add(pid);
      child.once("exit", () => groups.delete(pid));
    }
    return child;
  } finally {
    closeSync(fd);
  }
}

async function untilReady(what: string, probe: () => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms: ${last instanceof Error ? last.message : String(last)}`);
}

async function rawRpc(
  url: string,
  ca: Buffer | undefined,
  authorization: string,
  method: string,
  params: readonly (string | number)[] = [],
): Promise<unknown> {
  const payload = JSON.stringify({ jsonrpc: "2.0", method, params, id: 1 });
  const headers = { authorization, "content-type": "application/json" };
  const text = ca
    ? await new Promise<string>((resolve, reject) => {
        const req = https.request(url, { method: "POST", headers, ca, timeout: 3000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("no reply within 3000 ms")));
        req.on("error", reject);
        req.end(payload);
      })
    : await (await fetch(url, { method: "POST", headers, body: payload, signal: AbortSignal.timeout(3000) })).text();
  const body = JSON.parse(text) as { result?: unknown; error?: { code: number; message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
  return body.result;
}

/** Start a node and its two stand-ins; resolves when Kamailio's RPC answers and both stand-ins listen. */
export async function startProductionNode(o: ProductionNodeOptions): Promise<ProductionNode> {
  const at = await nodeAddress();
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-node-"));
  const setId = o.setId ?? 1;
  const hep = o.hep ?? { address: "127.0.0.1", port: 9 };
  const authorization = authorizationOf(o.auth);
  const shared = o.sharedBackends;
  const uris = shared
    ? { old: shared.old.uri, new: shared.new.uri }
    : { old: `sip:${at.address}:${at.old}`, new: `sip:${at.address}:${at.new}` };
  const listFile = path.join(dir, "dispatcher.list");
  const cfgFile = path.join(dir, "kamailio.cfg");
  const ctlSocket = path.join(dir, "kamailio_ctl");
  const log = path.join(dir, "kamailio.log");
  const initial = o.initialList?.(uris) ?? `# PBXs\n${setId} ${uris.old} 0 0\n`;
  writeFileSync(listFile, initial);
  let own: (NodeDb & { stop(): Promise<void> }) | undefined;
  if (o.listSource === "db" && o.sharedDb === undefined) own = await startPostgres(at.address, at.pg, initial);
  const db: NodeDb | undefined = own ?? o.sharedDb;
  if (o.https && !existsSync(`${KAMAILIO_MODULES}tls.so`))
    throw new Error(`${KAMAILIO_MODULES}tls.so is missing: scripts/install-deps.sh installs kamailio-tls-modules`);
  const tls = o.https ? makeNodeCertificate(dir, at.address) : undefined;
  const rpcUrl = `${tls ? "https" : "http"}://${at.address}:${at.http}/RPC`;
  const ca = tls ? readFileSync(tls.caFile) : undefined;
  writeFileSync(
    cfgFile,
    operatorConfig({
      address: at.address,
      sipPort: at.sip,
      httpPort: at.http,
      ctlSocket,
      listFile,
      ...(db ? { dbUrl: db.url.replace("postgres://kamailio@", `postgres://kamailio:${db.password}@`) } : {}),
      reloadDelta: o.reloadDelta ?? 5,
      algorithm: o.algorithm ?? 4,
      setId,
      hep,
      authorization,
      dialogProfile: o.dialogProfile === undefined ? "pbx" : o.dialogProfile,
      ...(tls ? { tls: { certificate: tls.certificate, privateKey: tls.privateKey } } : {}),
      ...(o.brokenPathToNew ? { markTo: uris.new } : {}),
    }),
  );
  let kamailio: ChildProcess | undefined;
  let sshd: ChildProcess | undefined;
  let ssh: NodeSsh | undefined;
  const uas: ChildProcess[] = [];
  const startKamailio = async (): Promise<void> => {
    kamailio = spawnGroup(
      ["/usr/sbin/kamailio", "-DD", "-E", "-f", cfgFile, "-m", "128", "-M", "8", "-Y", dir, "-w", dir],
      log,
      dir,
    );
    await untilReady(`kamailio node ${at.address}`, async () => {
      if (kamailio!.exitCode !== null) {
        const tail = readFileSync(log, "utf8").trim().split("\n").slice(-8).join("\n");
        throw new Error(`kamailio exited ${kamailio!.exitCode}:\n${tail}`);
      }
      await rawRpc(rpcUrl, ca, authorization, "core.version");
    });
  };
  const messages = shared
    ? { old: shared.old.messages, new: shared.new.messages }
    : { old: path.join(dir, "uas-old.messages.log"), new: path.join(dir, "uas-new.messages.log") };
  try {
    for (const role of shared ? [] : (["old", "new"] as const)) {
      const name = o.scenarios?.[role] ?? "uas-answer.xml";
      const scenario = path.isAbsolute(name) ? name : path.join(ROOT, "assets", "sipp", name);
      uas.push(
        spawnGroup(
          [
            "/usr/bin/sipp",
            "-sf",
            scenario,
            "-i",
            at.address,
            "-p",
            String(at[role]),
            "-ci",
            at.address,
            "-set",
            "server_name",
            `SIPp stand-in (harness ${role} PBX)`,
            "-trace_msg",
            "-message_file",
            messages[role],
            "-nostdin",
          ],
          path.join(dir, `uas-${role}.stdout.log`),
          dir,
        ),
      );
    }
    await startKamailio();
    if (o.ssh) {
      const started = await startSshd(dir, at.address, at.ssh);
      sshd = started.child;
      ssh = started.ssh;
    }
    for (const role of shared ? [] : (["old", "new"] as const)) {
      await untilReady(`stand-in ${role}`, async () => {
        if (await isUdpFree(at.address, at[role])) throw new Error("not listening yet");
      });
    }
  } catch (err) {
    await Promise.all([stopChild(kamailio), stopChild(sshd), ...uas.map(stopChild)]);
    await own?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    address: at.address,
    sipPort: at.sip,
    httpPort: at.http,
    ctlSocket,
    listFile,
    cfgFile,
    log,
    hep,
    setId,
    backends: shared ?? {
      old: { uri: uris.old, port: at.old, messages: messages.old },
      new: { uri: uris.new, port: at.new, messages: messages.new },
    },
    authorization,
    rpcUrl,
    tls: tls ? { caFile: tls.caFile } : undefined,
    ssh,
    db,
    rpc: (method, params) => rawRpc(rpcUrl, ca, authorization, method, params),
    async restart(r) {
      await stopChild(kamailio);
      if (r?.reloadDelta !== undefined)
        writeFileSync(
          cfgFile,
          readFileSync(cfgFile, "utf8").replace(
            /^modparam\("dispatcher", "reload_delta", \d+\)$/m,
            `modparam("dispatcher", "reload_delta", ${r.reloadDelta})`,
          ),
        );
      await startKamailio();
    },
    kamailioGroup: () => kamailio!.pid!,
    async stop() {
      await Promise.all([stopChild(kamailio), stopChild(sshd), ...uas.map(stopChild)]);
      await own?.stop();
      used.delete(at.address);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** openssl with its output kept for the error */
function openssl(args: string[]): void {
  const r = spawnSync("/usr/bin/openssl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/**
 * A test CA and a certificate for the node's address signed by it (subjectAltName IP: the client
 * checks the address it connects to), both EC P-256, in the node's tls/ directory.
 */
export function makeNodeCertificate(
  dir: string,
  address: string,
  name = "ca",
): { caFile: string; certificate: string; privateKey: string } {
  const tlsDir = path.join(dir, "tls");
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const f = (n: string): string => path.join(tlsDir, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f(`${name}.key`),
    "-out",
    f(`${name}.pem`),
    "-days",
    "2",
    "-subj",
    `/CN=pbx-cutover test ${name}`,
  ]);
  openssl(["req", ...ec, "-keyout", f("node.key"), "-out", f("node.csr"), "-subj", `/CN=${address}`]);
  writeFileSync(f("node.ext"), `subjectAltName=IP:${address}\n`);
  openssl([
    "x509",
    "-req",
    "-in",
    f("node.csr"),
    "-CA",
    f(`${name}.pem`),
    "-CAkey",
    f(`${name}.key`),
    "-CAcreateserial",
    "-out",
    f("node.pem"),
    "-days",
    "2",
    "-extfile",
    f("node.ext"),
  ]);
  return { caFile: f(`${name}.pem`), certificate: f("node.pem"), privateKey: f("node.key") };
}

const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_SCHEMA = "/usr/share/kamailio/postgres";

/** run as the postgres system user (initdb and postgres refuse root) */
const asPostgres = (argv: string[]): string[] => [
  "/usr/bin/setpriv",
  "--reuid=postgres",
  "--regid=postgres",
  "--init-groups",
  ...argv,
];

/**
 * A PostgreSQL 15 (Debian's) for one node, started by the test: its own data directory, listening on
 * the node's address (password auth for TCP, as Kamailio's db_url uses it) and a unix socket in its
 * directory (the test's own psql), a `kamailio` role and database with Kamailio's version and
 * dispatcher tables from the schema files kamailio-postgres-modules ships, and `initial`'s entries
 * as rows.
 */
async function startPostgres(
  address: string,
  port: number,
  initial: string,
): Promise<NodeDb & { stop(): Promise<void> }> {
  for (const f of [`${PG_BIN}/postgres`, `${PG_SCHEMA}/dispatcher-create.sql`])
    if (!existsSync(f))
      throw new Error(`${f} is missing: scripts/install-deps.sh installs postgresql and kamailio-postgres-modules`);
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-pg-"));
  chmodSync(dir, 0o755);
  spawnSync("chown", ["postgres:postgres", dir]);
  const data = path.join(dir, "data");
  const initdb = asPostgres([
    `${PG_BIN}/initdb`,
    "-D",
    data,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--no-sync",
  ]);
  const init = spawnSync(initdb[0]!, initdb.slice(1), { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const log = path.join(dir, "postgres.log");
  let child: ChildProcess | undefined;
  const psql = (user: string, database: string, script: string): string => {
    const r = spawnSync(
      "/usr/bin/psql",
      [
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        user,
        "-d",
        database,
        "-f",
        "-",
      ],
      { input: script, encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
    return r.stdout;
  };
  const start = async (): Promise<void> => {
    child = spawnGroup(
      asPostgres([
        `${PG_BIN}/postgres`,
        "-D",
        data,
        "-k",
        dir,
        "-p",
        String(port),
        "-c",
        `listen_addresses=${address}`,
      ]),
      log,
      dir,
    );
    await untilReady(`postgres ${address}:${port}`, () => {
      if (child!.exitCode !== null) return Promise.reject(new Error(`postgres exited: ${readFileSync(log, "utf8")}`));
      const r = spawnSync(`${PG_BIN}/pg_isready`, ["-q", "-h", dir, "-p", String(port)]);
      return r.status === 0 ? Promise.resolve() : Promise.reject(new Error("not ready"));
    });
  };
  await start();
  const password = `pg-${Math.random().toString(36).slice(2, 10)}`;
  psql(
    "postgres",
    "postgres",
    `CREATE ROLE kamailio LOGIN PASSWORD '${password}';\nCREATE DATABASE kamailio OWNER kamailio;\n`,
  );
  const schema = ["standard-create.sql", "dispatcher-create.sql"].map((f) =>
    readFileSync(path.join(PG_SCHEMA, f), "utf8"),
  );
  const rows = initial
    .split("\n")
    .filter((l) => /^\d/.test(l.trim()))
    .map((l) => {
      const [setid, dest, flags, prio, attrs] = l.trim().split(/\s+/);
      return `INSERT INTO dispatcher (setid, destination, flags, priority, attrs) VALUES (${Number(setid)}, '${dest}', ${Number(flags ?? 0)}, ${Number(prio ?? 0)}, '${attrs ?? ""}');`;
    });
  psql("kamailio", "kamailio", [...schema, ...rows, ""].join("\n"));
  const url = `postgres://kamailio@${address}:${port}/kamailio`;
  return {
    url,
    password,
    sql: (script) => psql("kamailio", "kamailio", script),
    rows: () =>
      psql(
        "kamailio",
        "kamailio",
        "SELECT setid || ' ' || destination || ' ' || flags || ' ' || priority || CASE WHEN attrs = '' THEN '' ELSE ' ' || attrs END FROM dispatcher ORDER BY id;",
      )
        .split("\n")
        .filter(Boolean),
    hold: (script) =>
      spawnGroup(
        ["/usr/bin/psql", "-X", "-q", "-h", dir, "-p", String(port), "-U", "kamailio", "-d", "kamailio", "-c", script],
        path.join(dir, "hold.log"),
        dir,
      ),
    crash: async () => {
      const c = child;
      if (!c || c.exitCode !== null) return;
      // SIGQUIT: PostgreSQL's immediate shutdown; what was not committed is not there after a restart
      await new Promise<void>((resolve) => {
        c.once("exit", () => resolve());
        try {
          process.kill(c.pid!, "SIGQUIT");
        } catch {
          resolve();
        }
      });
    },
    start,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const SSHD = "/usr/sbin/sshd";

function keygen(file: string, comment: string): string {
  const r = spawnSync("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return readFileSync(`${file}.pub`, "utf8").trim();
}

/**
 * An sshd for one node, as the test's own process (Debian's openssh-server; scripts/install-deps.sh
 * installs it): listening only on the node's address and port, its own host key, public keys only,
 * one authorized key (a client key made here), no PAM. The test writes the known_hosts it hands the
 * tool from `knownHostsLine`.
 */
async function startSshd(dir: string, address: string, port: number): Promise<{ child: ChildProcess; ssh: NodeSsh }> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: scripts/install-deps.sh installs openssh-server`);
  const sshDir = path.join(dir, "ssh");
  mkdirSync(sshDir, { mode: 0o700 });
  const hostKey = path.join(sshDir, "host_ed25519");
  const hostPub = keygen(hostKey, "pbx-cutover test node");
  const identityFile = path.join(sshDir, "client_ed25519");
  const clientPub = keygen(identityFile, "pbx-cutover test client");
  const authorized = path.join(sshDir, "authorized_keys");
  writeFileSync(authorized, `${clientPub}\n`, { mode: 0o600 });
  const cfg = path.join(sshDir, "sshd_config");
  writeFileSync(
    cfg,
    [
      `ListenAddress ${address}:${port}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(sshDir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorized}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      // the test's temp dirs sit under the world-writable /tmp
      "StrictModes no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  // sshd refuses to start without its privilege separation directory
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const log = path.join(sshDir, "sshd.log");
  const child = spawnGroup([SSHD, "-D", "-e", "-f", cfg], log, sshDir);
  await untilReady(`sshd ${address}:${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${readFileSync(log, "utf8").trim()}`);
    if (await isTcpFree(address, port)) throw new Error("not listening yet");
  });
  const [type, key] = hostPub.split(/\s+/);
  return {
    child,
    ssh: {
      port,
      user: os.userInfo().username,
      identityFile,
      knownHostsLine: `[${address}]:${port} ${type} ${key}`,
      log,
    },
  };
}

export interface TargetFileOptions {
  /** the secret's file (written 0600 unless `secretMode`) */
  secret?: string;
  secretMode?: number;
  /** the HEP collector the target names (default: the node's mirror address) */
  hep?: { address: string; port: number } | null;
  algorithm?: number;
  /** the destinations' flags, priority, attrs as the operator's list writes them */
  lines?: {
    old?: { flags?: number; priority?: number; attrs?: string };
    new?: { flags?: number; priority?: number; attrs?: string };
  };
  /** merged over the file's top level (tests of bad input) */
  extra?: Record<string, unknown>;
  /**
   * how the tool reaches the node: JSON-RPC over HTTP (default), kamcmd on its ctl socket here, or
   * kamcmd and the list file over the node's sshd (the node must have been started with ssh)
   */
  transport?: "http" | "kamcmd" | "kamcmd-ssh";
  /** the known_hosts text handed to the tool (default: the node's own host key line) */
  knownHosts?: string;
  /** an https node's rpc.http.caFile (default: the node's test CA; null: none, the system's CAs) */
  caFile?: string | null;
}

/**
 * A target file for `node` in `dir` (YAML), with its RPC secret in a file beside it: what an operator
 * hands the tool. Returns the file's path and the secret.
 */
export function writeTargetFile(
  node: ProductionNode,
  dir: string,
  auth: NodeAuth,
  o: TargetFileOptions = {},
): { file: string; secret: string } {
  const secret = o.secret ?? ("basic" in auth ? auth.basic.password : auth.bearer);
  const secretFile = path.join(dir, "rpc.secret");
  writeFileSync(secretFile, `${secret}\n`, { mode: o.secretMode ?? 0o600 });
  chmodSync(secretFile, o.secretMode ?? 0o600);
  const hep = o.hep === undefined ? node.hep : o.hep;
  const transport = o.transport ?? "http";
  let ssh: Record<string, unknown> | undefined;
  if (transport === "kamcmd-ssh") {
    if (!node.ssh) throw new Error("transport kamcmd-ssh needs a node started with ssh: true");
    const knownHosts = path.join(dir, "known_hosts");
    writeFileSync(knownHosts, o.knownHosts ?? `${node.ssh.knownHostsLine}\n`);
    ssh = {
      host: node.address,
      port: node.ssh.port,
      user: node.ssh.user,
      knownHosts,
      identityFile: node.ssh.identityFile,
    };
  }
  const rpc = transport === "http" ? httpRpc(node, auth, secretFile, o.caFile) : { kamcmd: { socket: node.ctlSocket } };
  const file = writeDoc(dir, node, o, hep, [
    {
      name: "kam1",
      sip: `${node.address}:${node.sipPort}`,
      ...(ssh ? { ssh } : {}),
      rpc,
      list: node.db
        ? { db: { url: node.db.url, password: { file: writeSecret(dir, "db.secret", node.db.password) } } }
        : { file: { path: node.listFile } },
    },
  ]);
  return { file, secret };
}

function httpRpc(
  node: ProductionNode,
  auth: NodeAuth,
  secretFile: string,
  caFile: string | null = node.tls?.caFile ?? null,
): Record<string, unknown> {
  return {
    http: {
      url: node.rpcUrl,
      ...(caFile === null ? {} : { caFile }),
      auth:
        "basic" in auth
          ? { basic: { user: auth.basic.user, password: { file: secretFile } } }
          : { bearer: { file: secretFile } },
    },
  };
}

/** The target file's document around its nodes; destinations and set from `node`. */
function writeDoc(
  dir: string,
  node: ProductionNode,
  o: TargetFileOptions,
  hep: { address: string; port: number } | null,
  nodes: Record<string, unknown>[],
): string {
  const doc = {
    id: "harness",
    dispatcher: {
      setId: node.setId,
      algorithm: o.algorithm ?? 4,
      old: [{ uri: node.backends.old.uri, ...o.lines?.old }],
      new: [{ uri: node.backends.new.uri, ...o.lines?.new }],
    },
    sipPolicy: ["127.0.0.0/8"],
    ...(hep ? { hep: { collector: `${hep.address}:${hep.port}` } } : {}),
    dialogProfile: "pbx",
    stateDir: path.join(dir, "state"),
    nodes,
    ...o.extra,
  };
  const file = path.join(dir, "target.yaml");
  writeFileSync(file, stringify(doc));
  return file;
}

/** One node of a fleet's target file: JSON-RPC over HTTP, or kamcmd (its binary and timeout) on its ctl socket. */
export interface FleetNodeEntry {
  name: string;
  node: ProductionNode;
  kamcmd?: { binary: string; timeoutMs: number };
}

/**
 * A target file naming several nodes (a file per node: each its own list), all in front of the first
 * node's destinations, with the RPC secret in a file beside it.
 */
export function writeFleetTargetFile(
  entries: readonly FleetNodeEntry[],
  dir: string,
  auth: NodeAuth,
  o: Pick<TargetFileOptions, "algorithm" | "lines"> = {},
): string {
  const secretFile = path.join(dir, "rpc.secret");
  writeFileSync(secretFile, `${"basic" in auth ? auth.basic.password : auth.bearer}\n`, { mode: 0o600 });
  const first = entries[0]!.node;
  return writeDoc(
    dir,
    first,
    o,
    first.hep,
    entries.map((e) => ({
      name: e.name,
      sip: `${e.node.address}:${e.node.sipPort}`,
      rpc: e.kamcmd
        ? { kamcmd: { socket: e.node.ctlSocket, binary: e.kamcmd.binary, timeoutMs: e.kamcmd.timeoutMs } }
        : httpRpc(e.node, auth, secretFile),
      list: e.node.db
        ? { db: { url: e.node.db.url, password: { file: writeSecret(dir, "db.secret", e.node.db.password) } } }
        : { file: { path: e.node.listFile } },
    })),
  );
}

function writeSecret(dir: string, name: string, value: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

/** A free UDP port on `address` (the tool's HEP collector in a test). */
export async function freeUdpPort(address = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 35000 + Math.floor(Math.random() * 10000);
    if (await isUdpFree(address, port)) return port;
  }
  throw new Error(`no free UDP port on ${address}`);
}

export interface Callers {
  /** Call-IDs start with it */
  tag: string;
  /** stop placing calls; resolves once SIPp is gone */
  stop(): Promise<void>;
}

/**
 * SIPp users calling through the node at `rate` calls/s (the project's UAC scenario), until stopped:
 * the "real traffic" a production node mirrors. Files go to `dir`.
 */
export function startCallers(node: ProductionNode, dir: string, rate: number): Callers {
  const tag = `users-${Math.random().toString(16).slice(2, 8)}`;
  const argv = uacArgv("/usr/bin/sipp", path.join(ROOT, "assets", "sipp", "uac-call.xml"), {
    proxy: { address: node.address, port: node.sipPort },
    localAddress: node.address,
    service: "users",
    calls: rate * 3600,
    rate,
    holdMs: 100,
    callIdTag: tag,
    recvTimeoutMs: 4000,
    messageLog: path.join(dir, `${tag}.messages.log`),
    statFile: path.join(dir, `${tag}.stat.csv`),
    errorFile: path.join(dir, `${tag}.errors.log`),
  });
  const proc = startSipp(argv, { cwd: dir });
  return {
    tag,
    async stop() {
      await proc.stop();
    },
  };
}
