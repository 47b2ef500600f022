import assert from "node:assert/strict";
import path from "node:path";
import test from "node:test";
import { defaultLabSettings } from "../config/lab-config.js";
import { dockerTarget } from "../lab/docker/docker-target.js";
import { lockDirOf, type TargetChoice } from "./driver.js";
import { nativeTarget } from "../lab/native-target.js";

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

test("verify on the docker driver: each FreeSWITCH's event socket from the lab's secret (over the lab network), each FusionPBX's published URL, unless the config names them", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import("node:fs");
  const os = await import("node:os");
  const { withDriverVerifyDefaults } = await import("./driver.js");
  const { parseVerifySection } = await import("../config/verify-config.js");
  const { defaultLabSettings } = await import("../config/lab-config.js");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-docker-dir-"));
  const docker = (backends: "freeswitch" | "sipp" = "freeswitch") =>
    ({
      driver: "docker",
      settings: defaultLabSettings,
      dir,
      backends,
      images: "local",
      startEngine: false,
      readyTimeoutMs: 120_000,
    }) as const;
  try {
    const none = withDriverVerifyDefaults(parseVerifySection(undefined), docker());
    assert.equal(none.old.eventSocket, undefined, "no secret: the lab is not up; nothing to probe");
    assert.equal(none.old.fusionpbxUrl, "http://127.0.0.1:18080/");
    assert.equal(none.new.fusionpbxUrl, "http://127.0.0.1:18081/");
    const own = withDriverVerifyDefaults(
      parseVerifySection({ old: { fusionpbxUrl: "http://127.0.0.1:9/" } }),
      docker(),
    );
    assert.equal(own.old.fusionpbxUrl, "http://127.0.0.1:9/");
    assert.equal(
      withDriverVerifyDefaults(parseVerifySection(undefined), { driver: "native", settings: defaultLabSettings }).old
        .fusionpbxUrl,
      undefined,
    );
    for (const role of ["old", "new"]) {
      mkdirSync(path.join(dir, ".state", `freeswitch-${role}`), { recursive: true });
      writeFileSync(path.join(dir, ".state", `freeswitch-${role}`, "event-socket.secret"), `pw-${role}\n`);
    }
    const d = withDriverVerifyDefaults(parseVerifySection(undefined), docker());
    assert.deepEqual(d.old.eventSocket, { host: "172.28.0.20", port: 8021, password: "pw-old" });
    assert.deepEqual(d.new.eventSocket, { host: "172.28.0.21", port: 8021, password: "pw-new" });
    assert.equal(withDriverVerifyDefaults(parseVerifySection(undefined), docker("sipp")).old.eventSocket, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
