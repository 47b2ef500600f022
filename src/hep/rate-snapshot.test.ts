import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageError } from "../core/errors.js";
import { DEFAULT_RATE_WINDOW_MS, formatRateSample, parseRateWindow } from "./rate-snapshot.js";

test("--rates window: the flag alone is the default; seconds, s and ms; out of range or not a duration is exit 2", () => {
  assert.equal(parseRateWindow(undefined), undefined);
  assert.equal(parseRateWindow(true), DEFAULT_RATE_WINDOW_MS);
  assert.equal(parseRateWindow("2s"), 2000);
  assert.equal(parseRateWindow("500ms"), 500);
  assert.equal(parseRateWindow("1.5"), 1500);
  assert.equal(parseRateWindow(" 60s "), 60_000);
  for (const bad of ["0", "99ms", "61s", "2h", "fast", "", "-1s", "1e3"])
    assert.throws(() => parseRateWindow(bad), UsageError, bad);
});

test("the status lines: rates per second over the window; a held port names its holder; not sampled says why", () => {
  const counts = (routed: number, c1: number, c2: number, c3: number) => ({
    routed,
    answers: { "1xx": c1, "2xx": c2, "3xx-6xx": c3 },
  });
  assert.deepEqual(
    formatRateSample({
      kind: "sampled",
      window: { at: 0, windowMs: 2000, backends: { old: counts(20, 40, 19, 1), new: counts(0, 0, 0, 0) } },
      datagrams: 280,
      kernelDrops: 0,
    }),
    [
      "rates from Kamailio's HEP mirror over 2.0 s (280 mirrored messages):",
      "  old: 10.0 new calls/s (INVITEs routed); answers/s 1xx 20.0, 2xx 9.5, 3xx-6xx 0.5",
      "  new: 0.0 new calls/s (INVITEs routed); answers/s 1xx 0.0, 2xx 0.0, 3xx-6xx 0.0",
    ],
  );
  const [held] = formatRateSample({
    kind: "port-held",
    address: "127.0.0.1",
    port: 15062,
    owner: { pid: 42, comm: "node" },
    command: "node dist/src/cli/main.js dashboard",
  });
  assert.match(
    held!,
    /^rates: not sampled: the lab's HEP port 127\.0\.0\.1:15062\/udp is held by pid 42 \(node dist\/src\/cli\/main\.js dashboard\)\. Only one process/,
  );
  assert.deepEqual(formatRateSample({ kind: "not-sampled", reason: "the lab is not running" }), [
    "rates: not sampled: the lab is not running",
  ]);
});
