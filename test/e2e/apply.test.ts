import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, labFixture, type LabFixture } from "../support/lab-fixture.js";
import { runtimeUris, uriOf } from "../support/lab-runtime.js";
import { placeCalls } from "../support/sip-call.js";

describe("apply / rollback against the real Kamailio (reload_delta 0)", () => {
  let f: LabFixture;
  let list: string;
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
    list = path.join(f.labDir, "dispatcher.list");
  });
  after(async () => {
    await f.dispose();
  });

  test("each phase sends a real INVITE where it says; rollback returns to the previous profile", async () => {
    const OLD = uriOf(f, "old");
    const NEW = uriOf(f, "new");

    let r = await f.cli(["apply", "--mode", "old", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await runtimeUris(f), [OLD]);
    let calls = await placeCalls(f, 2, "old");
    assert.equal(calls.code, 0, "calls completed");
    assert.deepEqual([calls.old, calls.new], [2, 0], "old phase: old backend only");

    r = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /applied both: verified in [\d.]+ ms/);
    assert.deepEqual(await runtimeUris(f), [OLD, NEW].sort());
    calls = await placeCalls(f, 4, "both");
    assert.equal(calls.code, 0);
    assert.ok(calls.old >= 1 && calls.new >= 1, `both phase: both backends (old ${calls.old}, new ${calls.new})`);
    assert.equal(calls.old + calls.new, 4);

    r = await f.cli(["apply", "--mode", "new", "--json", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      label: string;
      changed: boolean;
      runtime: { uri: string }[];
      timings: { totalMs: number };
    };
    assert.equal(out.label, "new");
    assert.equal(out.changed, true);
    assert.deepEqual(
      out.runtime.map((d) => d.uri),
      [NEW],
    );
    assert.match(readFileSync(list, "utf8"), /^# pbx-cutover profile: new$/m);
    calls = await placeCalls(f, 2, "new");
    assert.equal(calls.code, 0);
    assert.deepEqual([calls.old, calls.new], [0, 2], "new phase: new backend only");

    r = await f.cli(["rollback", ...f.flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rolled back to both/);
    assert.deepEqual(await runtimeUris(f), [OLD, NEW].sort());
  });

  test("bad input: exit 2, nothing touched (file, runtime, rollback point)", async () => {
    const r0 = await f.cli(["apply", "--mode", "new", ...f.flags]);
    assert.equal(r0.code, 0, r0.stderr);
    const before = { text: readFileSync(list, "utf8"), mtime: statSync(list).mtimeMs, runtime: await runtimeUris(f) };
    const backup = path.join(f.labDir, "dispatcher-backups", "previous.list");
    const backupBefore = readFileSync(backup, "utf8");
    const cases: [string[], RegExp][] = [
      [["--mode", "sideways"], /--mode "sideways" is not a dispatcher mode/],
      [[], /--mode is required/],
      [
        ["--mode", "both", "--new-uri", "sip:127.0.0.1:70000"],
        /--new-uri invalid SIP URI "sip:127\.0\.0\.1:70000": port 70000 is outside 1-65535/,
      ],
      [
        ["--mode", "both", "--old-uri", "http://127.0.0.1:5060"],
        /--old-uri invalid SIP URI .*scheme http: is not sip: or sips:/,
      ],
      [["--mode", "both", "--new-uri", uriOf(f, "old")], /old and new backends are the same destination/],
      [["--mode", "both", "--new-uri", "sip:127.0.0.1:5060;transport=smoke"], /transport=smoke is not one of/],
    ];
    for (const [args, re] of cases) {
      const r = await f.cli(["apply", ...args, ...f.flags]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
    assert.equal(readFileSync(list, "utf8"), before.text);
    assert.equal(statSync(list).mtimeMs, before.mtime, "not even rewritten");
    assert.deepEqual(await runtimeUris(f), before.runtime);
    assert.equal(readFileSync(backup, "utf8"), backupBefore);
  });
});

describe("apply against a Kamailio that refuses reloads for reload_delta (Kamailio's default is 5 s; 15 here)", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
    // 15 s, not 5: the concurrent third apply (a CLI process) must start while the second still waits
    // out reload_delta holding the lock; on a loaded machine a CLI start can take longer than 5 s
    const up = await f.cli(["lab", "up", "--reload-delta", "15", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("two applies in a row both end verified; a concurrent third is refused naming the holder", async () => {
    const r1 = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(r1.code, 0, r1.stderr);

    // the second one must wait out reload_delta ("500 Ongoing reload") while holding the lock (its
    // retry budget: --reload-wait-ms, since the flags here do not tell it the lab's reload_delta)
    const second = f.cli(["apply", "--mode", "new", "--json", "--reload-wait-ms", "20000", ...f.flags]);
    const lock = path.join(f.labDir, "apply.lock");
    await waitFor(() => existsSync(lock), 60_000);
    const third = await f.cli(["apply", "--mode", "old", ...f.flags]);
    assert.equal(third.code, 3, third.stderr);
    assert.match(
      third.stderr,
      /another apply holds the dispatcher lock .*apply\.lock: pid \d+ \(pbx-cutover apply --mode new\)/,
    );
    assert.match(third.stderr, /nothing was changed/);

    const r2 = await second;
    assert.equal(r2.code, 0, r2.stderr);
    const out = JSON.parse(r2.stdout) as {
      runtime: { uri: string }[];
      reload: { ok: boolean; ongoingRefusals: number; waitedMs: number };
    };
    assert.ok(out.reload.ok);
    assert.ok(out.reload.ongoingRefusals >= 1, "Kamailio refused the reload at first");
    assert.deepEqual(
      out.runtime.map((d) => d.uri),
      [uriOf(f, "new")],
    );
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "new")]);
    assert.ok(!existsSync(lock), "lock released");
    const calls = await placeCalls(f, 1, "delta5");
    assert.deepEqual([calls.code, calls.old, calls.new], [0, 0, 1]);
  });
});

describe("apply interrupted (Ctrl-C) while Kamailio refuses reloads", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
    // reload_delta 30: the apply keeps being refused for its whole 6 s retry budget, so an exit within
    // a few seconds of Ctrl-C means the interrupt, not the end of the wait, even on a loaded machine
    const up = await f.cli(["lab", "up", "--reload-delta", "30", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await f.dispose();
  });

  test("exit 130, the previous list back in the file and at runtime, lock released", async () => {
    const r1 = await f.cli(["apply", "--mode", "both", ...f.flags]);
    assert.equal(r1.code, 0, r1.stderr);
    const list = path.join(f.labDir, "dispatcher.list");
    const before = readFileSync(list, "utf8");
    const child = spawn(process.execPath, [CLI, "apply", "--mode", "new", ...f.flags], {
      cwd: f.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    // wait until the new list is written (the apply now waits out reload_delta), then interrupt
    await waitFor(() => /profile: new/.test(readFileSync(list, "utf8")), 60_000);
    const t = performance.now();
    child.kill("SIGINT");
    assert.equal(await closed, 130, stderr);
    assert.ok(
      performance.now() - t < 4000,
      `answered at once (${Math.round(performance.now() - t)} ms), without waiting for reload_delta`,
    );
    assert.match(stderr, /interrupted by SIGINT/);
    assert.equal(readFileSync(list, "utf8"), before);
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old"), uriOf(f, "new")].sort());
    assert.ok(!existsSync(path.join(f.labDir, "apply.lock")));
  });

  test("a reload Kamailio refuses (no time left to wait it out): exit 4, the previous profile restored and still routing", async () => {
    const list = path.join(f.labDir, "dispatcher.list");
    const before = readFileSync(list, "utf8");
    assert.match(
      before,
      /profile: both/,
      "the previous test left profile both (its last reload was well within reload_delta 30)",
    );
    const r = await f.cli(["apply", "--mode", "old", "--reload-wait-ms", "0", ...f.flags]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(
      r.stderr,
      /applying profile old failed at reload: dispatcher\.reload was not accepted: .*Ongoing reload/,
    );
    assert.match(r.stderr, /previous dispatcher list was restored and verified at runtime/);
    assert.equal(readFileSync(list, "utf8"), before, "the file is the previous one, byte for byte");
    assert.deepEqual(await runtimeUris(f), [uriOf(f, "old"), uriOf(f, "new")].sort());
    assert.ok(!existsSync(path.join(f.labDir, "apply.lock")), "lock released");
    const calls = await placeCalls(f, 2, "restored");
    assert.equal(calls.code, 0, "calls still complete");
    assert.equal(calls.old + calls.new, 2);
  });
});

/** Poll `cond` until it holds; the deadline only bounds a hang. */
async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
