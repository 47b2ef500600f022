import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { UsageError } from "../core/errors.js";
import { readTargetFile, targetFromInput } from "./target-file.js";
import { readSecret } from "./secret.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-pbx-es-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const PW = "esl-Secret-7f3";
const env = { HOME: "/home/ops", FS_OLD_PW: PW, FS_NEW_PW: "other-pw", BROKEN_PW: "a\nb" };

const valid = (pbx?: unknown): Record<string, unknown> => ({
  id: "pbx-east",
  dispatcher: {
    setId: 1,
    algorithm: 9,
    old: [{ uri: "sip:10.0.0.10:5060" }],
    new: [{ uri: "sip:10.0.0.20:5060" }],
  },
  sipPolicy: ["10.0.0.0/24"],
  ...(pbx === undefined ? {} : { pbx }),
  nodes: [
    {
      name: "kam1",
      sip: "10.0.0.2:5060",
      rpc: { http: { url: "http://10.0.0.2:5071/RPC" } },
      list: { file: { path: "/etc/kamailio/dispatcher.list" } },
    },
  ],
});

const parse = (raw: unknown) => targetFromInput(raw, "t.yaml", (ref, what) => readSecret(ref, what, env), dir, env);

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    return [err.message, ...err.details].join("\n");
  }
  assert.fail("expected a UsageError");
}

describe("a target file's pbx event sockets", () => {
  it("none named: the spec has no PBX to ask", () => {
    assert.deepEqual(parse(valid()).pbx, {});
  });

  it("old's from an env var, new's from a 0600 file: host, port (default 8021), timeout; the password never printed", () => {
    const file = path.join(dir, "fs-new.pw");
    writeFileSync(file, "file-pw\n", { mode: 0o600 });
    const t = parse(
      valid({
        old: { eventSocket: { host: "10.0.0.10", password: { env: "FS_OLD_PW" } } },
        new: { eventSocket: { host: "10.0.0.20", port: 8022, password: { file: "fs-new.pw" }, timeoutMs: 500 } },
      }),
    );
    const o = t.pbx.old!.eventSocket;
    const n = t.pbx.new!.eventSocket;
    assert.deepEqual([o.host, o.port, o.timeoutMs, o.password.reveal()], ["10.0.0.10", 8021, 1000, PW]);
    assert.deepEqual([n.host, n.port, n.timeoutMs, n.password.reveal()], ["10.0.0.20", 8022, 500, "file-pw"]);
    for (const shown of [JSON.stringify(t), inspect(t, { depth: 10 }), String(o.password)])
      assert.ok(!shown.includes(PW) && !shown.includes("file-pw"), shown);
  });

  it("bad values are exit 2 naming the key, nothing contacted; the password never in the message", () => {
    const cases: [unknown, RegExp][] = [
      [{ old: { eventSocket: { host: "10.0.0.10", password: PW } } }, /^pbx\.old\.eventSocket\.password: /m],
      [{ old: { eventSocket: { host: "10.0.0.10" } } }, /^pbx\.old\.eventSocket\.password: /m],
      [
        { old: { eventSocket: { host: "10.0.0.10", password: { env: "NOT_SET" } } } },
        /^pbx\.old\.eventSocket\.password: environment variable NOT_SET is not set/m,
      ],
      [
        { old: { eventSocket: { host: "10.0.0.10", password: { env: "BROKEN_PW" } } } },
        /^pbx\.old\.eventSocket\.password: holds a line break \(from env BROKEN_PW\)$/m,
      ],
      [
        { old: { eventSocket: { host: "10.0.0.10", password: { file: "missing.pw" } } } },
        /^pbx\.old\.eventSocket\.password: cannot read secret file \S+missing\.pw: no such file$/m,
      ],
      [
        { old: { eventSocket: { host: "192.168.1.10", password: { env: "FS_OLD_PW" } } } },
        /^pbx\.old\.eventSocket\.host: 192\.168\.1\.10 is outside /m,
      ],
      [
        { old: { eventSocket: { host: "fs-old.example", password: { env: "FS_OLD_PW" } } } },
        /^pbx\.old\.eventSocket\.host: host name fs-old\.example is not allowed/m,
      ],
      [
        { old: { eventSocket: { host: "10.0.0.10", port: 70000, password: { env: "FS_OLD_PW" } } } },
        /^pbx\.old\.eventSocket\.port: /m,
      ],
      [
        { old: { eventSocket: { host: "10.0.0.10", timeoutMs: 5, password: { env: "FS_OLD_PW" } } } },
        /^pbx\.old\.eventSocket\.timeoutMs: /m,
      ],
      [
        { old: { eventSocket: { host: "10.0.0.10", password: { env: "FS_OLD_PW" }, pw: 1 } } },
        /^pbx\.old\.eventSocket\.pw: unknown key$/m,
      ],
      [{ older: {} }, /^pbx\.older: unknown key$/m],
      [
        {
          old: { eventSocket: { host: "10.0.0.10", password: { env: "FS_OLD_PW" } } },
          new: { eventSocket: { host: "10.0.0.10", password: { env: "FS_NEW_PW" } } },
        },
        /^pbx\.old\.eventSocket and pbx\.new\.eventSocket are the same socket \(10\.0\.0\.10:8021\); each PBX has its own$/m,
      ],
    ];
    for (const [pbx, want] of cases) {
      const text = usage(() => parse(valid(pbx)));
      assert.match(text, /^t\.yaml: invalid target file; nothing was changed/, text);
      assert.match(text, want, text);
      assert.ok(!text.includes(PW), text);
    }
  });

  it("readTargetFile: a 0644 password file is exit 2 naming it", () => {
    const pw = path.join(dir, "fs-old-0644.pw");
    writeFileSync(pw, `${PW}\n`, { mode: 0o644 });
    const file = path.join(dir, "target.yaml");
    writeFileSync(file, stringify(valid({ old: { eventSocket: { host: "10.0.0.10", password: { file: pw } } } })));
    const text = usage(() => readTargetFile(file, env));
    assert.match(text, /^pbx\.old\.eventSocket\.password: secret file \S+fs-old-0644\.pw has mode 0644; /m);
    assert.ok(!text.includes(PW), text);
  });
});
