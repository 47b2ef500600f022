/**
 * Bad input: exit 2, one clear line naming what was wrong, and nothing changed. "Nothing changed"
 * is proved, not assumed: the dispatcher.list bytes, Kamailio's runtime (dispatcher.list RPC), the
 * rollback point and Kamailio's log are the same before and after every refused command, and a
 * lab that was never started has no directory afterwards.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { labFixture, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";

/** The refusal is one clear line (plus optional indented details), never a stack trace. */
function assertRefused(r: CliResult, what: string, re: RegExp): void {
  assert.equal(r.code, 2, `${what}: expected exit 2, got ${r.code}\n${r.stderr}${r.stdout}`);
  assert.match(r.stderr, re, what);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${what}: no stack trace`);
  const first = r.stderr.split("\n")[0]!;
  assert.match(first, /^pbx-cutover: /, `${what}: the first line says what was wrong`);
}

interface Snapshot {
  list: string;
  listMtimeMs: number;
  runtime: string[];
  backup: string | undefined;
  kamailioLog: string;
}

describe("refused input on a running lab changes nothing (file bytes, runtime, rollback point)", () => {
  let f: LabFixture;
  let list: string;
  let backup: string;
  const snapshot = async (): Promise<Snapshot> => ({
    list: readFileSync(list, "utf8"),
    listMtimeMs: statSync(list).mtimeMs,
    runtime: await runtimeUris(f),
    backup: existsSync(backup) ? readFileSync(backup, "utf8") : undefined,
    kamailioLog: readFileSync(path.join(f.labDir, "kamailio.log"), "utf8"),
  });
  const assertUnchanged = async (before: Snapshot, what: string): Promise<void> => {
    const now = await snapshot();
    assert.equal(now.list, before.list, `${what}: dispatcher.list bytes unchanged`);
    assert.equal(now.listMtimeMs, before.listMtimeMs, `${what}: dispatcher.list not even rewritten`);
    assert.deepEqual(now.runtime, before.runtime, `${what}: Kamailio's runtime unchanged (no new destination)`);
    assert.equal(now.backup, before.backup, `${what}: rollback point unchanged`);
    // no reload, no resolution: Kamailio logged nothing new (a reload or a DNS failure is logged)
    assert.equal(now.kamailioLog, before.kamailioLog, `${what}: Kamailio logged nothing (no reload, no DNS lookup)`);
    assert.ok(!existsSync(path.join(f.labDir, "apply.lock")), `${what}: no lock left`);
  };

  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    list = path.join(f.labDir, "dispatcher.list");
    backup = path.join(f.labDir, "dispatcher-backups", "previous.list");
    // a rollback point exists (old -> both)
    const r = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("apply/migrate: destinations outside the lab's loopback policy, and one endpoint under two spellings", async () => {
    const old = uriOf(f, "old");
    const oldPort = f.ports.old;
    const cases: [string[], RegExp][] = [
      [
        ["apply", "--mode", "both", "--old-uri", "sip:10.0.0.1:5060"],
        /--old-uri "sip:10\.0\.0\.1:5060": .*10\.0\.0\.1 is outside the lab's SIP policy \(allowed: 127\.0\.0\.0\/8\)/,
      ],
      [["apply", "--mode", "new", "--new-uri", "sip:6.6.6.6:5060"], /--new-uri .*6\.6\.6\.6 is outside/],
      [
        ["apply", "--mode", "both", "--new-uri", "sip:pbx.example.com:5060"],
        /--new-uri .*host name pbx\.example\.com is not allowed.*DNS/,
      ],
      [
        ["apply", "--mode", "both", "--new-uri", "sip:localhost:5060"],
        /--new-uri .*host name localhost is not allowed/,
      ],
      [["apply", "--mode", "both", "--new-uri", "sip:[::1]:5060"], /--new-uri .*\[::1\].*(IPv6|outside)/],
      [
        ["apply", "--mode", "both", "--new-uri", `sip:127.0.0.01:${oldPort}`],
        /old and new backends are the same destination/,
      ],
      [
        ["apply", "--mode", "both", "--new-uri", old.replace("sip:", "SIP:")],
        /old and new backends are the same destination/,
      ],
      [
        ["apply", "--mode", "both", "--old-uri", "sip:127.0.0.1", "--new-uri", "sip:127.0.0.1:5060"],
        /old and new backends are the same destination/,
      ],
      [["apply", "--mode", "both", "--new-uri", "sip:127.0.0.1:70000"], /--new-uri .*port 70000 is outside 1-65535/],
      [["migrate", "--old-uri", "sip:10.0.0.1:5060"], /--old-uri .*outside the lab's SIP policy/],
    ];
    const before = await snapshot();
    for (const [args, re] of cases) {
      const r = await f.cli([
        ...args,
        ...f.flags,
        ...(args[0] === "migrate" ? ["--artifacts-dir", path.join(f.dir, "artifacts")] : []),
      ]);
      assertRefused(r, args.join(" "), re);
      await assertUnchanged(before, args.join(" "));
    }
    assert.ok(!existsSync(path.join(f.dir, "artifacts")), "migrate created no run folder");
  });

  test("rollback of a tampered previous.list (sip:6.6.6.6): exit 2, nothing applied", async () => {
    const saved = readFileSync(backup, "utf8");
    const cases: [string, RegExp][] = [
      [`${saved}1 sip:6.6.6.6:5060 0 0\n`, /previous\.list.*line \d+: .*6\.6\.6\.6 is outside the lab's SIP policy/],
      [`1 sip:gw.example.com:5060 0 0\n`, /previous\.list.*host name gw\.example\.com is not allowed/],
      [`7 ${uriOf(f, "old")} 0 0\n`, /previous\.list.*line 1: set 7 is not this target's dispatcher set \(1\)/],
      [`1 ${uriOf(f, "old")} 0 0\n1 sip:127.0.0.01:${f.ports.old} 0 0\n`, /previous\.list.*same destination/],
      ["1 sip:127.0.0.1:0 0 0\n", /previous\.list.*port 0 is outside/],
    ];
    try {
      for (const [text, re] of cases) {
        writeFileSync(backup, text);
        const before = await snapshot();
        const r = await f.cli(["rollback", ...f.flags]);
        assertRefused(r, `rollback of ${JSON.stringify(text)}`, re);
        assert.match(r.stderr, /nothing was changed/);
        await assertUnchanged(before, `rollback of ${JSON.stringify(text)}`);
      }
    } finally {
      writeFileSync(backup, saved);
    }
    // the honest rollback point still works
    const r = await f.cli(["rollback", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("verify: endpoints outside the lab's policy in the config file are refused before any probe", async () => {
    const cases: [unknown, RegExp][] = [
      [
        { verify: { old: { eventSocket: { host: "10.0.0.1", port: 8021, password: "x" } } } },
        /verify\.old\.eventSocket\.host: 10\.0\.0\.1 is outside the lab's SIP policy/,
      ],
      [
        { verify: { new: { fusionpbxUrl: "http://localhost:18081/" } } },
        /verify\.new\.fusionpbxUrl: host name localhost is not allowed/,
      ],
      [
        { verify: { new: { sip: "pbx.example.com:5060" } } },
        /verify\.new\.sip: host name pbx\.example\.com is not allowed/,
      ],
    ];
    const before = await snapshot();
    for (const [cfg, re] of cases) {
      const file = path.join(f.dir, "verify-config.json");
      writeFileSync(file, JSON.stringify(cfg));
      const artifacts = path.join(f.dir, "verify-artifacts");
      const r = await f.cli(["verify", "--config", file, "--artifacts-dir", artifacts, ...f.flags]);
      assertRefused(r, JSON.stringify(cfg), re);
      assert.ok(!existsSync(artifacts), "no run folder");
      await assertUnchanged(before, JSON.stringify(cfg));
    }
  });
});

describe("refused input on a lab that is not running: nothing is created or started", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });
  const assertNothingCreated = (what: string): void => {
    assert.ok(!existsSync(f.labDir), `${what}: no lab directory was created`);
  };

  test("--lab-dir (or lab.labDir) with characters Kamailio's config cannot hold, or too long for its ctl socket", async () => {
    const bad: [string, RegExp][] = [
      [path.join(f.dir, 'lab"quote'), /--lab-dir .*contains a double quote/],
      [path.join(f.dir, "lab\\backslash"), /--lab-dir .*contains a backslash/],
      [path.join(f.dir, "lab\nnewline"), /--lab-dir .*contains a control character/],
      [
        path.join(f.dir, "x".repeat(120)),
        /--lab-dir .*kamailio_ctl.* is \d+ bytes; Kamailio's ctl socket path holds at most 104/,
      ],
    ];
    for (const [dir, re] of bad) {
      const flags = f.flags.map((a) => (a === f.labDir ? dir : a));
      for (const cmd of [["lab", "up"], ["apply", "--mode", "old"], ["sim"]]) {
        const r = await f.cli([...cmd, ...flags]);
        assertRefused(r, `${cmd.join(" ")} --lab-dir ${JSON.stringify(dir)}`, re);
        assert.ok(!existsSync(dir), `${JSON.stringify(dir)}: no directory was created`);
      }
    }
    const cfg = path.join(f.dir, "labdir-config.json");
    writeFileSync(cfg, JSON.stringify({ lab: { labDir: path.join(f.dir, 'cfg"lab') } }));
    const flags = f.flags.filter((a, i) => a !== "--lab-dir" && f.flags[i - 1] !== "--lab-dir");
    const r = await f.cli(["lab", "up", "--config", cfg, ...flags]);
    assertRefused(r, "lab.labDir in the config file", /lab\.labDir .*contains a double quote/);
    assert.ok(!existsSync(path.join(f.dir, 'cfg"lab')));
    assertNothingCreated("lab-dir");
  });

  test("config file: only regular files up to 1 MiB; unknown keys at every level; wrong types even when a flag overrides", async () => {
    const fifo = path.join(f.dir, "config.fifo");
    execFileSync("mkfifo", [fifo]);
    const dir = path.join(f.dir, "config-dir");
    mkdirSync(dir);
    const big = path.join(f.dir, "big.json");
    writeFileSync(big, JSON.stringify({ lab: {}, pad: "x".repeat(1024 * 1024) }));
    const write = (name: string, v: unknown): string => {
      const file = path.join(f.dir, name);
      writeFileSync(file, typeof v === "string" ? v : JSON.stringify(v));
      return file;
    };
    const cases: [string, string[], RegExp][] = [
      ["/dev/zero", [], /config file \/dev\/zero is not a regular file/],
      [fifo, [], /config file .*config\.fifo is not a regular file \(a FIFO\)/],
      [dir, [], /config file .*config-dir is not a regular file \(a directory\)/],
      [big, [], /config file .*big\.json is \d+ bytes; the limit is 1 MiB/],
      [path.join(f.dir, "missing.json"), [], /cannot read config file .*missing\.json: ENOENT/],
      [write("top.json", { lab: {}, labs: {} }), [], /labs: unknown key/],
      [write("proto.json", '{"__proto__": {"labDir": "/tmp/evil"}}'), [], /__proto__: unknown key/],
      [write("ctor.json", { lab: { constructor: { x: 1 } } }), [], /lab\.constructor: unknown key/],
      [write("deep.json", { lab: { kamailio: { sipPrt: 5 } } }), [], /lab\.kamailio\.sipPrt: unknown key/],
      [
        write("verify.json", { verify: { old: { eventSocket: { host: "127.0.0.1", password: "x", pasword: "y" } } } }),
        [],
        /verify\.old\.eventSocket\.pasword: unknown key/,
      ],
      [
        write("type.json", { lab: { kamailio: { sipPort: "15060" } } }),
        ["--sip-port", String(f.ports.sip)],
        /lab\.kamailio\.sipPort: .*expected number/,
      ],
      [write("json.json", "{not json"), [], /is not valid JSON/],
    ];
    for (const [file, extra, re] of cases) {
      const r = await f.cli(["lab", "up", "--config", file, ...f.flags, ...extra], { timeoutMs: 20_000 });
      assertRefused(r, `--config ${file}`, re);
      assertNothingCreated(`--config ${file}`);
    }
  });

  test("flag errors name the flag, on every command", async () => {
    const cases: [string[], RegExp][] = [
      [["lab", "up", "--sip-port", "70000"], /--sip-port 70000: must be at most 65535/],
      [["lab", "status", "--rpc-port", "0"], /--rpc-port 0: must be at least 1/],
      [["lab", "up", "--old-addr", "10.0.0.1"], /--old-addr "10\.0\.0\.1": must be a loopback IPv4 address/],
      [["lab", "up", "--shm-mb", "4"], /--shm-mb 4: must be at least 16/],
      [["apply", "--mode", "old", "--children", "0"], /--children 0: must be at least 1/],
      [["rollback", "--reload-delta", "-1"], /--reload-delta -1: must be at least 0/],
      [["migrate", "--new-port", "abc"], /--new-port must be an integer/],
      [["sim", "--ready-timeout-ms", "5"], /--ready-timeout-ms 5: must be at least 100/],
      [["dashboard", "--pkg-mb", "99999"], /--pkg-mb 99999: must be at most 1024/],
      [["verify", "--sip-addr", "192.168.0.1"], /--sip-addr "192\.168\.0\.1": must be a loopback/],
    ];
    for (const [args, re] of cases) {
      // the fixture's flags first: the last one given wins
      const r = await f.cli(
        [args[0]!, ...(args[0] === "lab" ? [args[1]!] : []), ...f.flags, ...args.slice(args[0] === "lab" ? 2 : 1)],
        { timeoutMs: 20_000 },
      );
      assertRefused(r, args.join(" "), re);
      assertNothingCreated(args.join(" "));
    }
  });

  test("knobs whose run would take absurdly long are refused with the computed duration", async () => {
    for (const [args, re] of [
      [
        ["sim", "--call-rate", "0.000000001"],
        /the knobs ask for a run of at least [\d.]+ (years|days) \(.*CALL_RATE=1e-9.*\); the limit is 24 h/,
      ],
      [
        ["dashboard", "--calls-per-phase", "1000000", "--call-rate", "1"],
        /at least 34\.7 days \(.*\); the limit is 24 h/,
      ],
    ] as [string[], RegExp][]) {
      const r = await f.cli([...args, ...f.flags, "--artifacts-dir", path.join(f.dir, "sim-artifacts")], {
        timeoutMs: 20_000,
      });
      assertRefused(r, args.join(" "), re);
      assert.ok(!existsSync(path.join(f.dir, "sim-artifacts")), "no run folder");
      assertNothingCreated(args.join(" "));
    }
  });
});
