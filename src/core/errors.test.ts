import assert from "node:assert/strict";
import test from "node:test";
import { formatError, InterruptedError } from "./errors.js";

test("an interrupt says what happened to what the run started: stopped, or (after it finished) left as it was", () => {
  const during = formatError(new InterruptedError("SIGINT"));
  assert.equal(during.exitCode, 130);
  assert.match(during.text, /interrupted by SIGINT; everything this run started was stopped/);
  const after = formatError(new InterruptedError("SIGTERM", true));
  assert.equal(after.exitCode, 143);
  assert.match(after.text, /as the command finished; .*what it did stands \(nothing was undone\)/);
  assert.doesNotMatch(after.text, /was stopped/);
});
