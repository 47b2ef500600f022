import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { EnvironmentError } from "../core/errors.js";
import { remoteCommand, shellQuote, sshArgv, sshRefusal, type SshConnection } from "./ssh.js";

const conn: SshConnection = {
  host: "10.0.0.2",
  port: 2222,
  user: "ops",
  knownHosts: "/etc/pbx-cutover/known_hosts",
  identityFile: "/etc/pbx-cutover/id_ed25519",
  connectTimeoutS: 5,
};

/** what a remote POSIX shell makes of the one string ssh sends: the words it runs */
const wordsOnTheFarSide = (words: string[]): string[] => {
  const r = spawnSync("sh", ["-c", remoteCommand(["printf", "%s\\0", ...words])], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\0").slice(0, -1);
};

describe("the remote command", () => {
  it("reaches the far side's shell as exactly the words given, whatever they hold", () => {
    const nasty = [
      "sip:10.0.0.20:5060;transport=udp",
      "it's",
      "$(touch /tmp/pbx-cutover-pwned)",
      "`id`",
      "a b  c",
      '"quoted" \\ back',
      "*",
      "; rm -rf /",
      "",
      "--",
      "'",
      "''",
    ];
    assert.deepEqual(wordsOnTheFarSide(nasty), nasty);
  });

  it("refuses control characters (nothing may end a line over there)", () => {
    assert.throws(() => shellQuote("a\nb"), /control character/);
    assert.throws(() => shellQuote("a\rb"), /control character/);
    assert.throws(() => remoteCommand(["kamcmd", "x\u0000"]), /control character/);
  });

  it("ssh's argv: batch mode, strict checking against the target's known_hosts only, the command as one word last", () => {
    const argv = sshArgv(conn, ["kamcmd", "-s", "unix:/run/kamailio/kamailio_ctl", "dispatcher.list"]);
    const opts = argv.flatMap((a, i) => (argv[i - 1] === "-o" ? [a] : []));
    for (const o of [
      "BatchMode=yes",
      "StrictHostKeyChecking=yes",
      "UserKnownHostsFile=/etc/pbx-cutover/known_hosts",
      "GlobalKnownHostsFile=/dev/null",
      "IdentitiesOnly=yes",
    ])
      assert.ok(opts.includes(o), o);
    assert.deepEqual(argv.slice(-2), ["10.0.0.2", "'kamcmd' '-s' 'unix:/run/kamailio/kamailio_ctl' 'dispatcher.list'"]);
    assert.deepEqual(argv.slice(argv.indexOf("-p"), argv.indexOf("-p") + 2), ["-p", "2222"]);
  });
});

describe("ssh's refusals (stderr recorded from OpenSSH 9.2)", () => {
  const unknown =
    "No ED25519 host key is known for [127.0.1.181]:27394 and you have requested strict checking.\r\nHost key verification failed.\r\n";
  const changed =
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n" +
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n" +
    "Offending ED25519 key in /tmp/known_hosts:1\r\nHost key for [127.0.1.181]:27394 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n";

  it("an unknown or a changed host key is final, exit 3, naming the known_hosts and what ssh said", () => {
    for (const [stderr, says] of [
      [unknown, /No ED25519 host key is known for \[127\.0\.1\.181\]:27394/],
      [changed, /Host key for \[127\.0\.1\.181\]:27394 has changed/],
    ] as const) {
      const e = sshRefusal(255, stderr, "node kam1", "/etc/kh");
      assert.ok(e instanceof EnvironmentError);
      assert.equal(e.reason, "host-key");
      assert.equal(e.exitCode, 3);
      assert.match(e.message, /^node kam1: the SSH host key is not the one in \/etc\/kh \(unknown or changed\)/);
      assert.match(e.message, says);
    }
  });

  it("a refused login is final; a refused connection or the remote command's own exit is not ssh's refusal", () => {
    assert.equal(sshRefusal(255, "root@127.0.1.181: Permission denied (publickey).\r\n", "n", "/k")?.reason, "login");
    assert.equal(
      sshRefusal(255, "ssh: connect to host 127.0.1.181 port 1: Connection refused\r\n", "n", "/k"),
      undefined,
    );
    assert.equal(sshRefusal(1, "Host key verification failed.", "n", "/k"), undefined);
  });
});
