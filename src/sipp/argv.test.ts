import assert from "node:assert/strict";
import { test } from "node:test";
import { burstTimeoutS, uacArgv, type UacBurst } from "./argv.js";

const burst: UacBurst = {
  proxy: { address: "127.0.0.1", port: 15060 },
  localAddress: "127.0.0.1",
  service: "cutover",
  calls: 10,
  rate: 5,
  holdMs: 1200,
  callIdTag: "pbxc-5f3a9c-old",
  recvTimeoutMs: 5000,
  messageLog: "/r/old.uac.log",
  statFile: "/r/old.uac.stat.csv",
  errorFile: "/r/old.uac.errors.log",
};

test("uac argv: proxy, scenario, count, rate, hold, unique Call-IDs, bounded waits, evidence files", () => {
  const a = uacArgv("/usr/bin/sipp", "/a/uac-call.xml", burst);
  const arg = (flag: string): string | undefined => a[a.indexOf(flag) + 1];
  assert.equal(a[0], "/usr/bin/sipp");
  assert.equal(a[1], "127.0.0.1:15060");
  assert.equal(arg("-sf"), "/a/uac-call.xml");
  assert.equal(arg("-m"), "10");
  assert.equal(arg("-r"), "5");
  assert.equal(arg("-d"), "1200");
  assert.equal(arg("-cid_str"), "pbxc-5f3a9c-old-%u-%p@%s");
  assert.equal(arg("-recv_timeout"), "5000");
  assert.equal(arg("-timeout"), `${burstTimeoutS(burst)}s`);
  assert.ok(a.includes("-timeout_error"));
  assert.equal(arg("-message_file"), "/r/old.uac.log");
  assert.equal(arg("-stf"), "/r/old.uac.stat.csv");
  assert.equal(arg("-error_file"), "/r/old.uac.errors.log");
  assert.ok(a.includes("-nostdin"));
  assert.ok(!a.includes("-p"), "SIPp picks a free local port");
});

test("uac argv: fractional rates pass through; bad values are refused", () => {
  assert.equal(
    uacArgv("sipp", "s.xml", { ...burst, rate: 0.5 })[uacArgv("sipp", "s.xml", burst).indexOf("-r") + 1],
    "0.5",
  );
  assert.throws(() => uacArgv("sipp", "s.xml", { ...burst, callIdTag: "a b" }));
  assert.throws(() => uacArgv("sipp", "s.xml", { ...burst, calls: 0 }));
  assert.throws(() => uacArgv("sipp", "s.xml", { ...burst, rate: 0 }));
});

test("burst timeout covers sending, hold and two receive timeouts", () => {
  assert.equal(burstTimeoutS({ calls: 5000, rate: 500, holdMs: 1000, recvTimeoutMs: 5000 }), 31);
});

test("uac argv: a long run's logs rotate (SIPp's ring buffer); a followed burst's never do", () => {
  const a = uacArgv("sipp", "s.xml", { ...burst, logRotation: { fileBytes: 1024, files: 3 } });
  assert.equal(a[a.indexOf("-ringbuffer_size") + 1], "1024");
  assert.equal(a[a.indexOf("-ringbuffer_files") + 1], "3");
  assert.ok(!uacArgv("sipp", "s.xml", burst).includes("-ringbuffer_size"));
});
