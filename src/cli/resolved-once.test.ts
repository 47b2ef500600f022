/**
 * Flags are resolved once at the edge: a command reads the config file once and lab.json once (the
 * running-lab check), whatever it builds from them afterwards (Target, lab control, the dispatcher
 * algorithm, the sim's request). The reads are counted at the file system (fs.openSync for the config
 * file, fs.readFileSync for lab.json), so a second resolution anywhere below the command shows up.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import os from "node:os";
import path from "node:path";
import test, { mock } from "node:test";
import { Command } from "commander";
import { registerMigrateCommand } from "./commands/migrate.js";
import { registerPlanCommand } from "./commands/plan.js";
import { simRequestFrom } from "./sim-options.js";
import { defaultLabSettings } from "../config/lab-config.js";
import { driverFor } from "../drivers/select.js";
import { loadConfigFile } from "../config/file.js";
import { parseVerifySection } from "../config/verify-config.js";
import { targetChoiceFrom } from "./target-options.js";

interface Reads {
  config: number;
  labJson: number;
}

/** Run `fn` with the config file's opens and lab.json's reads counted (stdout silenced). */
async function counting(configFile: string, labDir: string, fn: () => Promise<void>): Promise<Reads> {
  const reads: Reads = { config: 0, labJson: 0 };
  const labJson = path.join(labDir, "lab.json");
  const realOpen = fs.openSync;
  const realRead = fs.readFileSync;
  fs.openSync = (p: fs.PathLike, ...rest: unknown[]) => {
    if (path.resolve(String(p)) === configFile) reads.config++;
    return (realOpen as (...a: unknown[]) => number)(p, ...rest);
  };
  fs.readFileSync = ((p: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
    if (typeof p !== "number" && path.resolve(String(p)) === labJson) reads.labJson++;
    return (realRead as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof fs.readFileSync;
  syncBuiltinESMExports();
  const silenced = mock.method(process.stdout, "write", () => true);
  try {
    await fn();
  } finally {
    silenced.mock.restore();
    fs.openSync = realOpen;
    fs.readFileSync = realRead;
    syncBuiltinESMExports();
  }
  return reads;
}

function fixture(t: { after: (fn: () => void) => void }): { configFile: string; labDir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-resolved-once-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const labDir = path.join(dir, "lab");
  const configFile = path.join(dir, "config.json");
  fs.writeFileSync(configFile, JSON.stringify({ lab: { labDir, kamailio: { sipPort: 25060 } } }));
  // a lab.json naming a process that is not ours (pid 1): read, and the lab found not running
  fs.mkdirSync(labDir);
  const kamailio = {
    role: "kamailio",
    pid: 1,
    comm: "kamailio",
    address: "127.0.0.1",
    port: 15060,
    log: path.join(labDir, "kamailio.log"),
    argv: ["kamailio"],
  };
  const state = {
    version: 1,
    driver: "native",
    startedAt: "2026-12-02T00:00:00.000Z",
    settings: { ...defaultLabSettings, labDir },
    components: [kamailio],
  };
  fs.writeFileSync(path.join(labDir, "lab.json"), JSON.stringify(state));
  return { configFile, labDir };
}

async function run(register: (p: Command) => void, args: string[]): Promise<void> {
  const program = new Command("pbx-cutover").exitOverride();
  register(program);
  await program.parseAsync(["node", "pbx-cutover", ...args]);
}

test("plan --dry-run and migrate --dry-run read the config file once and lab.json once", async (t) => {
  const { configFile, labDir } = fixture(t);
  for (const [name, register] of [
    ["plan", registerPlanCommand],
    ["migrate", registerMigrateCommand],
  ] as const) {
    const reads = await counting(configFile, labDir, () =>
      run(register, [name, "--dry-run", "--steps", "0,50,100", "--config", configFile]),
    );
    assert.deepEqual(reads, { config: 1, labJson: 1 }, name);
  }
});

test("sim: one resolution (simRequestFrom) serves the lab control, the Target and the algorithm without reading again", async (t) => {
  const { configFile, labDir } = fixture(t);
  const reads = await counting(configFile, labDir, async () => {
    const req = simRequestFrom({ config: configFile }, {});
    const driver = driverFor(req.choice);
    driver.lab();
    const target = await driver.openTarget();
    target.close();
    assert.equal(driver.dispatcherAlgorithm, 4);
    assert.equal(target.proxy.port, 25060, "the config file's settings reach the Target");
  });
  assert.deepEqual(reads, { config: 1, labJson: 1 });
});

test("verify: the config file once for both its sections, lab.json once for the settings, the versions and the defaults", async (t) => {
  const { configFile, labDir } = fixture(t);
  const reads = await counting(configFile, labDir, () => {
    // what the verify command does before it probes
    const file = loadConfigFile(configFile);
    const section = parseVerifySection(file.raw["verify"], {});
    const choice = targetChoiceFrom({ config: configFile }, { file });
    const driver = driverFor(choice);
    driver.withVerifyDefaults(section);
    driver.versionSources();
    return Promise.resolve();
  });
  assert.deepEqual(reads, { config: 1, labJson: 1 });
});
