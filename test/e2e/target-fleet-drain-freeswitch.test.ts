/**
 * The drain of `migrate --target` on a fleet of three nodes (test/support/target-fleet.ts) in front of
 * real FreeSWITCH (old 1.10.3, new 1.10.12 from `make real-services`, started by the native lab), the
 * target file naming each PBX's event socket (old's password in a 0600 file, new's in an environment
 * variable). Kamailio's dialogs are summed over the nodes; FreeSWITCH's channels are asked once per
 * PBX. A call held on old through each node keeps the drain open (3 dialogs, 3 channels: not 9) until
 * FreeSWITCH ends them; a channel old FreeSWITCH holds while no node's profile holds a call (placed
 * with its own originate over the event socket) keeps `--drain-timeout` waiting and times out naming
 * it; an event socket that does not answer does not block the drain, which says the count is unknown.
 * SIPp users call through every node all along (short calls): what each step's gates judge.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { eslApi } from "../../src/freeswitch/event-socket.js";
import { channelsCount } from "../../src/freeswitch/event-stream.js";
import { uacArgv } from "../../src/sipp/argv.js";
import { startSipp, type SippProcess } from "../../src/sipp/runner.js";
import { disposeFreeswitchLab, flagValue, freeswitchLabUp } from "../support/freeswitch-fixture.js";
import { freeTcpPort, ROOT, runCli, type CliResult, type LabFixture } from "../support/lab-fixture.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { startCli, stopStartedClis, until } from "../support/running-cli.js";
import { targetFleet, type TargetFleet } from "../support/target-fleet.js";

const AUTH: NodeAuth = { bearer: "fleet-drain-fs-Tk9" };
const NAMES = ["kam1", "kam2", "kam3"];

interface Drain {
  state: string;
  detail: string;
  initial: number;
  dialogs?: number;
  byNode?: Record<string, number>;
  pbxChannels?: number;
  pbx?: {
    label: string;
    at: string;
    channels: number | null;
    initial?: number | null;
    held: { uuid: string; name: string; ageS?: number }[];
    error?: string;
  };
}
interface Results {
  exitCode: number;
  drain?: Drain;
  warnings: string[];
}

/** every file under dir, recursively */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });

describe("drain over a fleet in front of real FreeSWITCH: dialogs summed over the nodes, channels asked once per PBX", () => {
  let f: LabFixture | undefined;
  let fleet: TargetFleet | undefined;
  const held: SippProcess[] = [];
  let esl: Record<"old" | "new", { host: string; port: number; password: string }>;
  const migrate = async (file: string, name: string, extra: string[]): Promise<{ r: CliResult; res: Results }> => {
    const r = await runCli(
      [
        "migrate",
        "--target",
        file,
        "--artifacts-dir",
        path.join(fleet!.dir, `art-${name}`),
        "--steps",
        "0,100",
        ...extra,
      ],
      {
        cwd: fleet!.dir,
        timeoutMs: 150_000,
      },
    );
    let res: Results;
    try {
      res = JSON.parse(readFileSync(path.join(runDirOf(r), "results.json"), "utf8")) as Results;
    } catch (err) {
      assert.fail(`no results.json (${String(err)}): exit ${r.code} ${r.signal}\n${r.stdout}\n${r.stderr}`);
    }
    return { r, res };
  };
  const noSecretIn = (what: string, text: string): void => {
    for (const role of ["old", "new"] as const)
      assert.ok(!text.includes(esl[role].password), `${role}'s event-socket password in ${what}`);
  };
  const noSecretInRun = (art: string): void => {
    for (const file of filesUnder(art)) noSecretIn(file, readFileSync(file, "latin1"));
  };

  before(async () => {
    const lab = await freeswitchLabUp({ rtpPorts: 40 });
    f = lab.f;
    const secret = (role: string): string =>
      readFileSync(path.join(f!.labDir, `freeswitch-${role}`, "event-socket.secret"), "utf8").trim();
    esl = {
      old: { host: "127.0.0.1", port: Number(flagValue(lab.fs, "--old-esl-port")), password: secret("old") },
      new: { host: "127.0.0.1", port: Number(flagValue(lab.fs, "--new-esl-port")), password: secret("new") },
    };
    // the tool reads new's password from its environment (every command this test starts inherits it)
    process.env.FS_NEW_ESL_PW = esl.new.password;
    const pbx = (role: "old" | "new", port: number) => ({ uri: `sip:127.0.0.1:${port}`, port, messages: "" });
    const backends = { old: pbx("old", f.ports.old), new: pbx("new", f.ports.new) };
    fleet = await targetFleet({
      prefix: "fleet-drain-fs",
      auth: AUTH,
      node: (i) => (i === 0 ? { sharedBackends: backends } : {}),
    });
    const pwFile = path.join(fleet.dir, "fs-old.pw");
    writeFileSync(pwFile, `${esl.old.password}\n`, { mode: 0o600 });
    const doc = parse(readFileSync(fleet.file, "utf8")) as Record<string, unknown>;
    doc.pbx = {
      old: { eventSocket: { host: esl.old.host, port: esl.old.port, password: { file: pwFile } } },
      new: { eventSocket: { host: esl.new.host, port: esl.new.port, password: { env: "FS_NEW_ESL_PW" } } },
    };
    writeFileSync(fleet.file, stringify(doc));
  });
  after(async () => {
    delete process.env.FS_NEW_ESL_PW;
    stopStartedClis();
    await Promise.all(held.map((h) => h.stop()));
    await fleet?.dispose();
    await disposeFreeswitchLab(f);
  });

  test("a call held on old through each node: 3 dialogs (one per node) and 3 channels on old, not 9; drained once FreeSWITCH ends them", async () => {
    const OLD = fleet!.nodes[0]!.backends.old.uri;
    for (const [i, node] of fleet!.nodes.entries()) {
      const tag = `held-${NAMES[i]}`;
      const argv = uacArgv("/usr/bin/sipp", path.join(ROOT, "assets", "sipp", "uac-call.xml"), {
        proxy: { address: node.address, port: node.sipPort },
        localAddress: node.address,
        service: "held",
        calls: 1,
        rate: 1,
        holdMs: 600_000,
        callIdTag: tag,
        recvTimeoutMs: 10_000,
        messageLog: path.join(fleet!.dir, `${tag}.messages.log`),
        statFile: path.join(fleet!.dir, `${tag}.stat.csv`),
        errorFile: path.join(fleet!.dir, `${tag}.errors.log`),
      });
      held.push(startSipp(argv, { cwd: fleet!.dir }));
    }
    const oldChannels = (): Promise<number> => channelsCount(esl.old, esl.old.password);
    const deadline = Date.now() + 30_000;
    while ((await oldChannels()) !== 3) {
      assert.ok(Date.now() < deadline, `old FreeSWITCH never held the 3 calls (${await oldChannels()})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const node of fleet!.nodes)
      assert.equal(((await node.rpc("dlg.profile_list", ["pbx", OLD])) as unknown[]).length, 1, node.address);
    // users calling through every node from now on (short calls): what each step's gates judge
    fleet!.callers(5);

    const art = path.join(fleet!.dir, "art-held");
    const run = startCli(fleet!, [
      "migrate",
      "--target",
      fleet!.file,
      "--artifacts-dir",
      art,
      "--steps",
      "0,100",
      "--drain-timeout",
      "120",
    ]);
    // FreeSWITCH ends the calls itself once the drain waits for them (its BYE goes back through each node)
    await until(
      "the drain waiting",
      () => /drain: waiting up to/.test(run.out()) || run.child.exitCode !== null,
      150_000,
    ).catch((err: Error) => assert.fail(`${err.message}\n${run.out()}\n${run.err()}`));
    const hup = await eslApi(esl.old, esl.old.password, "hupall NORMAL_CLEARING");
    assert.match(hup, /^\+OK/, hup);
    const code = await run.closed;
    assert.equal(code, 0, run.out() + run.err());
    assert.match(
      run.out(),
      /drain: waiting up to 120 s for the old backend's calls to end; 3 call\(s\) up on old: held-kam\d-\S+ \(up \d+ s\), held-kam\d-\S+ \(up \d+ s\), held-kam\d-\S+ \(up \d+ s\); FreeSWITCH old counts 3 channel\(s\)$/m,
    );
    const res = JSON.parse(readFileSync(path.join(art, "latest", "results.json"), "utf8")) as Results;
    const d = res.drain!;
    assert.equal(d.state, "drained", d.detail);
    assert.equal(d.initial, 3);
    assert.deepEqual([d.dialogs, d.byNode], [0, { kam1: 0, kam2: 0, kam3: 0 }]);
    assert.deepEqual(d.pbx, {
      label: "FreeSWITCH old",
      at: `event socket 127.0.0.1:${esl.old.port}`,
      channels: 0,
      initial: 3,
      held: [],
    });
    assert.match(
      d.detail,
      /^the last of 3 call\(s\) ended after [\d.]+ s; FreeSWITCH old counts 0 channel\(s\) \(by node: kam1 0, kam2 0, kam3 0\)$/,
    );
    noSecretIn("the output", run.out() + run.err());
    noSecretInRun(art);
  });

  test("a channel old FreeSWITCH holds while no node's profile holds a call: --drain-timeout waits, then times out naming it", async () => {
    // nothing left on old from before (the fleet routes to new after the previous run)
    await eslApi(esl.old, esl.old.password, "hupall NORMAL_CLEARING");
    await Promise.all(held.map((h) => h.stop()));
    const idle = Date.now() + 10_000;
    while ((await channelsCount(esl.old, esl.old.password)) !== 0) {
      assert.ok(Date.now() < idle, "old FreeSWITCH still holds channels from before");
      await new Promise((r) => setTimeout(r, 50));
    }
    // old's own originate: a call from 1.10.3 to 1.10.12 that no Kamailio node ever sees
    const orig = await eslApi(
      esl.old,
      esl.old.password,
      `originate sofia/lab/sip:drain@127.0.0.1:${f!.ports.new} &park()`,
      10_000,
    );
    const uuid = /^\+OK ([0-9a-f-]{36})/.exec(orig)?.[1];
    assert.ok(uuid, orig);
    const deadline = Date.now() + 10_000;
    while ((await channelsCount(esl.old, esl.old.password)) !== 1) {
      assert.ok(Date.now() < deadline, "old's show channels never listed the originated channel");
      await new Promise((r) => setTimeout(r, 50));
    }
    const { r, res } = await migrate(fleet!.file, "originated", ["--drain-timeout", "3"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const where = `FreeSWITCH old \\(event socket 127\\.0\\.0\\.1:${esl.old.port}\\) still counts 1 channel\\(s\\) while Kamailio's dialog profile holds none: ${uuid} sofia/lab/drain@127\\.0\\.0\\.1:${f!.ports.new} \\(up \\d+ s\\)`;
    assert.match(r.stderr, new RegExp(`drain timed out: ${where} after 3\\.0 s`));
    const d = res.drain!;
    assert.equal(d.state, "timed-out", d.detail);
    assert.deepEqual([d.dialogs, d.byNode], [0, { kam1: 0, kam2: 0, kam3: 0 }]);
    assert.equal(d.pbx?.channels, 1);
    assert.deepEqual(
      d.pbx?.held.map((c) => [c.uuid, c.name]),
      [[uuid, `sofia/lab/drain@127.0.0.1:${f!.ports.new}`]],
    );
    noSecretIn("the output", r.stdout + r.stderr);
    noSecretInRun(path.join(fleet!.dir, "art-originated"));
  });

  test("target check asks each PBX's event socket what the drain asks: version and channels; a refused password is exit 3 naming the key", async () => {
    // the originated channel is still up on old
    const check = (env?: NodeJS.ProcessEnv) =>
      runCli(["target", "check", "--target", fleet!.file], {
        cwd: fleet!.dir,
        timeoutMs: 120_000,
        ...(env ? { env } : {}),
      });
    const ok = await check();
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const row = (role: string, port: number, version: string, channels: string) =>
      new RegExp(
        `^pbx ${role}: event socket 127\\.0\\.0\\.1:${port}\n {2}event socket +answers, FreeSWITCH Version ${version}[^,]*, ${channels} up$`,
        "m",
      );
    assert.match(ok.stdout, row("old", esl.old.port, "1\\.10\\.3", "1 channel"));
    assert.match(ok.stdout, row("new", esl.new.port, "1\\.10\\.12", "\\d+ channels?"));
    noSecretIn("target check's output", ok.stdout + ok.stderr);

    const wrong = "wrong-esl-pw-4Qz";
    const bad = await check({ ...process.env, FS_NEW_ESL_PW: wrong });
    assert.equal(bad.code, 3, bad.stdout + bad.stderr);
    assert.match(
      bad.stdout,
      new RegExp(
        `^ {2}- pbx\\.new\\.eventSocket: event socket 127\\.0\\.0\\.1:${esl.new.port}: authentication refused \\(.*\\); the drain would not see FreeSWITCH new's channels$`,
        "m",
      ),
    );
    assert.match(bad.stdout, row("old", esl.old.port, "1\\.10\\.3", "1 channel"));
    noSecretIn("target check's output", bad.stdout + bad.stderr);
    assert.ok(!(bad.stdout + bad.stderr).includes(wrong), "the wrong password is not printed either");
  });

  test("old's event socket not answering: the drain is not blocked and says the count is unknown", async () => {
    // the originated channel is still up on old: only its event socket could tell
    assert.equal(await channelsCount(esl.old, esl.old.password), 1);
    const closed = await freeTcpPort();
    const doc = parse(readFileSync(fleet!.file, "utf8")) as { pbx: { old: { eventSocket: { port: number } } } };
    doc.pbx.old.eventSocket.port = closed;
    const file = path.join(fleet!.dir, "target-closed-esl.yaml");
    writeFileSync(file, stringify(doc));
    const { r, res } = await migrate(file, "closed", ["--drain-timeout", "30"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const d = res.drain!;
    assert.equal(d.state, "drained", d.detail);
    assert.equal(d.pbx?.channels, null);
    assert.match(d.pbx?.error ?? "", new RegExp(`^event socket 127\\.0\\.0\\.1:${closed}: ECONNREFUSED$`));
    assert.match(
      d.detail,
      new RegExp(
        `^no calls on old; FreeSWITCH old's own channel count unknown \\(event socket 127\\.0\\.0\\.1:${closed}: ECONNREFUSED\\) \\(by node: kam1 0, kam2 0, kam3 0\\)$`,
      ),
    );
    assert.ok(
      res.warnings.some((w) => w.startsWith("drain: FreeSWITCH old's channel count unknown: ")),
      res.warnings.join("\n"),
    );
    await eslApi(esl.old, esl.old.password, "hupall NORMAL_CLEARING");
  });
});
