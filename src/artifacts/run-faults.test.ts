import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExitCode } from "../core/exit-codes.js";
import { formatError } from "../core/errors.js";
import { RunFileFaults } from "./run-faults.js";

/** an errno error as writeSync(fd) throws it: code and syscall, no path */
const errno = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: write`), { code, errno: -28, syscall: "write" });

describe("run folder write faults", () => {
  for (const code of ["ENOSPC", "EROFS", "EIO"]) {
    it(`${code} from a write to an fd: recorded naming the file; the run ends exit 3 with what routing did`, () => {
      const f = new RunFileFaults();
      assert.equal(
        f.write("/r/events.ndjson", () => {
          throw errno(code);
        }),
        false,
      );
      f.record(errno(code), "/r/results.json");
      f.record(errno(code), "/r/results.json");
      const end = f.endError("/r", "the cutover completed: new only, verified in the file and at runtime");
      assert.ok(end);
      const { exitCode, text } = formatError(end);
      assert.equal(exitCode, ExitCode.Environment);
      assert.match(text, new RegExp(`^pbx-cutover: cannot write /r/events\\.ndjson: .*\\(${code}\\); the run's evidence in /r is incomplete \\(1 more file not written\\)\\. Routing: the cutover completed`));
      assert.match(text, /not written: \/r\/results\.json/);
      assert.doesNotMatch(text, /internal error|\n\s+at /);
    });
  }

  it("no fault: no end error; anything not a file-system fault is thrown, not recorded", () => {
    const f = new RunFileFaults();
    assert.equal(
      f.write("/r/a", () => undefined),
      true,
    );
    assert.equal(f.endError("/r", "x"), undefined);
    assert.throws(
      () =>
        f.write("/r/a", () => {
          throw new TypeError("a bug");
        }),
      TypeError,
    );
    assert.equal(f.first, undefined);
  });
});
