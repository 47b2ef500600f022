import assert from "node:assert/strict";
import path from "node:path";
import test from "node:test";
import { defaultLabSettings } from "../config/lab-config.js";
import { dockerTarget } from "./docker-target.js";
import { lockDirOf, type TargetChoice } from "./driver.js";
import { nativeTarget } from "./native-target.js";

test("lockDirOf: where the choice's Target keeps its apply lock (the control pointer's directory), without opening it", () => {
  const native: TargetChoice = { driver: "native", settings: { ...defaultLabSettings, labDir: "/tmp/some-lab" } };
  const t = nativeTarget(native.settings);
  t.close();
  assert.equal(lockDirOf(native), path.dirname(t.lockPath));
  const docker: TargetChoice = {
    driver: "docker",
    settings: defaultLabSettings,
    dir: "local-lab/real-services",
    backends: "sipp",
    images: "local",
    startEngine: false,
    readyTimeoutMs: 120_000,
  };
  assert.equal(lockDirOf(docker), path.resolve(path.dirname(dockerTarget(docker.dir, "sipp").lockPath)));
});
