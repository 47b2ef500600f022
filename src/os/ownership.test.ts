import assert from "node:assert/strict";
import { test } from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import { findLabProcesses, isFrozen, judge, mentionsLabDir, parseProcStat, type ProcInfo } from "./ownership.js";

test("parses /proc/<pid>/stat recorded from Kamailio 5.6.3 on Linux 6.18", () => {
  const st = parseProcStat(fixture("linux-6.18-proc-stat-kamailio.txt"));
  assert.deepEqual(st, { comm: "kamailio", state: "S", pgid: 22490, startTime: "74955" });
});

test("a comm with spaces and parentheses does not shift the fields", () => {
  const st = parseProcStat(fixture("linux-6.18-proc-stat-odd-comm.txt"));
  assert.deepEqual(st, { comm: "we ird) (x", state: "S", pgid: 22186, startTime: "74516" });
  assert.equal(parseProcStat("garbage"), undefined);
});

const labDir = "/tmp/e2e/lab";
const kam = (over: Partial<ProcInfo> = {}): ProcInfo => ({
  pid: 4242,
  comm: "kamailio",
  state: "S",
  pgid: 4242,
  startTime: "74955",
  cmdline: ["/usr/sbin/kamailio", "-DD", "-E", "-f", `${labDir}/kamailio.cfg`, "-Y", labDir],
  ...over,
});

test("ours only when the start time and the command line (naming the lab dir) both match", () => {
  assert.equal(judge({ pid: 4242, startTime: "74955" }, kam(), labDir).kind, "ours");
  assert.equal(
    judge({ pid: 4242 }, kam(), labDir).kind,
    "ours",
    "older lab.json without a start time: command line only",
  );
  const reused = judge({ pid: 4242, startTime: "70000" }, kam(), labDir);
  assert.equal(reused.kind, "not-ours");
  assert.match(reused.kind === "not-ours" ? reused.why : "", /reused/);
  // another lab's Kamailio with the same start time tick: its command line names another dir
  const other = judge(
    { pid: 4242, startTime: "74955" },
    kam({ cmdline: ["/usr/sbin/kamailio", "-f", "/tmp/e2e/lab2/kamailio.cfg"] }),
    labDir,
  );
  assert.equal(other.kind, "not-ours");
  assert.equal(judge({ pid: 4242 }, undefined, labDir).kind, "gone");
  assert.equal(judge({ pid: 4242 }, kam({ state: "Z" }), labDir).kind, "gone");
});

test("the lab dir must be named exactly, not as a prefix of another dir", () => {
  assert.equal(mentionsLabDir([`${labDir}2/kamailio.cfg`], labDir), false);
  assert.equal(mentionsLabDir([`${labDir}/kamailio.cfg`], labDir), true);
  assert.equal(mentionsLabDir([labDir], labDir), true);
  // PHP's `-d name=value`: FusionPBX's web server names the lab dir only that way
  assert.equal(mentionsLabDir([`error_log=${labDir}/fusionpbx-old/php-errors.log`], labDir), true);
  assert.equal(mentionsLabDir([`error_log=${labDir}2/php-errors.log`], labDir), false);
  assert.equal(mentionsLabDir([`-x${labDir}/a`], labDir), false);
});

test("found by command line: only kamailio and sipp naming the lab dir (not a tail -f of its log)", () => {
  const procs: ProcInfo[] = [
    kam(),
    kam({ pid: 5000, comm: "sipp", cmdline: ["sipp", "-message_file", `${labDir}/uas-old.messages.log`] }),
    kam({ pid: 5001, comm: "tail", cmdline: ["tail", "-f", `${labDir}/kamailio.log`] }),
    kam({ pid: 5002, comm: "kamailio", cmdline: ["kamailio", "-f", "/tmp/other/kamailio.cfg"] }),
  ];
  assert.deepEqual(
    findLabProcesses(labDir, procs).map((p) => p.pid),
    [4242, 5000],
  );
});

test("found by command line with --fusionpbx: the postmaster, PHP's server (php, php8.2), unshare before it execs; not a psql", () => {
  const procs: ProcInfo[] = [
    kam({
      pid: 6000,
      comm: "postgres",
      cmdline: ["/usr/lib/postgresql/15/bin/postgres", "-D", `${labDir}/postgres/data`],
    }),
    kam({ pid: 6001, comm: "postgres", cmdline: ["postgres: checkpointer "] }),
    kam({
      pid: 6002,
      comm: "php8.2",
      cmdline: ["php8.2", "-d", `error_log=${labDir}/fusionpbx-new/php-errors.log`, "-S", "127.0.0.1:18081"],
    }),
    kam({
      pid: 6003,
      comm: "unshare",
      cmdline: ["unshare", "--mount", "--", "/bin/sh", "serve.sh", "/tree", `${labDir}/fusionpbx-old/etc`],
    }),
    kam({ pid: 6004, comm: "psql", cmdline: ["psql", "-h", `${labDir}/postgres/run`] }),
    kam({ pid: 6005, comm: "phpunit", cmdline: ["phpunit", `${labDir}/x`] }),
  ];
  assert.deepEqual(
    findLabProcesses(labDir, procs).map((p) => p.pid),
    [6000, 6002, 6003],
  );
});

test("frozen = process state T or t", () => {
  assert.equal(isFrozen(kam({ state: "T" })), true);
  assert.equal(isFrozen(kam({ state: "t" })), true);
  assert.equal(isFrozen(kam({ state: "S" })), false);
});
