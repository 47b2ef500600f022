import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultLabSettings } from "../config/lab-config.js";
import { labPaths } from "../config/lab-paths.js";
import { parseDispatcherList, entriesOf } from "../dispatcher/list.js";
import {
  dispatcherAlgorithmOfConfig,
  loadKamailioTemplate,
  renderKamailioConfig,
} from "../kamailio/config-template.js";
import { initialDispatcherList, kamailioConfigValues, portsHint } from "./native-files.js";

const s = { ...defaultLabSettings, labDir: "/lab" };
const p = labPaths("/lab");

test("kamailio.cfg values: the lab's addresses and ports, its files in the lab dir, the algorithm and HEP mirror", () => {
  const v = kamailioConfigValues(
    { ...s, kamailio: { ...s.kamailio, sipPort: 25060, dispatcherAlg: 9 }, hep: { ...s.hep, mirror: "off" } },
    p,
  );
  assert.equal(v.sipPort, 25060);
  assert.equal(v.ctlSocket, p.ctlSocket);
  assert.equal(v.rpcSecretCfg, p.rpcSecretCfg);
  assert.equal(v.dispatcherList, p.dispatcherList);
  assert.equal(v.hepMirror, false);
  assert.equal(kamailioConfigValues(s, p).hepMirror, s.hep.mirror === "on");
  assert.equal(dispatcherAlgorithmOfConfig(renderKamailioConfig(loadKamailioTemplate(), v)), 9);
});

test("the first list routes to old only, in the lab's set", () => {
  const entries = entriesOf(parseDispatcherList(initialDispatcherList(s)));
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.setId, s.kamailio.setId);
  assert.equal(entries[0]!.uri, `sip:${s.old.address}:${s.old.port}`);
});

test("a taken port: the hint names the flags that move the ports this lab has", () => {
  assert.equal(
    portsHint(s),
    "stop whatever holds it, or pick other ports (--sip-port, --rpc-port, --old-port, --new-port)",
  );
  const fs = { ...s, backends: "freeswitch" as const };
  assert.match(portsHint(fs), /--new-port, --old-esl-port, --new-esl-port\)$/);
  assert.match(
    portsHint({ ...fs, fusionpbx: { ...fs.fusionpbx, enabled: true } }),
    /--new-esl-port, --postgres-port, --old-http-port, --new-http-port\)$/,
  );
});
