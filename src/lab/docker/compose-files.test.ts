/**
 * Static checks of the Docker real-services lab (no Docker engine needed): the compose files
 * validate against the Compose specification schema (shipped by the dclint npm package), name the
 * project's images (and the seed's in the override), publish the seed's ports on loopback, mount
 * only files that exist (or that lab up writes), and agree with the driver's topology.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { PROJECT_ROOT } from "../../core/assets.js";
import { loadKamailioTemplate } from "../../kamailio/config-template.js";
import { RPC_SECRET_CFG, writeRpcSecret } from "../../kamailio/rpc-secret.js";
import { standInServerHeader } from "../layout.js";
import { dockerInitialDispatcherList, dockerKamailioConfig } from "./docker-files.js";
import { freeswitchArgv, freeswitchPaths } from "../freeswitch/config.js";
import { FREESWITCH_TREE_IN_IMAGE, LOCAL_IMAGES, SEED_IMAGES, freeswitchImage } from "./images.js";
import {
  COMPOSE_CALLS,
  COMPOSE_REAL,
  COMPOSE_SEED_IMAGES,
  CONTAINERS,
  DOCKER_LAB_DIR,
  HOST_PORTS,
  IN_CONTAINER,
  NETWORK,
  SIP_PORT_ENV,
  hostSipPort,
} from "./topology.js";

type Service = {
  image?: string;
  build?: { context: string; args?: Record<string, string> };
  container_name?: string;
  ports?: string[];
  volumes?: string[];
  entrypoint?: string[];
  command?: string[];
  healthcheck?: { test: string[] };
  networks?: Record<string, { ipv4_address?: string }> | string[];
};
type Compose = { services: Record<string, Service>; networks?: Record<string, unknown> };

const load = (file: string): Compose => parseYaml(readFileSync(path.join(DOCKER_LAB_DIR, file), "utf8")) as Compose;
const real = load(COMPOSE_REAL);
const calls = load(COMPOSE_CALLS);
const seed = load(COMPOSE_SEED_IMAGES);

function composeSchemaValidator() {
  const require = createRequire(import.meta.url);
  const schemaFile = path.join(path.dirname(require.resolve("dclint/package.json")), "schemas", "compose.schema.json");
  const schema = JSON.parse(readFileSync(schemaFile, "utf8")) as Record<string, unknown>;
  assert.equal(schema["$id"], "compose_spec.json");
  assert.equal(schema["title"], "Compose Specification");
  delete schema["$schema"]; // draft-07 under an https id Ajv does not know by that name
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

test("both compose files validate against the Compose specification schema (npm package dclint)", () => {
  const validate = composeSchemaValidator();
  for (const [name, doc] of [
    [COMPOSE_REAL, real],
    [COMPOSE_CALLS, calls],
    [COMPOSE_SEED_IMAGES, seed],
  ] as const) {
    const ok = validate(doc);
    assert.ok(ok, `${name}: ${JSON.stringify(validate.errors, null, 2)}`);
  }
});

test("the schema check can fail: a broken file is rejected", () => {
  const validate = composeSchemaValidator();
  const broken = structuredClone(real) as unknown as { services: Record<string, Record<string, unknown>> };
  broken.services["kamailio"]!["ports"] = "15060:5060/udp"; // must be a list
  assert.equal(validate(broken), false);
  const unknownKey = structuredClone(real) as unknown as { services: Record<string, Record<string, unknown>> };
  unknownKey.services["kamailio"]!["imagee"] = "typo";
  assert.equal(validate(unknownKey), false);
});

test("images: the project's own in the main files, the seed's pulled ones in the override", () => {
  assert.equal(real.services["kamailio"]?.image, LOCAL_IMAGES.kamailio);
  assert.equal(real.services["freeswitch-old"]?.image, LOCAL_IMAGES.freeswitchOld);
  assert.equal(real.services["freeswitch-new"]?.image, LOCAL_IMAGES.freeswitchNew);
  for (const svc of ["sipp-uas-old", "sipp-uas-new", "sipp-uac"])
    assert.equal(calls.services[svc]?.image, LOCAL_IMAGES.sipp);
  assert.equal(real.services["fusionpbx-old"]?.image, LOCAL_IMAGES.fusionpbxOld);
  assert.equal(real.services["fusionpbx-new"]?.image, LOCAL_IMAGES.fusionpbxNew);
  for (const role of ["old", "new"])
    assert.equal(real.services[`fusionpbx-${role}-db`]?.image, LOCAL_IMAGES.postgresql);
  assert.deepEqual(
    [LOCAL_IMAGES.fusionpbxOld, LOCAL_IMAGES.fusionpbxNew],
    ["pbx-cutover/fusionpbx:5.3.0", "pbx-cutover/fusionpbx:5.5.7"],
  );
  assert.equal(seed.services["kamailio"]?.image, "kamailio/kamailio-ci:latest");
  assert.equal(seed.services["freeswitch-old"]?.image, "safarov/freeswitch:1.10.3");
  assert.equal(seed.services["freeswitch-new"]?.image, "safarov/freeswitch:1.10.12");
  assert.deepEqual(SEED_IMAGES, {
    kamailio: "kamailio/kamailio-ci:latest",
    freeswitchOld: "safarov/freeswitch:1.10.3",
    freeswitchNew: "safarov/freeswitch:1.10.12",
  });
  // nothing is built by compose: the images come from src/lab/docker/images.ts
  for (const c of [real, calls, seed]) for (const s of Object.values(c.services)) assert.equal(s.build, undefined);
});

test("host ports are the seed's: 15060/udp, 18080/tcp, 18081/tcp, on loopback, nothing else", () => {
  const published = [real, calls, seed].flatMap((c) => Object.values(c.services).flatMap((s) => s.ports ?? []));
  assert.deepEqual(published.sort(), [
    "127.0.0.1:${PBX_CUTOVER_DOCKER_FUSIONPBX_NEW_PORT:-18081}:8080/tcp",
    "127.0.0.1:${PBX_CUTOVER_DOCKER_FUSIONPBX_OLD_PORT:-18080}:8080/tcp",
    "127.0.0.1:${PBX_CUTOVER_DOCKER_SIP_PORT:-15060}:5060/udp",
  ]);
  assert.deepEqual(HOST_PORTS, { kamailioSip: 15060, fusionpbxOld: 18080, fusionpbxNew: 18081 });
  assert.equal(HOST_PORTS.kamailioSip, 15060);
  assert.equal(
    real.services["kamailio"]?.ports?.[0],
    `127.0.0.1:\${${SIP_PORT_ENV}:-${HOST_PORTS.kamailioSip}}:${IN_CONTAINER.kamailioSipPort}/udp`,
  );
  assert.equal(hostSipPort({}), 15060);
  assert.equal(hostSipPort({ [SIP_PORT_ENV]: "25060" }), 25060);
  assert.throws(() => hostSipPort({ [SIP_PORT_ENV]: "80" }), /1024-65535/);
});

test("container names: the seed's real-kamailio, real-sipp-uas-old, real-sipp-uas-new, and the driver's", () => {
  assert.equal(real.services["kamailio"]?.container_name, "real-kamailio");
  assert.equal(calls.services["sipp-uas-old"]?.container_name, "real-sipp-uas-old");
  assert.equal(calls.services["sipp-uas-new"]?.container_name, "real-sipp-uas-new");
  assert.equal(calls.services["sipp-uac"]?.container_name, CONTAINERS.sippUac);
  for (const role of ["old", "new"] as const) {
    assert.equal(real.services[`freeswitch-${role}`]?.container_name, CONTAINERS.freeswitch[role]);
    assert.equal(real.services[`fusionpbx-${role}`]?.container_name, CONTAINERS.fusionpbx[role]);
    assert.equal(real.services[`fusionpbx-${role}-db`]?.container_name, CONTAINERS.fusionpbxDb[role]);
    assert.equal(calls.services[`sipp-uas-${role}`]?.container_name, CONTAINERS.sippUas[role]);
  }
});

test("fixed addresses agree with the driver's topology (dispatcher URIs never depend on DNS)", () => {
  const ip = (c: Compose, svc: string): string | undefined => {
    const n = c.services[svc]?.networks;
    return n && !Array.isArray(n) ? n["lab"]?.ipv4_address : undefined;
  };
  assert.equal(ip(real, "kamailio"), NETWORK.kamailio);
  for (const role of ["old", "new"] as const) {
    assert.equal(ip(real, `freeswitch-${role}`), NETWORK.freeswitch[role]);
    assert.equal(ip(calls, `sipp-uas-${role}`), NETWORK.sippUas[role]);
  }
  assert.equal(ip(calls, "sipp-uac"), NETWORK.sippUac);
  assert.deepEqual(real.networks, calls.networks, "both files declare the same lab network");
});

test("every file or directory a compose file mounts or builds from exists", () => {
  for (const [name, c] of [
    [COMPOSE_REAL, real],
    [COMPOSE_CALLS, calls],
    [COMPOSE_SEED_IMAGES, seed],
  ] as const) {
    for (const [svc, s] of Object.entries(c.services)) {
      for (const v of s.volumes ?? []) {
        const host = v.split(":")[0]!;
        if (!host.startsWith(".") && !host.startsWith("/")) continue; // named volume
        if (host.startsWith("./.state/")) continue; // written by lab up (each FreeSWITCH's run directory)
        assert.ok(existsSync(path.resolve(DOCKER_LAB_DIR, host)), `${name} ${svc}: ${host} does not exist`);
      }
      if (s.build) {
        const dockerfile = path.resolve(DOCKER_LAB_DIR, s.build.context, "Dockerfile");
        assert.ok(existsSync(dockerfile), `${name} ${svc}: ${dockerfile}`);
        for (const m of readFileSync(dockerfile, "utf8").matchAll(/^COPY\s+(\S+)\s/gm)) {
          assert.ok(existsSync(path.resolve(DOCKER_LAB_DIR, s.build.context, m[1]!)), `${dockerfile}: COPY ${m[1]!}`);
        }
      }
      // scripts and scenarios referenced inside the container must come from a mounted host dir
      for (const arg of [...(s.entrypoint ?? []), ...(s.command ?? [])]) {
        if (!/^\/(pbx-cutover|scenarios)\//.test(arg)) continue;
        const mount = (s.volumes ?? []).map((v) => v.split(":")).find(([, inside]) => arg.startsWith(`${inside!}/`));
        assert.ok(mount, `${svc}: ${arg} is not under a mounted directory`);
        const onHost = path.resolve(DOCKER_LAB_DIR, mount[0]!, arg.slice(mount[1]!.length + 1));
        assert.ok(existsSync(onHost) && statSync(onHost).isFile(), `${svc}: ${arg} -> ${onHost} missing`);
      }
    }
  }
});

test("Kamailio: the project's config, rendered for the container, mounted as a directory; ctl socket explicit", () => {
  const kdir = path.join(DOCKER_LAB_DIR, "kamailio");
  assert.ok(real.services["kamailio"]?.volumes?.includes(`./kamailio:${IN_CONTAINER.kamailioConfigDir}`));
  const cfg = readFileSync(path.join(kdir, "kamailio.cfg"), "utf8");
  assert.equal(
    cfg,
    dockerKamailioConfig(loadKamailioTemplate(), "local"),
    "kamailio.cfg is stale: re-render it from the template",
  );
  assert.match(cfg, /^modparam\("ctl", "binrpc", "unix:\/run\/kamailio\/kamailio_ctl"\)$/m);
  assert.equal(readFileSync(path.join(kdir, "dispatcher.list"), "utf8"), dockerInitialDispatcherList("freeswitch"));
  assert.deepEqual(real.services["kamailio"]?.healthcheck?.test, [
    "CMD",
    "kamcmd",
    "-s",
    `unix:${IN_CONTAINER.kamailioCtl}`,
    "core.version",
  ]);
});

test("the docker Kamailio config passes `kamailio -c` (the local image is Debian's kamailio, as here)", () => {
  const cfg = readFileSync(path.join(DOCKER_LAB_DIR, "kamailio", "kamailio.cfg"), "utf8");
  assert.match(cfg, /mpath="\/usr\/lib\/x86_64-linux-gnu\/kamailio\/modules\/"/);
  assert.match(dockerKamailioConfig(loadKamailioTemplate(), "seed"), /mpath="\/usr\/lib\/kamailio\/modules\/"/);
  const tmp = path.join(PROJECT_ROOT, "dist", "kamailio-docker-check.cfg");
  // the RPC's secret is written by `lab up` into the mounted directory: a stand-in here
  const secretInContainer = `${IN_CONTAINER.kamailioConfigDir}/${RPC_SECRET_CFG}`;
  assert.ok(cfg.includes(`include_file "${secretInContainer}"`), "the config includes the RPC's secret");
  const secret = path.join(PROJECT_ROOT, "dist", "kamailio-docker-check-secret.cfg");
  writeRpcSecret(secret);
  execFileSync("sh", ["-c", 'cat > "$1"', "sh", tmp], { input: cfg.replace(secretInContainer, secret) });
  const bin = existsSync("/usr/sbin/kamailio") ? "/usr/sbin/kamailio" : "kamailio";
  const out = execFileSync(bin, ["-c", "-f", tmp], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  assert.match(out + "", /Listening on/);
});

test("FreeSWITCH (local images): the native lab's argv, run directory in the mount; (seed images) our start script", () => {
  for (const role of ["old", "new"] as const) {
    const svc = real.services[`freeswitch-${role}`];
    const inside = freeswitchPaths(IN_CONTAINER.freeswitchLabDir, role);
    assert.deepEqual(svc?.command, freeswitchArgv(FREESWITCH_TREE_IN_IMAGE, inside).slice(1));
    assert.ok(svc?.volumes?.includes(`./.state/freeswitch-${role}:${inside.base}`));
    assert.match(
      freeswitchImage(role, "1.10.3", "/x").dockerfile,
      new RegExp(`ENTRYPOINT \\["${IN_CONTAINER.freeswitchBinary}"\\]`),
    );
    assert.deepEqual(seed.services[`freeswitch-${role}`]?.entrypoint, ["/bin/sh", "/pbx-cutover/freeswitch/start.sh"]);
  }
  const esl = readFileSync(path.join(DOCKER_LAB_DIR, "freeswitch", "event_socket.conf.xml"), "utf8");
  assert.match(esl, /<param name="listen-ip" value="0\.0\.0\.0"\/>/);
  const start = readFileSync(path.join(DOCKER_LAB_DIR, "freeswitch", "start.sh"), "utf8");
  assert.match(start, /external_\(rtp\|sip\)_ip=/);
  assert.match(start, /local_ip_v4/);
});

test("SIPp UAS containers: the project's scenario, the honest Server header, logs into the mounted dir", () => {
  for (const role of ["old", "new"] as const) {
    const cmd = calls.services[`sipp-uas-${role}`]?.command ?? [];
    assert.equal(
      cmd[cmd.indexOf("-rtcheck") + 1],
      "loose",
      "the containers absorb INVITE copies as the native stand-ins do",
    );
    assert.equal(cmd[cmd.indexOf("-sf") + 1], "/scenarios/uas-answer.xml");
    assert.equal(cmd[cmd.indexOf("server_name") + 1], standInServerHeader(role));
    assert.equal(cmd[cmd.indexOf("-message_file") + 1], `${IN_CONTAINER.sippLogDir}/uas-${role}.messages.log`);
    assert.equal(cmd[cmd.indexOf("-i") + 1], NETWORK.sippUas[role]);
    assert.ok(calls.services[`sipp-uas-${role}`]?.volumes?.includes(`./sipp-logs:${IN_CONTAINER.sippLogDir}`));
  }
});
