import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { after, describe, it } from "node:test";
import { UsageError } from "../core/errors.js";
import { buildProfile, buildStepProfile, renderProfile, withWeightAttr } from "../dispatcher/profile.js";
import { authorizationOf } from "./production-target.js";
import { readSecret, Secret, secretModeProblem } from "./secret.js";
import { readTargetFile, targetFromInput, type SecretResolver } from "./target-file.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-target-file-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    return [err.message, ...err.details].join("\n");
  }
  assert.fail("expected a UsageError");
}

const fakeSecrets: SecretResolver = (ref) => new Secret("pw", "file" in ref ? `file ${ref.file}` : `env ${ref.env}`);

const valid = () => ({
  id: "pbx-east",
  dispatcher: {
    setId: 1,
    algorithm: 9,
    old: [{ uri: "sip:10.0.0.10:5060", flags: 8, attrs: "duid=pbx-a;weight=100" }],
    new: [{ uri: "sip:10.0.0.20:5060", priority: 2 }],
  },
  hep: { collector: "10.0.0.5:9060" },
  nodes: [
    {
      name: "kam1",
      sip: "10.0.0.2:5060",
      rpc: { http: { url: "http://10.0.0.2:5071/RPC", auth: { basic: { user: "ops", password: { env: "KAM_PW" } } } } },
      list: { file: { path: "dispatcher.list" } },
    },
  ],
});

const parse = (raw: unknown) => targetFromInput(raw, "t.yaml", fakeSecrets, "/etc/pbx", { HOME: "/home/ops" });

describe("target files", () => {
  it("a valid file: destinations as written, policy from their addresses, paths from the file's directory", () => {
    const t = parse(valid());
    assert.equal(t.algorithm, 9);
    assert.deepEqual(t.old, { uri: "sip:10.0.0.10:5060", flags: 8, priority: 0, attrs: "duid=pbx-a;weight=100" });
    assert.deepEqual(t.new, { uri: "sip:10.0.0.20:5060", flags: 0, priority: 2, attrs: undefined });
    assert.deepEqual(t.sipPolicy.allow, ["10.0.0.10/32", "10.0.0.20/32"]);
    assert.deepEqual(t.hepCollector, { address: "10.0.0.5", port: 9060 });
    assert.deepEqual(t.nodes[0]!.list, { kind: "file", path: "/etc/pbx/dispatcher.list", ssh: undefined });
    assert.equal(t.stateDir, "/home/ops/.local/state/pbx-cutover/targets/pbx-east");
  });

  it("unknown keys anywhere are errors naming their path", () => {
    const raw = valid() as Record<string, unknown>;
    raw.extra = 1;
    (raw.nodes as { rpc: { http: Record<string, unknown> } }[])[0]!.rpc.http.proxy = "x";
    const text = usage(() => parse(raw));
    assert.match(text, /invalid target file; nothing was changed/);
    assert.match(text, /^extra: unknown key$/m);
    assert.match(text, /^nodes\[0\]\.rpc\.http\.proxy: unknown key$/m);
  });

  it("kamcmd on the ctl socket, and over the node's ssh: paths on the node are absolute, the local ones resolved", () => {
    const kh = path.join(dir, "known_hosts");
    writeFileSync(kh, "");
    const raw = valid() as unknown as { nodes: Record<string, unknown>[] };
    raw.nodes[0]!.rpc = { kamcmd: { socket: "/run/kamailio/kamailio_ctl" } };
    const local = parse(raw).nodes[0]!;
    assert.deepEqual(local.rpc, {
      kind: "kamcmd",
      socket: "/run/kamailio/kamailio_ctl",
      binary: "kamcmd",
      timeoutMs: 5000,
      ssh: undefined,
    });
    raw.nodes[0]!.ssh = { host: "kam1.example.net", user: "ops", knownHosts: kh };
    raw.nodes[0]!.list = { file: { path: "/etc/kamailio/dispatcher.list" } };
    const remote = parse(raw).nodes[0]!;
    const ssh = {
      host: "kam1.example.net",
      port: 22,
      user: "ops",
      knownHosts: kh,
      identityFile: undefined,
      connectTimeoutS: 5,
    };
    assert.deepEqual(remote.ssh, ssh);
    assert.deepEqual(remote.list, { kind: "file", path: "/etc/kamailio/dispatcher.list", ssh });
    assert.equal(remote.rpc.kind === "kamcmd" && remote.rpc.ssh?.host, "kam1.example.net");
  });

  it("the dispatcher table in PostgreSQL: the URL's parts checked, its password from a secret, never in the URL", () => {
    const raw = valid() as unknown as { nodes: Record<string, unknown>[] };
    raw.nodes[0]!.list = { db: { url: "postgres://kamailio@10.0.0.3:5433/kamailio", password: { env: "DB_PW" } } };
    const l = parse(raw).nodes[0]!.list;
    assert.equal(l.kind, "db");
    if (l.kind === "db") {
      assert.deepEqual(
        { ...l.db, password: l.db.password?.toString() },
        {
          host: "10.0.0.3",
          port: 5433,
          user: "kamailio",
          database: "kamailio",
          table: "dispatcher",
          password: String(new Secret("pw", "env DB_PW")),
          timeoutMs: 5000,
        },
      );
    }
    for (const [url, says] of [
      ["postgres://kamailio:pw@10.0.0.3/kamailio", /has a password in it/],
      ["postgres://kamailio@10.0.0.3/kamailio?sslmode=disable", /no parameters/],
      ["mysql://kamailio@10.0.0.3/kamailio", /mysql: is not postgres:/],
      ["postgres://10.0.0.3/kamailio", /needs a user name/],
      ["postgres://kamailio@10.0.0.3/kam;ailio", /needs a database name/],
    ] as const) {
      raw.nodes[0]!.list = { db: { url } };
      assert.match(
        usage(() => parse(raw)),
        says,
        url,
      );
    }
    raw.nodes[0]!.list = { db: { url: "postgres://k@10.0.0.3/k", table: "dispatcher; drop" }, file: { path: "/x" } };
    const text = usage(() => parse(raw));
    assert.match(text, /nodes\[0\]\.list\.db\.table: a table name/);
  });

  it("ssh and kamcmd input that could be read as something else is refused (exit 2)", () => {
    const raw = valid() as unknown as { nodes: Record<string, unknown>[] };
    raw.nodes[0]!.ssh = { host: "-oProxyCommand=x", user: "ops;id", knownHosts: "/nonexistent/known_hosts" };
    raw.nodes[0]!.rpc = { kamcmd: { socket: "run/ctl", binary: "kamcmd; id" } };
    const text = usage(() => parse(raw));
    assert.match(text, /^nodes\[0\]\.ssh\.host: an IPv4 address or a host name/m);
    assert.match(text, /^nodes\[0\]\.ssh\.user: a user name/m);
    assert.match(text, /^nodes\[0\]\.rpc\.kamcmd\.binary: a program name or path/m);
    raw.nodes[0]!.ssh = { host: "10.0.0.2", knownHosts: "/nonexistent/known_hosts" };
    raw.nodes[0]!.rpc = { kamcmd: { socket: "run/ctl\nx" } };
    const text2 = usage(() => parse(raw));
    assert.match(text2, /^nodes\[0\]\.ssh\.knownHosts: \/nonexistent\/known_hosts does not exist$/m);
    assert.match(text2, /^nodes\[0\]\.rpc\.kamcmd\.socket: control characters in a path$/m);
    assert.match(
      text2,
      /^nodes\[0\]\.list\.file\.path: dispatcher\.list is on the node \(over ssh\): give it as an absolute path$/m,
    );
    raw.nodes[0]!.rpc = { kamcmd: { socket: "/run/ctl" }, http: { url: "http://10.0.0.2:5071/RPC" } };
    assert.match(
      usage(() => parse(raw)),
      /nodes\[0\]\.rpc: name one transport, http or kamcmd/,
    );
  });

  it("an algorithm the plan's weights cannot express is refused", () => {
    const raw = valid();
    raw.dispatcher.algorithm = 0;
    assert.match(
      usage(() => parse(raw)),
      /dispatcher\.algorithm: 0 is not one pbx-cutover can step through/,
    );
  });

  it("a destination outside the policy, or the same PBX twice, is refused", () => {
    const raw = { ...valid(), sipPolicy: ["10.0.0.0/28"] };
    raw.dispatcher.new[0]!.uri = "sip:10.0.0.200:5060";
    assert.match(
      usage(() => parse(raw)),
      /dispatcher\.new\[0\]\.uri: .*outside/,
    );
    const twin = valid();
    twin.dispatcher.new[0]!.uri = "sip:10.0.0.10";
    assert.match(
      usage(() => parse(twin)),
      /are the same destination/,
    );
  });

  it("credentials in the RPC URL and a CA file for http: are refused", () => {
    const raw = valid();
    raw.nodes[0]!.rpc.http.url = "http://ops:pw@10.0.0.2:5071/RPC";
    assert.match(
      usage(() => parse(raw)),
      /has credentials in it/,
    );
  });

  it("a fleet: several nodes, each with its own list or one shared table; two nodes on one list file or one name are refused", () => {
    const two = valid();
    two.nodes.push({ ...two.nodes[0]!, name: "kam2", list: { file: { path: "kam2.list" } } });
    assert.deepEqual(
      parse(two).nodes.map((n) => [n.name, n.list.kind === "file" ? n.list.path : "db"]),
      [
        ["kam1", "/etc/pbx/dispatcher.list"],
        ["kam2", "/etc/pbx/kam2.list"],
      ],
    );
    const shared = valid();
    shared.nodes.push({ ...shared.nodes[0]!, name: "kam2" });
    assert.match(
      usage(() => parse(shared)),
      /^nodes\[1\]\.list\.file\.path: \/etc\/pbx\/dispatcher\.list is also the list of node kam1; each node needs its own list$/m,
    );
    // a fleet sharing one database table: every node reloads from it
    const table = valid() as unknown as { nodes: Record<string, unknown>[] };
    table.nodes.push({ ...table.nodes[0]!, name: "kam2" });
    const db = { db: { url: "postgres://kamailio@10.0.0.3:5433/kamailio", password: { env: "DB_PW" } } };
    table.nodes[0]!.list = db;
    table.nodes[1]!.list = db;
    process.env.DB_PW = "pw";
    assert.deepEqual(
      parse(table as never).nodes.map((n) => [n.name, n.list.kind]),
      [
        ["kam1", "db"],
        ["kam2", "db"],
      ],
    );
    // a table fleet names one table the same way on every node, and no list file beside it
    const other = structuredClone(table);
    other.nodes[1]!.list = { db: { ...db.db, url: "postgres://kamailio@10.0.0.4:5433/kamailio" } };
    assert.match(
      usage(() => parse(other)),
      /^nodes\[1\]\.list\.db: names postgres:\/\/kamailio@10\.0\.0\.4:5433\/kamailio table dispatcher, node kam1 postgres:\/\/kamailio@10\.0\.0\.3:5433\/kamailio table dispatcher; the nodes of a fleet on a database table share one table, named the same way$/m,
    );
    const mixed = structuredClone(table);
    mixed.nodes[1]!.list = { file: { path: "kam2.list" } };
    assert.match(
      usage(() => parse(mixed)),
      /^nodes\[1\]\.list\.file: node kam1 reads a database table; a fleet is either a list file per node or one shared table$/m,
    );
    const mixedFirst = structuredClone(table);
    mixedFirst.nodes[0]!.list = { file: { path: "kam1.list" } };
    assert.match(
      usage(() => parse(mixedFirst)),
      /^nodes\[1\]\.list\.db: node kam1 has a list file; a fleet is either a list file per node or one shared table$/m,
    );
    const twice = valid();
    twice.nodes.push({ ...twice.nodes[0]!, list: { file: { path: "kam2.list" } } });
    assert.match(
      usage(() => parse(twice)),
      /^nodes\[1\]\.name: kam1 names two nodes$/m,
    );
  });
});

describe("secrets", () => {
  it("a secret file readable by group or others is refused; 0600 is read without its newline", () => {
    const f = path.join(dir, "pw");
    writeFileSync(f, "s3cret\n");
    chmodSync(f, 0o644);
    assert.match(
      usage(() => readSecret({ file: f }, "rpc password")),
      /has mode 0644; .*chmod 600/,
    );
    chmodSync(f, 0o600);
    assert.equal(readSecret({ file: f }, "rpc password").reveal(), "s3cret");
    assert.equal(secretModeProblem(0o100400), undefined);
    assert.ok(secretModeProblem(0o100640));
  });

  it("an unset environment variable is refused; a secret never prints its value", () => {
    assert.match(
      usage(() => readSecret({ env: "NOPE" }, "token", {})),
      /environment variable NOPE is not set/,
    );
    const s = readSecret({ env: "TOK" }, "token", { TOK: "abc123" });
    assert.equal(s.reveal(), "abc123");
    const shown = [String(s), JSON.stringify({ s }), inspect({ s }), "" + s.toString()].join(" ");
    assert.doesNotMatch(shown, /abc123/);
  });

  it("readTargetFile reads the secret files it names (a 0644 one is exit 2)", () => {
    const pw = path.join(dir, "kam.pw");
    writeFileSync(pw, "hunter2\n", { mode: 0o644 });
    chmodSync(pw, 0o644);
    const file = path.join(dir, "target.json");
    const raw = valid();
    raw.nodes[0]!.rpc.http.auth = { basic: { user: "ops", password: { file: "kam.pw" } } } as never;
    writeFileSync(file, JSON.stringify(raw));
    assert.match(
      usage(() => readTargetFile(file)),
      /secret file .*kam\.pw has mode 0644/,
    );
    chmodSync(pw, 0o600);
    const t = readTargetFile(file);
    const rpc = t.nodes[0]!.rpc;
    assert.equal(rpc.kind, "http");
    assert.equal(
      authorizationOf(rpc.kind === "http" ? rpc.auth : undefined),
      `Basic ${Buffer.from("ops:hunter2").toString("base64")}`,
    );
  });
});

describe("profiles of a production target keep the operator's lines", () => {
  const asWritten = {
    old: { uri: "sip:10.0.0.10:5060", flags: 8, priority: 0, attrs: "duid=pbx-a;weight=100" },
    new: { uri: "sip:10.0.0.20:5060", flags: 0, priority: 2, attrs: undefined },
  };
  const inputs = {
    setId: 1,
    oldUri: asWritten.old.uri,
    newUri: asWritten.new.uri,
    policy: { name: "p", allow: ["10.0.0.0/24"] },
    asWritten,
  };

  it("flags, priority and attrs are kept; a weighted step sets only weight=", () => {
    const lines = (text: string) => text.split("\n").filter((l) => /^\d/.test(l));
    assert.deepEqual(lines(renderProfile(buildProfile("old", inputs))), [
      "1 sip:10.0.0.10:5060 8 0 duid=pbx-a;weight=100",
    ]);
    assert.deepEqual(lines(renderProfile(buildStepProfile(10, inputs, 9))), [
      "1 sip:10.0.0.10:5060 8 0 duid=pbx-a;weight=90",
      "1 sip:10.0.0.20:5060 0 2 weight=10",
    ]);
    assert.equal(withWeightAttr("a=1;WEIGHT=3;b=2", 7), "a=1;b=2;weight=7");
    assert.equal(withWeightAttr("weight=3", undefined), "weight=3");
  });
});
