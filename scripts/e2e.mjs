#!/usr/bin/env node
// One end-to-end tier, its files one at a time:
//   native   the native lab: Kamailio, SIPp stand-ins, rtpengine (make test)
//   targets  production targets: Kamailio nodes the tool did not start, on 127.0.1.x with their own
//            sshd, TLS, PostgreSQL, fleets of them (make test-targets; file names target-*)
//   real     real FreeSWITCH and FusionPBX (make test-real; file names saying freeswitch, fusionpbx
//            or real-services)
// `--list` prints the tier's files instead of running them.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

const DIR = path.join("dist", "test", "e2e");
/** a file's tier, by its name: real services first (a target file on FreeSWITCH is real) */
const tierOf = (file) =>
  /freeswitch|fusionpbx|real-services/.test(file) ? "real" : file.startsWith("target-") ? "targets" : "native";

const [tier, flag] = process.argv.slice(2);
if (!["native", "targets", "real"].includes(tier) || (flag !== undefined && flag !== "--list")) {
  process.stderr.write(
    `usage: node scripts/e2e.mjs native|targets|real [--list] (got ${JSON.stringify(process.argv.slice(2).join(" "))})\n`,
  );
  process.exit(2);
}
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".test.js") && tierOf(f) === tier)
  .sort()
  .map((f) => path.join(DIR, f));
if (files.length === 0) {
  process.stderr.write(`no ${tier} end-to-end files in ${DIR}: run npm run build first\n`);
  process.exit(3);
}
if (flag === "--list") {
  process.stdout.write(`${files.join("\n")}\n`);
  process.exit(0);
}
const child = spawn(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=1", ...files], {
  stdio: "inherit",
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
