import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import { defaultLabSettings, labDirProblem, resolveLabSettings } from "./lab-config.js";

test("defaults, then config file, then flags", () => {
  const s = resolveLabSettings(
    { kamailio: { sipPort: 16060, shmMb: 512 }, old: { port: 16070 } },
    { sipPort: "17060" },
    "/w",
  );
  assert.equal(s.kamailio.sipPort, 17060, "flag wins");
  assert.equal(s.kamailio.shmMb, 512, "config file beats default");
  assert.equal(s.old.port, 16070);
  assert.equal(s.new.port, defaultLabSettings.new.port);
  assert.equal(s.labDir, "/w/.lab");
});

test("bad values are usage errors naming the flag they came from, or the config key", () => {
  const refuses = (fn: () => unknown, re: RegExp): void =>
    assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test([e.message, ...e.details].join("\n")));
  refuses(
    () => resolveLabSettings(undefined, { sipPort: "0" }),
    /^--sip-port 0: must be at least 1; nothing was started or changed$/,
  );
  refuses(() => resolveLabSettings(undefined, { rpcPort: "65536" }), /--rpc-port 65536: must be at most 65535/);
  refuses(() => resolveLabSettings(undefined, { children: "0", shmMb: "1" }), /--shm-mb 1: must be at least 16/);
  assert.throws(() => resolveLabSettings(undefined, { sipPort: "x" }), /--sip-port must be an integer/);
  refuses(
    () => resolveLabSettings(undefined, { oldAddr: "192.168.1.1" }),
    /--old-addr "192\.168\.1\.1": must be a loopback IPv4 address/,
  );
  refuses(() => resolveLabSettings({ kamailio: { bogus: 1 } as never }, {}), /lab\.kamailio\.bogus: unknown key/);
  refuses(
    () => resolveLabSettings({ kamailio: { sipPort: 0 } }, {}, "/w", "config file c.json"),
    /^config file c\.json: lab\.kamailio\.sipPort: must be at least 1/,
  );
  // the flag overrides the key, but the file is still wrong: say so
  refuses(
    () => resolveLabSettings({ kamailio: { sipPort: "15060" as never } }, { sipPort: "15060" }),
    /lab\.kamailio\.sipPort: expected number, got string/,
  );
  refuses(
    () => resolveLabSettings(JSON.parse('{"__proto__": {"labDir": "/x"}}') as never, {}),
    /lab\.__proto__: unknown key/,
  );
  refuses(() => resolveLabSettings({ constructor: {} } as never, {}), /lab\.constructor: unknown key/);
  assert.throws(
    () => resolveLabSettings(undefined, { newPort: "15070" }),
    /old backend \(udp\) and new backend \(udp\) both use 127\.0\.0\.1:15070/,
  );
});

test("one spelling per address: 127.0.0.01 is 127.0.0.1 (and collides with it)", () => {
  assert.equal(resolveLabSettings(undefined, { oldAddr: "127.0.0.01" }).old.address, "127.0.0.1");
  assert.throws(
    () => resolveLabSettings(undefined, { newAddr: "127.000.0.1", newPort: "15070" }),
    /both use 127\.0\.0\.1:15070/,
  );
});

test("a lab dir Kamailio's config cannot hold is refused naming its origin", () => {
  assert.equal(labDirProblem("/tmp/a lab/#1"), undefined);
  assert.throws(
    () => resolveLabSettings(undefined, { labDir: 'x"y' }, "/w"),
    /^UsageError: --lab-dir "x\\"y": contains a double quote, which Kamailio's config cannot hold/,
  );
  assert.throws(
    () => resolveLabSettings({ labDir: "a\\b" }, {}, "/w", "config file c.json"),
    /config file c\.json: lab\.labDir "a\\\\b": contains a backslash/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, {}, "/w/new\nline"),
    /the default lab dir "\.lab": contains a control character/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { labDir: "/" + "d".repeat(100) }),
    /kamailio_ctl is 114 bytes; Kamailio's ctl socket path holds at most 104/,
  );
  assert.doesNotThrow(() => resolveLabSettings(undefined, { labDir: "/" + "d".repeat(90) }));
});

test("the HEP collector port: default 15062, config file, --hep-port; loopback only; its own port", () => {
  assert.deepEqual(resolveLabSettings(undefined, {}).hep, { address: "127.0.0.1", port: 15062, mirror: "on" });
  assert.equal(resolveLabSettings({ hep: { mirror: "off" } }, {}).hep.mirror, "off");
  assert.equal(resolveLabSettings({ hep: { mirror: "off" } }, { hepMirror: "on" }).hep.mirror, "on");
  assert.throws(
    () => resolveLabSettings(undefined, { hepMirror: "maybe" }),
    /^UsageError: --hep-mirror "maybe": must be on or off/,
  );
  assert.throws(
    () => resolveLabSettings({ hep: { mirror: "maybe" as never } }, {}),
    /lab\.hep\.mirror: must be on or off/,
  );
  assert.equal(resolveLabSettings({ hep: { port: 16062 } }, {}).hep.port, 16062);
  assert.equal(resolveLabSettings({ hep: { port: 16062 } }, { hepPort: "17062" }).hep.port, 17062);
  assert.throws(() => resolveLabSettings(undefined, { hepPort: "nope" }), /--hep-port must be an integer/);
  assert.throws(
    () => resolveLabSettings({ hep: { address: "10.0.0.1" } }, {}),
    (e: unknown) => e instanceof UsageError && /lab\.hep\.address: must be a loopback/.test(e.message),
  );
  assert.throws(
    () => resolveLabSettings(undefined, { hepPort: "15070" }),
    /old backend \(udp\) and HEP collector \(udp\) both use/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { dispatcherAlg: "5" }),
    /--dispatcher-alg 5: must be 4 \(round-robin\) or 9 \(weight-based\)/,
  );
});

test("a FreeSWITCH or FusionPBX slot is merged key by key: defaults < config file < flags", () => {
  const s = resolveLabSettings(
    {
      backends: "freeswitch",
      freeswitch: { old: { eventSocketPort: 17071, tree: "1.10.12" } },
      fusionpbx: { enabled: true, new: { httpPort: 18081 } },
    },
    { oldFreeswitch: "1.10.3", oldHttpPort: "18080" },
    "/w",
  );
  assert.deepEqual([s.freeswitch.old.tree, s.freeswitch.old.eventSocketPort], ["1.10.3", 17071]);
  assert.equal(s.freeswitch.old.rtpStart, defaultLabSettings.freeswitch.old.rtpStart);
  assert.deepEqual([s.fusionpbx.old.httpPort, s.fusionpbx.new.httpPort], [18080, 18081]);
  assert.equal(s.fusionpbx.new.tree, defaultLabSettings.fusionpbx.new.tree);
});

test("backends kind and FreeSWITCH slots: defaults, flags, port collisions", () => {
  const d = resolveLabSettings(undefined, {}, "/w");
  assert.equal(d.backends, "sipp");
  assert.equal(d.freeswitch.old.tree, "1.10.3");
  assert.equal(d.freeswitch.new.tree, "1.10.12");
  const s = resolveLabSettings(
    undefined,
    { backends: "freeswitch", oldFreeswitch: "1.10.12", oldEslPort: "17071", newRtpPorts: "17100-17119" },
    "/w",
  );
  assert.equal(s.backends, "freeswitch");
  assert.equal(s.freeswitch.old.tree, "1.10.12");
  assert.equal(s.freeswitch.old.eventSocketPort, 17071);
  assert.deepEqual([s.freeswitch.new.rtpStart, s.freeswitch.new.rtpEnd], [17100, 17119]);
  assert.throws(
    () => resolveLabSettings(undefined, { backends: "asterisk" }),
    /^UsageError: --backends "asterisk": must be one of sipp, freeswitch/,
  );
  assert.throws(() => resolveLabSettings(undefined, { newEslPort: "0" }), /--new-esl-port 0: must be at least 1/);
  assert.throws(
    () => resolveLabSettings(undefined, { oldRtpPorts: "16000-70000" }),
    /--old-rtp-ports 16000-70000: must be at most 65535/,
  );
  assert.throws(
    () => resolveLabSettings({ freeswitch: { old: { tre: "x" } } } as never, {}),
    /lab\.freeswitch\.old\.tre: unknown key/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { backends: "freeswitch", oldRtpPorts: "16000" }),
    /--old-rtp-ports must be a port range/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { backends: "freeswitch", oldEslPort: "15080" }),
    /new backend sip and old event socket both use 127\.0\.0\.1:15080/,
  );
  assert.throws(() => resolveLabSettings(undefined, { backends: "freeswitch", newRtpPorts: "16050-16150" }), /overlap/);
  assert.throws(
    () => resolveLabSettings(undefined, { backends: "freeswitch", oldRtpPorts: "15000-15100" }),
    /old RTP ports 15000-15100 include kamailio sip port 15060/,
  );
  // with sipp backends the FreeSWITCH ports are not used, so they are not checked
  assert.doesNotThrow(() => resolveLabSettings(undefined, { oldEslPort: "15080" }));
});

test("settings recorded before the HEP port existed (a running lab's lab.json) still parse", async () => {
  const { LabSettingsSchema } = await import("./lab-config.js");
  const { hep: _hep, ...before } = defaultLabSettings;
  assert.deepEqual(LabSettingsSchema.parse(before).hep, { address: "127.0.0.1", port: 15062, mirror: "on" });
});

test("--fusionpbx: off by default, needs --backends freeswitch, its ports checked; a lab.json from before it still parses", async () => {
  assert.equal(resolveLabSettings(undefined, {}).fusionpbx.enabled, false);
  const s = resolveLabSettings(undefined, {
    backends: "freeswitch",
    fusionpbx: true,
    newHttpPort: "18181",
    oldFusionpbx: "/trees/fpbx",
  });
  assert.equal(s.fusionpbx.enabled, true);
  assert.deepEqual(
    [s.fusionpbx.old.httpPort, s.fusionpbx.new.httpPort, s.fusionpbx.postgresPort],
    [18080, 18181, 15432],
  );
  assert.equal(s.fusionpbx.old.tree, "/trees/fpbx");
  assert.equal(s.fusionpbx.new.tree, "5.5.7");
  assert.equal(
    resolveLabSettings({ backends: "freeswitch", fusionpbx: { enabled: true } }, {}).fusionpbx.enabled,
    true,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { fusionpbx: true }),
    /^UsageError: --fusionpbx \(lab\.fusionpbx\.enabled\) needs --backends freeswitch/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { backends: "freeswitch", fusionpbx: true, postgresPort: "15071" }),
    /old event socket and PostgreSQL both use 127\.0\.0\.1:15071/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { backends: "freeswitch", fusionpbx: true, oldHttpPort: "70000" }),
    /--old-http-port 70000: must be at most 65535/,
  );
  assert.throws(
    () => resolveLabSettings({ fusionpbx: { old: { port: 1 } } } as never, {}),
    /lab\.fusionpbx\.old\.port: unknown key/,
  );
  // without --fusionpbx its ports are not used, so they are not checked
  assert.doesNotThrow(() => resolveLabSettings(undefined, { backends: "freeswitch", postgresPort: "15071" }));
  const { LabSettingsSchema } = await import("./lab-config.js");
  const { fusionpbx: _f, ...before } = defaultLabSettings;
  assert.equal(LabSettingsSchema.parse(before).fusionpbx.enabled, false);
});

test("a running lab's recorded settings are the defaults; explicit settings that contradict it are exit 2 naming each", () => {
  const recorded = resolveLabSettings(
    undefined,
    { sipPort: "25160", rpcPort: "25161", dispatcherAlg: "9", readyTimeoutMs: "3000" },
    "/w",
  );
  const running = { settings: recorded };
  // nothing given: the lab's own ports and algorithm, but this command's wait budget
  const s = resolveLabSettings(undefined, { labDir: "/w/.lab" }, "/w", "config file", running);
  assert.deepEqual(
    [s.kamailio.sipPort, s.kamailio.rpcPort, s.kamailio.dispatcherAlg, s.readyTimeoutMs],
    [25160, 25161, 9, defaultLabSettings.readyTimeoutMs],
  );
  // given and equal: fine; a different wait budget is not a conflict
  assert.equal(
    resolveLabSettings(undefined, { rpcPort: "25161", readyTimeoutMs: "500" }, "/w", "config file", running).kamailio
      .rpcPort,
    25161,
  );
  // given and different, by flag and by config file: refused, each named
  assert.throws(
    () =>
      resolveLabSettings(
        { old: { port: 15070 } },
        { rpcPort: "15061", dispatcherAlg: "4" },
        "/w",
        "config file /w/c.json",
        running,
      ),
    (e: unknown) =>
      e instanceof UsageError &&
      /running with other settings: --rpc-port 15061, the lab has 25161; nothing was started or changed/.test(
        e.message,
      ) &&
      e.details.includes("--dispatcher-alg 4, the lab has 9") &&
      // the config file's old.port equals the lab's: no conflict
      !e.details.some((h) => h.includes("lab.old.port")),
  );
  assert.throws(
    () => resolveLabSettings({ new: { port: 15099 } }, {}, "/w", "config file /w/c.json", running),
    (e: unknown) =>
      e instanceof UsageError && /config file \/w\/c\.json: lab\.new\.port 15099, the lab has 15080/.test(e.message),
  );
});

test("a running lab with FusionPBX keeps it for every command; --fusionpbx asked of a lab without it is exit 2", () => {
  const withFpbx = {
    settings: resolveLabSettings(undefined, { backends: "freeswitch", fusionpbx: true, oldHttpPort: "28080" }, "/w"),
  };
  const s = resolveLabSettings(undefined, {}, "/w", "config file", withFpbx);
  assert.deepEqual([s.backends, s.fusionpbx.enabled, s.fusionpbx.old.httpPort], ["freeswitch", true, 28080]);
  assert.equal(
    resolveLabSettings(undefined, { fusionpbx: true }, "/w", "config file", withFpbx).fusionpbx.enabled,
    true,
  );
  const without = { settings: resolveLabSettings(undefined, { backends: "freeswitch" }, "/w") };
  assert.throws(
    () => resolveLabSettings(undefined, { fusionpbx: true }, "/w", "config file", without),
    /running with other settings: --fusionpbx, the lab serves no FusionPBX/,
  );
});

test("the media relay: none by default; --media-relay rtpengine with its ng port and RTP ports from flags or the config file; its ng port its own", () => {
  assert.deepEqual(resolveLabSettings(undefined, {}).mediaRelay, {
    kind: "none",
    ngPort: 15064,
    rtpStart: 16200,
    rtpEnd: 22999,
  });
  const r = resolveLabSettings(
    { mediaRelay: { ngPort: 15164 } },
    { mediaRelay: "rtpengine", relayPorts: "30000-30999" },
  );
  assert.deepEqual(r.mediaRelay, { kind: "rtpengine", ngPort: 15164, rtpStart: 30000, rtpEnd: 30999 });
  assert.throws(
    () => resolveLabSettings(undefined, { mediaRelay: "rtpproxy" }),
    /^UsageError: --media-relay "rtpproxy": must be one of none, rtpengine/,
  );
  assert.throws(
    () => resolveLabSettings(undefined, { mediaRelay: "rtpengine", relayNgPort: "15060" }),
    /kamailio sip \(udp\) and rtpengine ng control \(udp\) both use 127\.0\.0\.1:15060/,
  );
  // without a relay its port is not in use
  assert.equal(resolveLabSettings(undefined, { relayNgPort: "15060" }).mediaRelay.kind, "none");
  assert.throws(
    () => resolveLabSettings(undefined, { relayPorts: "30999-30000" }),
    /rtpEnd must not be below rtpStart/,
  );
});
