import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { isAlive } from "../../src/os/process.js";
import { startFakeEsl, type FakeEsl } from "../support/fake-event-socket.js";
import { labFixture, ROOT, type LabFixture } from "../support/lab-fixture.js";

interface VerifyJson {
  verdict: string;
  exitCode: number;
  driver: string;
  findings: { check: string; message: string }[];
  components: {
    component: string;
    role: string;
    reachable: boolean | string;
    version?: string;
    versionText: string;
    source: string;
  }[];
}

function verifyJsonFrom(stdout: string): { file: string; json: VerifyJson } {
  const m = /^verify\.json: (.+)$/m.exec(stdout);
  assert.ok(m, `no verify.json line in:\n${stdout}`);
  const file = m[1]!.trim();
  assert.ok(existsSync(file), file);
  return { file, json: JSON.parse(readFileSync(file, "utf8")) as VerifyJson };
}

function labState(f: LabFixture): { components: { role: string; pid: number }[] } {
  return JSON.parse(readFileSync(path.join(f.labDir, "lab.json"), "utf8")) as {
    components: { role: string; pid: number }[];
  };
}

describe("verify on the native lab", () => {
  let f: LabFixture;
  const servers: (FakeEsl | http.Server)[] = [];
  before(async () => {
    f = await labFixture();
    const up = await f.cli(["lab", "up", ...f.flags]);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    for (const s of servers) {
      if (s instanceof http.Server) await new Promise<void>((r) => s.close(() => r()));
      else await s.close();
    }
    await f.dispose();
  });

  test("passes, prints the table, writes verify.json; stand-ins report no PBX version", async () => {
    const r = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^COMPONENT\s+ENDPOINT\s+REACHABLE\s+VERSION\s+SOURCE$/m);
    assert.match(
      r.stdout,
      new RegExp(`old backend \\(SIP OPTIONS\\)\\s+127\\.0\\.0\\.1:${f.ports.old}/udp\\s+yes \\(200 OK`),
    );
    assert.match(
      r.stdout,
      new RegExp(`new backend \\(SIP OPTIONS\\)\\s+127\\.0\\.0\\.1:${f.ports.new}/udp\\s+yes \\(200 OK`),
    );
    assert.match(r.stdout, /Kamailio \(RPC\).*Kamailio 5\.6\.3/);
    assert.match(r.stdout, /verify passed/);
    const { file, json } = verifyJsonFrom(r.stdout);
    assert.ok(file.startsWith(path.join(f.dir, "artifacts", "verify-")), file);
    assert.ok(existsSync(path.join(f.dir, "artifacts", "latest", "verify.json")));
    assert.equal(json.verdict, "pass");
    assert.equal(json.driver, "native");
    const backends = json.components.filter((c) => c.component.endsWith("(SIP OPTIONS)"));
    assert.equal(backends.length, 2);
    for (const b of backends) {
      assert.equal(b.reachable, true);
      assert.equal(b.version, undefined);
      assert.equal(b.versionText, "no PBX version (SIPp stand-in)");
    }
    // Kamailio itself reached each backend (tm.t_uac_wait_block)
    assert.equal(
      json.components.filter((c) => c.component.endsWith("(OPTIONS from Kamailio)") && c.reachable === true).length,
      2,
    );
  });

  test("old and new pointed at the same endpoint: exit 1", async () => {
    const cfg = path.join(f.dir, "same.json");
    writeFileSync(cfg, JSON.stringify({ verify: { new: { sip: `127.0.0.1:${f.ports.old}` } } }));
    const r = await f.cli(["verify", ...f.flags, "--config", cfg, "--artifacts-dir", "artifacts"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`FAIL: old and new resolve to the same endpoint for backend SIP: 127\\.0\\.0\\.1:${f.ports.old}`),
    );
    const { json } = verifyJsonFrom(r.stdout);
    assert.equal(json.verdict, "fail");
    assert.ok(json.findings.some((x) => x.check === "same-endpoint"));
  });

  test("event socket and FusionPBX probes: versions compared, the password never printed or written", async () => {
    const password = "pw-" + Math.random().toString(36).slice(2);
    const eslOld = await startFakeEsl({
      password,
      api: { version: "FreeSWITCH Version 1.10.3-release.5~64bit (-release.5 64bit)\n" },
    });
    const eslNew = await startFakeEsl({
      password,
      api: { version: "FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)\n" },
    });
    const eslSame = await startFakeEsl({
      password,
      api: { version: "FreeSWITCH Version 1.10.3-release.5~64bit (-release.5 64bit)\n" },
    });
    servers.push(eslOld, eslNew, eslSame);
    const web = http.createServer((req, res) => {
      // a fresh FusionPBX: / redirects to its installer, which answers its form (verify follows the redirect)
      if (req.url === "/core/install/install.php") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(
          "<html><head><title>FusionPBX</title></head><body><form method='post'><input type='hidden' name='step' value='2'></form></body></html>",
        );
        return;
      }
      res.writeHead(req.url === "/broken" ? 500 : 302, { location: "/core/install/install.php" });
      res.end();
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
    servers.push(web);
    const webPort = (web.address() as { port: number }).port;
    const write = (name: string, newEsl: number, newUrl: string): string => {
      const file = path.join(f.dir, name);
      writeFileSync(
        file,
        JSON.stringify({
          verify: {
            old: {
              eventSocket: { host: "127.0.0.1", port: eslOld.port, passwordEnv: "TEST_ESL_PW" },
              fusionpbxUrl: `http://127.0.0.1:${webPort}/`,
            },
            new: {
              eventSocket: { host: "127.0.0.1", port: newEsl, passwordEnv: "TEST_ESL_PW" },
              fusionpbxUrl: `http://127.0.0.01:${webPort}${newUrl}`,
            },
          },
        }),
      );
      return file;
    };
    const env = { ...process.env, TEST_ESL_PW: password };

    const ok = await f.cli(
      ["verify", ...f.flags, "--config", write("esl.json", eslNew.port, "/other"), "--artifacts-dir", "artifacts"],
      { env },
    );
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /old FreeSWITCH \(event socket\).*FreeSWITCH 1\.10\.3 .*event socket `api version`/);
    assert.match(ok.stdout, /new FreeSWITCH \(event socket\).*FreeSWITCH 1\.10\.12 /);
    assert.match(ok.stdout, /old FusionPBX \(HTTP\).*yes \(302 -> \/core\/install\/install\.php/);
    const okJson = verifyJsonFrom(ok.stdout);
    for (const text of [ok.stdout, ok.stderr, readFileSync(okJson.file, "utf8")]) assert.ok(!text.includes(password));

    const same = await f.cli(
      [
        "verify",
        ...f.flags,
        "--config",
        write("same-version.json", eslSame.port, "/other"),
        "--artifacts-dir",
        "artifacts",
      ],
      { env },
    );
    assert.equal(same.code, 1, same.stdout + same.stderr);
    assert.match(same.stdout, /FAIL: old and new report the same freeswitch version 1\.10\.3/);

    const sameUrl = await f.cli(
      ["verify", ...f.flags, "--config", write("same-url.json", eslNew.port, "/"), "--artifacts-dir", "artifacts"],
      { env },
    );
    assert.equal(sameUrl.code, 1, sameUrl.stdout);
    assert.match(sameUrl.stdout, /same endpoint for FusionPBX HTTP/);

    const down = await f.cli(
      ["verify", ...f.flags, "--config", write("broken.json", eslNew.port, "/broken"), "--artifacts-dir", "artifacts"],
      { env },
    );
    assert.equal(down.code, 3, down.stdout);
    assert.match(down.stdout, /UNREACHABLE: new FusionPBX \(HTTP\) .* HTTP 500/);

    const wrong = await f.cli(
      ["verify", ...f.flags, "--config", write("esl.json", eslNew.port, "/other"), "--artifacts-dir", "artifacts"],
      {
        env: { ...process.env, TEST_ESL_PW: "not-the-password" },
      },
    );
    assert.equal(wrong.code, 3, wrong.stdout);
    assert.match(wrong.stdout, /authentication refused/);
    assert.ok(!wrong.stdout.includes("not-the-password"));

    const unset = await f.cli(["verify", ...f.flags, "--config", write("esl.json", eslNew.port, "/other")], {
      env: { ...process.env, TEST_ESL_PW: "" },
    });
    assert.equal(unset.code, 2, unset.stdout + unset.stderr);
    assert.match(unset.stderr, /TEST_ESL_PW, which is not set/);
  });

  // last: it stops a backend of this lab
  test("new backend stopped: exit 3 naming it", async () => {
    const newPid = labState(f).components.find((c) => c.role === "new")!.pid;
    process.kill(-newPid, "SIGTERM");
    // gone when it is gone (a loaded machine may take seconds); the deadline only bounds a hang
    for (const deadline = Date.now() + 60_000; isAlive(newPid) && Date.now() < deadline;)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(!isAlive(newPid));
    const r = await f.cli(["verify", ...f.flags, "--artifacts-dir", "artifacts"]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`UNREACHABLE: new backend \\(SIP OPTIONS\\) at 127\\.0\\.0\\.1:${f.ports.new}/udp is unreachable`),
    );
    assert.doesNotMatch(r.stdout, /UNREACHABLE: old/);
    const { json } = verifyJsonFrom(r.stdout);
    assert.equal(json.verdict, "unreachable");
    assert.equal(json.exitCode, 3);
  });
});

describe("seed wrapper local-lab/real-services/verify_versions.sh (native)", () => {
  let f: LabFixture;
  before(async () => {
    f = await labFixture();
  });
  after(async () => {
    await f.dispose();
  });

  test("starts the lab, verifies into the seed's artifacts folder, stops the lab it started", async () => {
    const script = path.join(ROOT, "local-lab", "real-services", "verify_versions.sh");
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn("bash", [script, ...f.flags], { cwd: f.dir, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /lab ready in/);
    assert.match(r.stdout, /verify passed/);
    const { file, json } = verifyJsonFrom(r.stdout);
    try {
      assert.ok(file.startsWith(path.join(ROOT, "local-lab", "real-services", "artifacts", "verify-")), file);
      assert.equal(json.verdict, "pass");
    } finally {
      rmSync(path.dirname(file), { recursive: true, force: true });
    }
    assert.ok(!existsSync(path.join(f.labDir, "lab.json")), "the wrapper left the lab it started running");
  });
});
