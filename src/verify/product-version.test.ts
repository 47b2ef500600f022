import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../core/assets.js";
import {
  parseFreeswitchVersion,
  parseKamailioVersion,
  parseServerHeader,
  parseSoftwarePhp,
} from "./product-version.js";

const fixture = (name: string): string => readFileSync(path.join(PROJECT_ROOT, "test", "fixtures", name), "utf8");

test("real SIP Server/User-Agent strings give product and version", () => {
  const cases = JSON.parse(fixture("sip-server-headers.json")) as {
    header: string;
    product: string;
    version: string | null;
  }[];
  assert.ok(cases.length >= 10);
  for (const c of cases) {
    const pv = parseServerHeader(c.header);
    assert.equal(pv.product, c.product, c.header);
    assert.equal(pv.version ?? null, c.version, c.header);
  }
});

test("FreeSWITCH's build string is kept beside the version", () => {
  const pv = parseServerHeader("FreeSWITCH-mod_sofia/1.10.12-release~a88d069d6f~64bit");
  assert.deepEqual(pv, {
    product: "FreeSWITCH",
    version: "1.10.12",
    build: "1.10.12-release~a88d069d6f~64bit",
    standIn: false,
  });
});

test("the lab's SIPp stand-in has no PBX version, and none is invented", () => {
  const pv = parseServerHeader("SIPp stand-in (pbx-cutover lab new backend; not a PBX)");
  assert.equal(pv.standIn, true);
  assert.equal(pv.version, undefined);
  // a stand-in header that happens to contain digits still yields no version
  assert.equal(parseServerHeader("SIPp stand-in 3.6.1 (not a PBX)").version, undefined);
});

test("`freeswitch -version` output (1.10.3 and 1.10.12 images)", () => {
  assert.equal(parseFreeswitchVersion(fixture("freeswitch-1.10.3-version.txt"))?.version, "1.10.3");
  const v12 = parseFreeswitchVersion(fixture("freeswitch-1.10.12-version.txt"));
  assert.equal(v12?.version, "1.10.12");
  assert.equal(v12?.build, "1.10.12-release~64bit");
});

test("event socket `api version` and `version short` bodies", () => {
  assert.equal(parseFreeswitchVersion(fixture("freeswitch-1.10.10-event-socket-api-version.txt"))?.version, "1.10.10");
  assert.equal(parseFreeswitchVersion("1.10.12\n")?.version, "1.10.12");
  assert.equal(parseFreeswitchVersion("-ERR version Command not found!"), undefined);
  assert.equal(parseFreeswitchVersion(""), undefined);
});

test("FusionPBX software.php: the 5.3.0 tag says 5.3.3, the 5.5.7 tag says 5.5.7", () => {
  assert.equal(parseSoftwarePhp(fixture("fusionpbx-5.3.0-software.php"))?.version, "5.3.3");
  assert.equal(parseSoftwarePhp(fixture("fusionpbx-5.5.7-software.php"))?.version, "5.5.7");
  assert.equal(parseSoftwarePhp("<?php class software { const VERSION = '5.4.1'; }")?.version, "5.4.1");
  assert.equal(parseSoftwarePhp("<?php echo 'hello';"), undefined);
});

test("Kamailio core.version", () => {
  assert.equal(parseKamailioVersion(fixture("kamailio-5.6.3-kamcmd-core.version.txt"))?.version, "5.6.3");
  assert.equal(parseKamailioVersion("something else"), undefined);
});
