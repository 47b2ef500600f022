import assert from "node:assert/strict";
import { test } from "node:test";
import { RtpStreamStats } from "./rtp-stats.js";

test("RtpStreamStats: in order, no loss, steady arrival: expected = received, jitter 0", () => {
  const s = new RtpStreamStats();
  for (let i = 0; i < 10; i++) s.add(i, 160 * i, 20 * i);
  assert.deepEqual(s.figures(), { received: 10, expected: 10, lost: 0, lossPercent: 0, jitterMs: 0 });
});

test("RtpStreamStats: a gap is loss; sequence numbers wrap at 65536; a late packet adds jitter", () => {
  const s = new RtpStreamStats();
  const seqs = [65533, 65534, 65535, 0, 3, 4];
  seqs.forEach((q) => s.add(q, 160 * ((q - 65533 + 65536) % 65536), 20 * ((q - 65533 + 65536) % 65536)));
  const f = s.figures();
  assert.deepEqual([f.received, f.expected, f.lost], [6, 8, 2]);
  assert.equal(f.jitterMs, 0);
  const t = new RtpStreamStats();
  t.add(1, 0, 0);
  t.add(2, 160, 30); // 10 ms late: D = 80 units, J = 80/16 = 5 units = 0.625 ms
  assert.equal(t.figures().jitterMs, 0.625);
});

test("RtpStreamStats: a reordered (older) packet counts as received, not as a new highest", () => {
  const s = new RtpStreamStats();
  for (const q of [1, 2, 4, 3, 5]) s.add(q, 160 * q, 20 * q);
  assert.deepEqual([s.figures().expected, s.figures().lost], [5, 0]);
  const none = new RtpStreamStats().figures();
  assert.deepEqual(none, { received: 0, expected: 0, lost: 0, lossPercent: undefined, jitterMs: undefined });
});
