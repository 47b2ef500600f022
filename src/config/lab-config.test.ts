import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../cli/errors.js";
import { defaultLabSettings, isLoopbackV4, resolveLabSettings } from "./lab-config.js";

test("loopback check accepts 127.0.0.0/8 only", () => {
  assert.ok(isLoopbackV4("127.0.0.1"));
  assert.ok(isLoopbackV4("127.255.0.9"));
  assert.ok(!isLoopbackV4("128.0.0.1"));
  assert.ok(!isLoopbackV4("127.0.0.256"));
  assert.ok(!isLoopbackV4("localhost"));
  assert.ok(!isLoopbackV4("10.0.0.1"));
});

test("defaults, then config file, then flags", () => {
  const s = resolveLabSettings({ kamailio: { sipPort: 16060, shmMb: 512 }, old: { port: 16070 } }, { sipPort: "17060" }, "/w");
  assert.equal(s.kamailio.sipPort, 17060, "flag wins");
  assert.equal(s.kamailio.shmMb, 512, "config file beats default");
  assert.equal(s.old.port, 16070);
  assert.equal(s.new.port, defaultLabSettings.new.port);
  assert.equal(s.labDir, "/w/.lab");
});

test("bad values are usage errors naming the setting", () => {
  assert.throws(() => resolveLabSettings(undefined, { sipPort: "0" }), (e: unknown) => e instanceof UsageError && /sipPort/.test(e.details.join()));
  assert.throws(() => resolveLabSettings(undefined, { sipPort: "x" }), /--sip-port must be an integer/);
  assert.throws(() => resolveLabSettings(undefined, { oldAddr: "192.168.1.1" }), (e: unknown) => e instanceof UsageError && /loopback/.test(e.details.join()));
  assert.throws(() => resolveLabSettings({ kamailio: { bogus: 1 } as never }, {}), UsageError);
  assert.throws(() => resolveLabSettings(undefined, { newPort: "15070" }), /old backend \(udp\) and new backend \(udp\) both use 127\.0\.0\.1:15070/);
});

test("the HEP collector port: default 15062, config file, --hep-port; loopback only; its own port", () => {
  assert.deepEqual(resolveLabSettings(undefined, {}).hep, { address: "127.0.0.1", port: 15062, mirror: "on" });
  assert.equal(resolveLabSettings({ hep: { mirror: "off" } }, {}).hep.mirror, "off");
  assert.equal(resolveLabSettings({ hep: { mirror: "off" } }, { hepMirror: "on" }).hep.mirror, "on");
  assert.throws(() => resolveLabSettings(undefined, { hepMirror: "maybe" }), (e: unknown) => e instanceof UsageError && /hep\.mirror/.test(e.details.join()));
  assert.equal(resolveLabSettings({ hep: { port: 16062 } }, {}).hep.port, 16062);
  assert.equal(resolveLabSettings({ hep: { port: 16062 } }, { hepPort: "17062" }).hep.port, 17062);
  assert.throws(() => resolveLabSettings(undefined, { hepPort: "nope" }), /--hep-port must be an integer/);
  assert.throws(() => resolveLabSettings({ hep: { address: "10.0.0.1" } }, {}), (e: unknown) => e instanceof UsageError && /loopback/.test(e.details.join()));
  assert.throws(() => resolveLabSettings(undefined, { hepPort: "15070" }), /old backend \(udp\) and HEP collector \(udp\) both use/);
});

test("backends kind and FreeSWITCH slots: defaults, flags, port collisions", () => {
  const d = resolveLabSettings(undefined, {}, "/w");
  assert.equal(d.backends, "sipp");
  assert.equal(d.freeswitch.old.tree, "1.10.3");
  assert.equal(d.freeswitch.new.tree, "1.10.12");
  const s = resolveLabSettings(undefined, { backends: "freeswitch", oldFreeswitch: "1.10.12", oldEslPort: "17071", newRtpPorts: "17100-17119" }, "/w");
  assert.equal(s.backends, "freeswitch");
  assert.equal(s.freeswitch.old.tree, "1.10.12");
  assert.equal(s.freeswitch.old.eventSocketPort, 17071);
  assert.deepEqual([s.freeswitch.new.rtpStart, s.freeswitch.new.rtpEnd], [17100, 17119]);
  assert.throws(() => resolveLabSettings(undefined, { backends: "asterisk" }), (e: unknown) => e instanceof UsageError && /backends/.test(e.details.join()));
  assert.throws(() => resolveLabSettings(undefined, { backends: "freeswitch", oldRtpPorts: "16000" }), /--old-rtp-ports must be a port range/);
  assert.throws(() => resolveLabSettings(undefined, { backends: "freeswitch", oldEslPort: "15080" }), /new backend sip and old event socket both use 127\.0\.0\.1:15080/);
  assert.throws(() => resolveLabSettings(undefined, { backends: "freeswitch", newRtpPorts: "16050-16150" }), /overlap/);
  assert.throws(() => resolveLabSettings(undefined, { backends: "freeswitch", oldRtpPorts: "15000-15100" }), /old RTP ports 15000-15100 include kamailio sip port 15060/);
  // with sipp backends the FreeSWITCH ports are not used, so they are not checked
  assert.doesNotThrow(() => resolveLabSettings(undefined, { oldEslPort: "15080" }));
});

test("settings recorded before the HEP port existed (a running lab's lab.json) still parse", async () => {
  const { LabSettingsSchema } = await import("./lab-config.js");
  const { hep: _hep, ...before } = defaultLabSettings;
  assert.deepEqual(LabSettingsSchema.parse(before).hep, { address: "127.0.0.1", port: 15062, mirror: "on" });
});
