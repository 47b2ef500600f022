import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import {
  appendFileSafe,
  createExclusive,
  FileMode,
  openAppend,
  tempPathFor,
  writeFileAtomic,
  writeFileAtomicAsync,
} from "./atomic-write.js";
import { FileFaultError, formatError } from "../core/errors.js";
import { closeSync } from "node:fs";

const dir = mkdtempSync(path.join(os.tmpdir(), "pbx-cutover-atomic-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const mode = (f: string): number => statSync(f).mode & 0o777;

function withUmask<T>(mask: number, fn: () => T): T {
  const old = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}

describe("atomic writes with explicit modes", () => {
  for (const mask of [0o077, 0o000, 0o022]) {
    it(`modes are exact under umask ${mask.toString(8).padStart(3, "0")}`, async () => {
      await withUmask(mask, async () => {
        const pub = path.join(dir, `pub-${mask}.list`);
        const priv = path.join(dir, `priv-${mask}.lock`);
        writeFileAtomic(pub, "a\n", { mode: FileMode.public });
        writeFileAtomic(priv, "b\n", { mode: FileMode.private, fsync: true });
        await writeFileAtomicAsync(path.join(dir, `async-${mask}`), "c", { mode: FileMode.public });
        appendFileSafe(path.join(dir, `log-${mask}`), "line\n", FileMode.public);
        assert.equal(mode(pub), 0o644);
        assert.equal(mode(priv), 0o600);
        assert.equal(mode(path.join(dir, `async-${mask}`)), 0o644);
        assert.equal(mode(path.join(dir, `log-${mask}`)), 0o644);
        // an existing file written again gets the mode too (not the umask's, not the old one's)
        writeFileAtomic(pub, "again\n", { mode: FileMode.private });
        assert.equal(mode(pub), 0o600);
      });
    });
  }

  it("no temp file is left behind; the temp name is hidden, random and in the same directory", () => {
    const f = path.join(dir, "clean.txt");
    writeFileAtomic(f, "x", { mode: FileMode.public });
    assert.deepEqual(
      readdirSync(dir).filter((e) => e.includes("clean.txt")),
      ["clean.txt"],
    );
    const a = tempPathFor(f);
    const b = tempPathFor(f);
    assert.notEqual(a, b);
    assert.equal(path.dirname(a), dir);
    assert.match(path.basename(a), /^\.clean\.txt\.tmp-[0-9a-f]{16}$/);
  });

  it("a symlink planted at the temp path is never followed: the exclusive create refuses it", () => {
    const victim = path.join(dir, "victim");
    writeFileSync(victim, "precious\n");
    const planted = path.join(dir, "planted-tmp");
    symlinkSync(victim, planted);
    assert.throws(() => createExclusive(planted, "evil\n", FileMode.public), /EEXIST/);
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
    // a dangling symlink too (O_EXCL never creates through it)
    const dangling = path.join(dir, "dangling-tmp");
    symlinkSync(path.join(dir, "would-be-created"), dangling);
    assert.throws(() => createExclusive(dangling, "evil\n", FileMode.public), /EEXIST/);
    assert.equal(existsSync(path.join(dir, "would-be-created")), false);
  });

  it("a symlink at the target is replaced, never written through", () => {
    const victim = path.join(dir, "victim2");
    writeFileSync(victim, "precious\n");
    const target = path.join(dir, "target-link");
    symlinkSync(victim, target);
    writeFileAtomic(target, "new\n", { mode: FileMode.public });
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
    assert.equal(lstatSync(target).isSymbolicLink(), false);
    assert.equal(readFileSync(target, "utf8"), "new\n");
  });

  it("appends never go through a symlink", () => {
    const victim = path.join(dir, "victim3");
    writeFileSync(victim, "precious\n");
    const log = path.join(dir, "log-link");
    symlinkSync(victim, log);
    assert.throws(
      () => openAppend(log, FileMode.public),
      (err: unknown) => err instanceof FileFaultError && /symlink/.test(err.message),
    );
    assert.equal(readFileSync(victim, "utf8"), "precious\n");
    assert.equal(readlinkSync(log), victim);
  });

  it("a write that fails names the path and is an environment fault (exit 3), not a bug", () => {
    const f = path.join(dir, "no-such-dir", "x.list");
    assert.throws(
      () => writeFileAtomic(f, "x", { mode: FileMode.public }),
      (err: unknown) => err instanceof FileFaultError && err.exitCode === 3 && err.message.includes(f),
    );
    // a raw errno error that escapes anywhere is reported the same way
    const raw = Object.assign(new Error("EROFS: read-only file system, open '/x/y'"), {
      code: "EROFS",
      syscall: "open",
      path: "/x/y",
    });
    const out = formatError(raw);
    assert.equal(out.exitCode, 3);
    assert.match(out.text, /cannot write \/x\/y: the file system is read-only \(EROFS\)/);
    assert.doesNotMatch(out.text, /internal error|\n\s+at /);
    const fd = openAppend(path.join(dir, "fd-check"), FileMode.public);
    closeSync(fd);
  });
});
