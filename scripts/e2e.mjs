#!/usr/bin/env node
// One end-to-end tier, its files one at a time: `native` (the lab's Kamailio, SIPp stand-ins,
// rtpengine, PostgreSQL and the production-node harness: make test) or `real` (real FreeSWITCH and
// FusionPBX: make test-real). A file belongs to `real` when its name says freeswitch, fusionpbx or
// real-services.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

const REAL = /freeswitch|fusionpbx|real-services/;
const DIR = path.join("dist", "test", "e2e");

const tier = process.argv[2];
if (tier !== "native" && tier !== "real") {
  process.stderr.write(`usage: node scripts/e2e.mjs native|real (got ${JSON.stringify(tier ?? "")})\n`);
  process.exit(2);
}
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".test.js") && REAL.test(f) === (tier === "real"))
  .sort()
  .map((f) => path.join(DIR, f));
if (files.length === 0) {
  process.stderr.write(`no ${tier} end-to-end files in ${DIR}: run npm run build first\n`);
  process.exit(3);
}
const child = spawn(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=1", ...files], {
  stdio: "inherit",
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
