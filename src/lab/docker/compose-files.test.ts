/**
 * Static checks of the Docker real-services lab (no Docker engine needed): the compose files
 * validate against the Compose specification schema (shipped by the dclint npm package), pin the
 * seed's images and ports, mount only files that exist, and agree with the driver's topology.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { Ajv } from "ajv";
import { parse as parseYaml } from "yaml";
import { PROJECT_ROOT } from "../../assets.js";
import { loadKamailioTemplate } from "../../kamailio/config-template.js";
import { standInServerHeader } from "../layout.js";
import { dockerInitialDispatcherList, dockerKamailioConfig } from "./docker-files.js";
import { COMPOSE_CALLS, COMPOSE_REAL, CONTAINERS, DOCKER_LAB_DIR, FUSIONPBX_TAGS, HOST_PORTS, IMAGES, IN_CONTAINER, NETWORK } from "./topology.js";

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
  for (const [name, doc] of [[COMPOSE_REAL, real], [COMPOSE_CALLS, calls]] as const) {
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

test("images and FusionPBX tags are exactly the seed's", () => {
  assert.equal(real.services["kamailio"]?.image, "kamailio/kamailio-ci:latest");
  assert.equal(real.services["freeswitch-old"]?.image, "safarov/freeswitch:1.10.3");
  assert.equal(real.services["freeswitch-new"]?.image, "safarov/freeswitch:1.10.12");
  assert.equal(real.services["fusionpbx-old"]?.build?.args?.["FUSIONPBX_TAG"], "5.3.0");
  assert.equal(real.services["fusionpbx-new"]?.build?.args?.["FUSIONPBX_TAG"], "5.5.7");
  assert.deepEqual(IMAGES, {
    kamailio: "kamailio/kamailio-ci:latest",
    freeswitchOld: "safarov/freeswitch:1.10.3",
    freeswitchNew: "safarov/freeswitch:1.10.12",
  });
  assert.deepEqual(FUSIONPBX_TAGS, { old: "5.3.0", new: "5.5.7" });
  // each FusionPBX has its own database service
  for (const role of ["old", "new"]) assert.match(real.services[`fusionpbx-${role}-db`]?.image ?? "", /^postgres:/);
});

test("host ports are the seed's: 15060/udp, 18080/tcp, 18081/tcp, on loopback, nothing else", () => {
  const published = [real, calls].flatMap((c) => Object.values(c.services).flatMap((s) => s.ports ?? []));
  assert.deepEqual(published.sort(), ["127.0.0.1:15060:5060/udp", "127.0.0.1:18080:80/tcp", "127.0.0.1:18081:80/tcp"]);
  assert.deepEqual(HOST_PORTS, { kamailioSip: 15060, fusionpbxOld: 18080, fusionpbxNew: 18081 });
  assert.equal(real.services["kamailio"]?.ports?.[0], `127.0.0.1:${HOST_PORTS.kamailioSip}:${IN_CONTAINER.kamailioSipPort}/udp`);
});

test("container names: the seed's real-kamailio, real-sipp-uas-old, real-sipp-uas-new, and the driver's", () => {
  assert.equal(real.services["kamailio"]?.container_name, "real-kamailio");
  assert.equal(calls.services["sipp-uas-old"]?.container_name, "real-sipp-uas-old");
  assert.equal(calls.services["sipp-uas-new"]?.container_name, "real-sipp-uas-new");
  assert.equal(calls.services["sipp-uac"]?.container_name, CONTAINERS.sippUac);
  for (const role of ["old", "new"] as const) {
    assert.equal(real.services[`freeswitch-${role}`]?.container_name, CONTAINERS.freeswitch[role]);
    assert.equal(real.services[`fusionpbx-${role}`]?.container_name, CONTAINERS.fusionpbx[role]);
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
  for (const [name, c] of [[COMPOSE_REAL, real], [COMPOSE_CALLS, calls]] as const) {
    for (const [svc, s] of Object.entries(c.services)) {
      for (const v of s.volumes ?? []) {
        const host = v.split(":")[0]!;
        if (!host.startsWith(".") && !host.startsWith("/")) continue; // named volume
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
  assert.equal(cfg, dockerKamailioConfig(loadKamailioTemplate()), "kamailio.cfg is stale: re-render it from the template");
  assert.match(cfg, /^modparam\("ctl", "binrpc", "unix:\/run\/kamailio\/kamailio_ctl"\)$/m);
  assert.equal(readFileSync(path.join(kdir, "dispatcher.list"), "utf8"), dockerInitialDispatcherList("freeswitch"));
  assert.deepEqual(real.services["kamailio"]?.healthcheck?.test, ["CMD", "kamcmd", "-s", `unix:${IN_CONTAINER.kamailioCtl}`, "core.version"]);
});

test("the docker Kamailio config passes `kamailio -c` (Debian's module path swapped in)", () => {
  const cfg = readFileSync(path.join(DOCKER_LAB_DIR, "kamailio", "kamailio.cfg"), "utf8").replace(
    'mpath="/usr/lib/kamailio/modules/"',
    'mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"',
  );
  const tmp = path.join(PROJECT_ROOT, "dist", "kamailio-docker-check.cfg");
  execFileSync("sh", ["-c", 'cat > "$1"', "sh", tmp], { input: cfg });
  const bin = existsSync("/usr/sbin/kamailio") ? "/usr/sbin/kamailio" : "kamailio";
  const out = execFileSync(bin, ["-c", "-f", tmp], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  assert.match(out + "", /Listening on/);
});

test("FreeSWITCH: event socket on 0.0.0.0, external IPs overridden, started through our script", () => {
  const esl = readFileSync(path.join(DOCKER_LAB_DIR, "freeswitch", "event_socket.conf.xml"), "utf8");
  assert.match(esl, /<param name="listen-ip" value="0\.0\.0\.0"\/>/);
  const start = readFileSync(path.join(DOCKER_LAB_DIR, "freeswitch", "start.sh"), "utf8");
  assert.match(start, /external_\(rtp\|sip\)_ip=/);
  assert.match(start, /local_ip_v4/);
  for (const role of ["old", "new"]) {
    assert.deepEqual(real.services[`freeswitch-${role}`]?.entrypoint, ["/bin/sh", "/pbx-cutover/freeswitch/start.sh"]);
  }
});

test("SIPp UAS containers: the project's scenario, the honest Server header, logs into the mounted dir", () => {
  for (const role of ["old", "new"] as const) {
    const cmd = calls.services[`sipp-uas-${role}`]?.command ?? [];
    assert.equal(cmd[cmd.indexOf("-sf") + 1], "/scenarios/uas-answer.xml");
    assert.equal(cmd[cmd.indexOf("server_name") + 1], standInServerHeader(role));
    assert.equal(cmd[cmd.indexOf("-message_file") + 1], `${IN_CONTAINER.sippLogDir}/uas-${role}.messages.log`);
    assert.equal(cmd[cmd.indexOf("-i") + 1], NETWORK.sippUas[role]);
    assert.ok(calls.services[`sipp-uas-${role}`]?.volumes?.includes(`./sipp-logs:${IN_CONTAINER.sippLogDir}`));
  }
});
