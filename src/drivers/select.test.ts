import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { defaultLabSettings } from "../config/lab-config.js";
import { parseVerifySection } from "../config/verify-config.js";
import { CutoverError } from "../core/errors.js";
import { ExitCode } from "../core/exit-codes.js";
import { dockerTarget } from "../lab/docker/docker-target.js";
import { DOCKER_LAB_DIR, DOCKER_LAB_POLICY } from "../lab/docker/topology.js";
import { nativeTarget } from "../lab/native-target.js";
import { LAB_LOOPBACK_POLICY } from "../sip/sip-policy.js";
import type { ChoiceInput, DockerChoice, NativeChoice } from "./driver.js";
import { UsageError } from "../core/errors.js";
import { DRIVER_NAMES, driverFor, driverNamed, driverOf } from "./select.js";

const native: NativeChoice = { driver: "native", settings: { ...defaultLabSettings, labDir: "/tmp/some-lab" } };
const docker = (dir = "local-lab/real-services", backends: "freeswitch" | "sipp" = "sipp"): DockerChoice => ({
  driver: "docker",
  settings: defaultLabSettings,
  dir,
  backends,
  images: "local",
  startEngine: false,
  readyTimeoutMs: 120_000,
});
const input = (o: Partial<ChoiceInput> = {}): ChoiceInput => ({
  settings: defaultLabSettings,
  running: undefined,
  flags: {},
  needsEvidence: false,
  env: {},
  ...o,
});

test("--driver picks by name: native when not given, docker, anything else exit 2 naming the drivers there are", () => {
  assert.deepEqual(DRIVER_NAMES, ["native", "docker", "production"]);
  assert.equal(driverNamed(undefined).name, "native");
  assert.equal(driverNamed("native").name, "native");
  assert.equal(driverNamed("docker").name, "docker");
  for (const bad of ["Docker", "prod", "", "toString", "__proto__"]) {
    assert.throws(
      () => driverNamed(bad),
      (e: unknown) =>
        e instanceof CutoverError &&
        e.exitCode === ExitCode.Usage &&
        e.message === `--driver must be native or docker or production, got ${JSON.stringify(bad)}`,
      bad,
    );
  }
});

test("a choice gets the driver it names, and each driver's choice says its own name", () => {
  assert.equal(driverFor(native).name, "native");
  assert.equal(driverFor(docker()).name, "docker");
  assert.equal(driverNamed("native").choose(input()).driver, "native");
  assert.equal(driverNamed("docker").choose(input()).driver, "docker");
  assert.equal(driverNamed("native").adoptsRunningLab, true, "the native lab's settings adopt a running lab's");
  assert.equal(driverNamed("docker").adoptsRunningLab, false, "the docker lab's topology is its own");
});

test("the docker choice from its flags: compose dir, backends (sipp when the command needs per-call evidence), images, engine, a longer ready timeout unless given", () => {
  const d = driverNamed("docker");
  assert.deepEqual(d.choose(input()), docker(DOCKER_LAB_DIR, "freeswitch"));
  assert.equal((d.choose(input({ needsEvidence: true })) as DockerChoice).backends, "sipp");
  const flagged = d.choose(
    input({
      flags: { dockerDir: "/x", dockerBackends: "freeswitch", dockerImages: "seed", readyTimeoutMs: "9000" },
      settings: { ...defaultLabSettings, readyTimeoutMs: 9000 },
      needsEvidence: true,
      env: { PBX_CUTOVER_DOCKER_START_ENGINE: "1" },
    }),
  ) as DockerChoice;
  assert.deepEqual(
    [flagged.dir, flagged.backends, flagged.images, flagged.startEngine, flagged.readyTimeoutMs],
    ["/x", "freeswitch", "seed", true, 9000],
  );
  assert.throws(() => d.choose(input({ flags: { dockerBackends: "asterisk" } })), /--docker-backends must be/);
  assert.throws(() => d.choose(input({ flags: { dockerImages: "latest" } })), /--docker-images/);
});

test("the native choice keeps the running lab's state file it was resolved with", () => {
  const running = { settings: defaultLabSettings, components: [] } as unknown as NonNullable<ChoiceInput["running"]>;
  assert.equal((driverNamed("native").choose(input({ running })) as NativeChoice).running, running);
  assert.equal("running" in driverNamed("native").choose(input()), false);
});

test("what each driver says before a Target is open: SIP policy, algorithm, where, real PBX, --traffic", () => {
  const n = driverFor(native);
  assert.equal(n.sipPolicy, LAB_LOOPBACK_POLICY);
  assert.equal(n.dispatcherAlgorithm, 4);
  assert.equal(
    driverFor({
      ...native,
      settings: { ...native.settings, kamailio: { ...native.settings.kamailio, dispatcherAlg: 9 } },
    }).dispatcherAlgorithm,
    9,
  );
  assert.equal(n.where, "lab dir /tmp/some-lab");
  assert.equal(n.realPbx, false);
  assert.equal(driverFor({ ...native, settings: { ...native.settings, backends: "freeswitch" } }).realPbx, true);
  assert.equal(n.placesTraffic, true);
  assert.match(n.kamailioDownHint, /pbx-cutover lab status \(start it with pbx-cutover lab up\)$/);
  const d = driverFor(docker("/compose"));
  assert.equal(d.sipPolicy, DOCKER_LAB_POLICY);
  assert.equal(d.dispatcherAlgorithm, 4);
  assert.equal(d.where, "docker dir /compose");
  assert.equal(driverFor(docker("/compose", "freeswitch")).realPbx, false);
  assert.equal(d.placesTraffic, false);
  assert.match(d.kamailioDownHint, /lab status --driver docker \(start it with pbx-cutover lab up --driver docker\)$/);
});

test("lockDir: where the choice's Target keeps its apply lock (the control pointer's directory), without opening it", async () => {
  const t = nativeTarget(native.settings);
  t.close();
  assert.equal(driverFor(native).lockDir, path.dirname(t.lockPath));
  const opened = await driverFor(native).openTarget();
  opened.close();
  assert.equal(opened.lockPath, t.lockPath, "the native driver's Target is the native lab's");
  const d = docker();
  assert.equal(driverFor(d).lockDir, path.resolve(path.dirname(dockerTarget(d.dir, "sipp").lockPath)));
});

test("verify on the docker driver: each FreeSWITCH's event socket from the lab's secret (over the lab network), each FusionPBX's published URL, unless the config names them", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-docker-dir-"));
  try {
    const none = driverFor(docker(dir, "freeswitch")).withVerifyDefaults(parseVerifySection(undefined));
    assert.equal(none.old.eventSocket, undefined, "no secret: the lab is not up; nothing to probe");
    assert.equal(none.old.fusionpbxUrl, "http://127.0.0.1:18080/");
    assert.equal(none.new.fusionpbxUrl, "http://127.0.0.1:18081/");
    const own = driverFor(docker(dir, "freeswitch")).withVerifyDefaults(
      parseVerifySection({ old: { fusionpbxUrl: "http://127.0.0.1:9/" } }),
    );
    assert.equal(own.old.fusionpbxUrl, "http://127.0.0.1:9/");
    assert.equal(
      driverFor({ driver: "native", settings: defaultLabSettings }).withVerifyDefaults(parseVerifySection(undefined))
        .old.fusionpbxUrl,
      undefined,
    );
    for (const role of ["old", "new"]) {
      mkdirSync(path.join(dir, ".state", `freeswitch-${role}`), { recursive: true });
      writeFileSync(path.join(dir, ".state", `freeswitch-${role}`, "event-socket.secret"), `pw-${role}\n`);
    }
    const d = driverFor(docker(dir, "freeswitch")).withVerifyDefaults(parseVerifySection(undefined));
    assert.deepEqual(d.old.eventSocket, { host: "172.28.0.20", port: 8021, password: "pw-old" });
    assert.deepEqual(d.new.eventSocket, { host: "172.28.0.21", port: 8021, password: "pw-new" });
    assert.equal(
      driverFor(docker(dir, "sipp")).withVerifyDefaults(parseVerifySection(undefined)).old.eventSocket,
      undefined,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("no code outside src/drivers/ asks which driver it runs on (`driver ===` / `driver !==`)", () => {
  const src = path.resolve(import.meta.dirname, "..", "..", "..", "src");
  const asks: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== path.join(src, "drivers")) walk(p);
      } else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) {
        readFileSync(p, "utf8")
          .split("\n")
          .forEach((line, i) => {
            if (/\bdriver(\w*\([^)]*\)|\.name)?\s*[!=]==/.test(line))
              asks.push(`${path.relative(src, p)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
  };
  walk(src);
  assert.deepEqual(asks, []);
});

test("--target FILE is the production driver; with --driver docker it is exit 2; --driver production needs --target", () => {
  assert.equal(driverOf({ target: "t.yaml" }).name, "production");
  assert.equal(driverOf({ target: "t.yaml", driver: "native" }).name, "production");
  assert.equal(driverOf({}).name, "native");
  assert.throws(() => driverOf({ target: "t.yaml", driver: "docker" }), /--driver docker cannot be given with it/);
  assert.throws(
    () => driverNamed("production").choose(input()),
    (e: unknown) => e instanceof UsageError && /pass --target FILE/.test(e.message),
  );
});
