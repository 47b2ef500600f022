import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultLabSettings } from "../config/lab-config.js";
import { labPaths } from "../config/lab-paths.js";
import { kamailioArgv, uasArgv } from "./layout.js";

const s = { ...defaultLabSettings, labDir: "/lab" };
const p = labPaths("/lab");

test("kamailio argv: foreground, stderr log, lab config, memory", () => {
  assert.deepEqual(kamailioArgv("/usr/sbin/kamailio", s, p), [
    "/usr/sbin/kamailio",
    "-DD",
    "-E",
    "-f",
    "/lab/kamailio.cfg",
    "-m",
    "256",
    "-M",
    "8",
    "-Y",
    "/lab",
    "-w",
    "/lab",
  ]);
});

test("uas argv: own address and port, message log, honest Server header, no stdin", () => {
  const argv = uasArgv("sipp", "/a/uas-answer.xml", s, p, "new");
  assert.deepEqual(argv.slice(0, 7), ["sipp", "-sf", "/a/uas-answer.xml", "-i", "127.0.0.1", "-p", "15080"]);
  assert.equal(argv[argv.indexOf("-message_file") + 1], "/lab/uas-new.messages.log");
  assert.match(argv[argv.indexOf("server_name") + 1]!, /SIPp stand-in .*new backend; not a PBX/);
  assert.ok(argv.includes("-nostdin"));
  assert.equal(argv[argv.indexOf("-rtcheck") + 1], "loose", "retransmissions recognised by To, From, Call-ID, CSeq");
});
