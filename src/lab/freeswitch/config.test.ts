import assert from "node:assert/strict";
import { test } from "node:test";
import {
  freeswitchArgv,
  freeswitchPaths,
  LAB_MODULES,
  renderFreeswitchConfig,
  type FreeswitchInstanceConfig,
} from "./config.js";

const cfg: FreeswitchInstanceConfig = {
  role: "old",
  sipAddress: "127.0.0.1",
  sipPort: 15070,
  eventSocketAddress: "127.0.0.1",
  eventSocketPort: 15071,
  eventSocketPassword: "0123456789abcdef",
  rtpStart: 16000,
  rtpEnd: 16099,
  logFile: "/lab/freeswitch-old/log/freeswitch.log",
};

function param(xml: string, section: string, name: string): string | undefined {
  const s = new RegExp(`<configuration name="${section}"[\\s\\S]*?</configuration>`).exec(xml)?.[0] ?? "";
  return new RegExp(`<param name="${name}" value="([^"]*)"/>`).exec(s)?.[1];
}

test("SIP profile on the backend's address and port, no NAT parameters, no auth", () => {
  const xml = renderFreeswitchConfig(cfg);
  assert.equal(param(xml, "sofia.conf", "sip-ip"), "127.0.0.1");
  assert.equal(param(xml, "sofia.conf", "sip-port"), "15070");
  assert.equal(param(xml, "sofia.conf", "rtp-ip"), "127.0.0.1");
  assert.equal(param(xml, "sofia.conf", "ext-sip-ip"), "127.0.0.1");
  assert.equal(param(xml, "sofia.conf", "ext-rtp-ip"), "127.0.0.1");
  assert.equal(param(xml, "sofia.conf", "auth-calls"), "false");
  assert.equal(param(xml, "sofia.conf", "inbound-codec-prefs"), "PCMU,PCMA");
  assert.doesNotMatch(xml, /stun|auto-nat|aggressive-nat|apply-nat-acl|nat-options-ping/i);
  assert.equal((xml.match(/<profile name=/g) ?? []).length, 2, "one SIP profile and the log file profile");
});

test("event socket on its own loopback port with the generated password; loopback ACL", () => {
  const xml = renderFreeswitchConfig(cfg);
  assert.equal(param(xml, "event_socket.conf", "listen-ip"), "127.0.0.1");
  assert.equal(param(xml, "event_socket.conf", "listen-port"), "15071");
  assert.equal(param(xml, "event_socket.conf", "password"), "0123456789abcdef");
  assert.equal(param(xml, "event_socket.conf", "apply-inbound-acl"), "loopback.auto");
  assert.equal(xml.split("0123456789abcdef").length - 1, 1, "the password appears once, in the event socket settings");
});

test("RTP in the instance's small range; a bad range is refused", () => {
  const xml = renderFreeswitchConfig(cfg);
  assert.equal(param(xml, "switch.conf", "rtp-start-port"), "16000");
  assert.equal(param(xml, "switch.conf", "rtp-end-port"), "16099");
  assert.throws(() => renderFreeswitchConfig({ ...cfg, rtpStart: 16100, rtpEnd: 16099 }), /invalid RTP range/);
});

test("the public dialplan answers every call and echoes its audio (it ends on the caller's BYE)", () => {
  const xml = renderFreeswitchConfig(cfg);
  assert.match(param(xml, "sofia.conf", "context") ?? "", /^public$/);
  const ctx = /<context name="public">([\s\S]*?)<\/context>/.exec(xml)?.[1] ?? "";
  assert.deepEqual(
    [...ctx.matchAll(/application="(\w+)"/g)].map((m) => m[1]),
    ["answer", "echo"],
  );
  assert.match(ctx, /expression="\^\.\*\$"/);
});

test("only the lab's modules are loaded, the log file is the lab's", () => {
  const xml = renderFreeswitchConfig(cfg);
  assert.deepEqual(
    [...xml.matchAll(/<load module="(\w+)"\/>/g)].map((m) => m[1]),
    [...LAB_MODULES],
  );
  assert.equal(param(xml, "logfile.conf", "logfile"), cfg.logFile);
});

test("values are XML-escaped", () => {
  const xml = renderFreeswitchConfig({ ...cfg, logFile: `/a&b/"x"<y>.log` });
  assert.match(xml, /value="\/a&amp;b\/&quot;x&quot;&lt;y&gt;\.log"/);
});

test("argv: foreground, own base dir, every directory in the lab dir, modules from the tree, no secret", () => {
  const p = freeswitchPaths("/lab", "new");
  const argv = freeswitchArgv("/cache/freeswitch-1.10.12", p);
  assert.equal(argv[0], "/cache/freeswitch-1.10.12/bin/freeswitch");
  assert.deepEqual(argv.slice(1, 6), ["-nonat", "-nc", "-nf", "-base", "/lab/freeswitch-new"]);
  const flag = (f: string): string | undefined => argv[argv.indexOf(f) + 1];
  assert.equal(flag("-conf"), "/lab/freeswitch-new/conf");
  assert.equal(flag("-certs"), "/lab/freeswitch-new/certs");
  assert.equal(flag("-mod"), "/cache/freeswitch-1.10.12/mod");
  for (const f of [
    "-log",
    "-db",
    "-run",
    "-cache",
    "-temp",
    "-storage",
    "-recordings",
    "-sounds",
    "-scripts",
    "-grammar",
    "-htdocs",
  ]) {
    assert.ok(flag(f)?.startsWith("/lab/freeswitch-new/"), `${f} under the lab dir`);
  }
  assert.equal(p.configFile, "/lab/freeswitch-new/conf/freeswitch.xml");
  assert.ok(!argv.some((a) => /password|secret/i.test(a)));
});
