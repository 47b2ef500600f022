import assert from "node:assert/strict";
import { test } from "node:test";
import { cfgStringProblem, loadKamailioTemplate, renderKamailioConfig } from "./config-template.js";

const values = {
  sipAddr: "127.0.0.1",
  sipPort: 15060,
  rpcPort: 15061,
  children: 2,
  reloadDelta: 0,
  setId: 1,
  ctlSocket: "/lab/kamailio_ctl",
  rpcSecretCfg: "/lab/kamailio-rpc-secret.cfg",
  dispatcherList: "/lab/dispatcher.list",
  modulePath: "/usr/lib/x86_64-linux-gnu/kamailio/modules/",
  hepAddr: "127.0.0.1",
  hepPort: 15062,
  hepMirror: true,
};

test("the project template renders with every placeholder filled", () => {
  const cfg = renderKamailioConfig(loadKamailioTemplate(), values);
  assert.doesNotMatch(cfg, /\{\{/);
  assert.match(cfg, /^listen=udp:127\.0\.0\.1:15060$/m);
  assert.match(cfg, /^listen=tcp:127\.0\.0\.1:15061$/m);
  assert.match(cfg, /^children=2$/m);
  assert.match(cfg, /^include_file "\/lab\/kamailio-rpc-secret\.cfg"$/m);
  assert.match(cfg, /if \(\$hdr\(Authorization\) != "PBX_CUTOVER_RPC_AUTHORIZATION"\) \{\n\s*xhttp_reply\("401"/);
  assert.match(cfg, /^modparam\("ctl", "mode", 0600\)$/m);
  assert.match(cfg, /modparam\("dispatcher", "reload_delta", 0\)/);
  assert.match(cfg, /modparam\("ctl", "binrpc", "unix:\/lab\/kamailio_ctl"\)/);
  assert.match(cfg, /record_route\(\)/);
  assert.match(cfg, /loose_route\(\)/);
  assert.match(cfg, /set_dlg_profile\("backend", "\$du"\)/);
});

test("every SIP message is mirrored as HEPv3 to the collector (siptrace's default is HEPv1)", () => {
  const cfg = renderKamailioConfig(loadKamailioTemplate(), { ...values, hepAddr: "127.0.0.9", hepPort: 25999 });
  assert.match(cfg, /^loadmodule "siptrace\.so"$/m);
  assert.match(cfg, /modparam\("siptrace", "hep_mode_on", 1\)/);
  assert.match(cfg, /modparam\("siptrace", "hep_version", 3\)/);
  assert.match(cfg, /modparam\("siptrace", "trace_mode", 1\)/);
  assert.match(cfg, /modparam\("siptrace", "trace_on", 1\)/);
  const off = renderKamailioConfig(loadKamailioTemplate(), { ...values, hepMirror: false });
  assert.match(off, /modparam\("siptrace", "trace_on", 0\)/, "--hep-mirror off: loaded, not mirroring");
  assert.match(off, /modparam\("siptrace", "trace_mode", 1\)/);
  assert.match(cfg, /modparam\("siptrace", "trace_to_database", 0\)/);
  assert.match(cfg, /modparam\("siptrace", "duplicate_uri", "sip:127\.0\.0\.9:25999"\)/);
  // siptrace needs tm, sl and dialog loaded before it to see what they forward
  assert.ok(cfg.indexOf('loadmodule "siptrace.so"') > cfg.indexOf('loadmodule "dialog.so"'));
});

test("unknown placeholders and unsafe values are refused", () => {
  assert.throws(() => renderKamailioConfig("{{NOPE}}", values), /unknown placeholder/);
  assert.throws(() => renderKamailioConfig("x", { ...values, ctlSocket: 'a"b' }), /CTL_SOCKET contains a double quote/);
  assert.throws(
    () => renderKamailioConfig("x", { ...values, dispatcherList: "a\\nb" }),
    /DISPATCHER_LIST contains a backslash/,
  );
  assert.throws(() => renderKamailioConfig("x", { ...values, dispatcherList: "a\nb" }), /control character/);
});

test("cfg strings: what Kamailio 5.6.3 cannot hold (measured), and what it can", () => {
  for (const ok of ["/tmp/lab", "/tmp/sp ace/#$%;'{}`()", "/tmp/é-utf8"])
    assert.equal(cfgStringProblem(ok), undefined, ok);
  assert.equal(cfgStringProblem('/tmp/a"b'), "contains a double quote");
  assert.equal(cfgStringProblem("/tmp/a\\b"), "contains a backslash");
  assert.match(cfgStringProblem("/tmp/a\nb")!, /control character/);
  assert.match(cfgStringProblem("/tmp/a\tb")!, /control character/);
});

test("the dispatcher algorithm is a parameter: round-robin (4) unless asked for weight-based (9)", () => {
  const rr = renderKamailioConfig(loadKamailioTemplate(), values);
  assert.match(rr, /ds_select_dst\("1", "4"\)/);
  assert.match(rr, /# round-robin \(algorithm 4\) over set 1/);
  const w = renderKamailioConfig(loadKamailioTemplate(), { ...values, dispatcherAlg: 9 });
  assert.match(w, /ds_select_dst\("1", "9"\)/);
  assert.match(w, /# weight-based \(algorithm 9\) over set 1/);
  assert.equal(
    w
      .replace(/weight-based/g, "round-robin")
      .replace('"9")', '"4")')
      .replace("algorithm 9", "algorithm 4"),
    rr,
  );
});

test("the algorithm of a rendered config can be read back", async () => {
  const { dispatcherAlgorithmOfConfig } = await import("./config-template.js");
  assert.equal(dispatcherAlgorithmOfConfig(renderKamailioConfig(loadKamailioTemplate(), values)), 4);
  assert.equal(
    dispatcherAlgorithmOfConfig(renderKamailioConfig(loadKamailioTemplate(), { ...values, dispatcherAlg: 9 })),
    9,
  );
  assert.equal(dispatcherAlgorithmOfConfig("request_route { }"), undefined);
});

test("the media relay: rtpengine's module, offer on the initial INVITE, answer on a reply with SDP, delete on BYE, CANCEL and a failed INVITE; off by default", () => {
  const off = renderKamailioConfig(loadKamailioTemplate(), values);
  assert.doesNotMatch(off, /^#!define WITH_RTPENGINE$/m);
  assert.match(off, /^# no media relay/m);
  const on = renderKamailioConfig(loadKamailioTemplate(), { ...values, rtpengineNg: "127.0.0.1:15064" });
  assert.match(on, /^#!define WITH_RTPENGINE$/m);
  assert.match(on, /^modparam\("rtpengine", "rtpengine_sock", "udp:127\.0\.0\.1:15064"\)$/m);
  assert.match(
    on,
    /if \(!rtpengine_offer\("replace-origin replace-session-connection"\)\) \{\n\s*sl_send_reply\("503", "Media relay unavailable"\)/,
  );
  assert.match(
    on,
    /onreply_route\[MEDIA_ANSWER\] \{\n\s*if \(has_body\("application\/sdp"\)\) \{\n\s*rtpengine_answer\(/,
  );
  assert.match(on, /failure_route\[MEDIA_FAILED\] \{\n\s*rtpengine_delete\(\);/);
  assert.match(on, /if \(is_method\("BYE"\)\) \{\n\s*rtpengine_delete\(\);/);
  // the define comes before anything reads it
  assert.ok(on.indexOf("#!define WITH_RTPENGINE") < on.indexOf("#!ifdef WITH_RTPENGINE"));
});
