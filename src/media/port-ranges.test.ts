import assert from "node:assert/strict";
import { test } from "node:test";
import { MEDIA_PORT_SPAN } from "./capture.js";
import { MediaPortRanges } from "./port-ranges.js";

const from = (ports: number[]): (() => Promise<number>) => {
  let i = 0;
  return () => Promise.resolve(ports[i++ % ports.length]!);
};

test("MediaPortRanges: a port whose range overlaps one handed out before in the run is passed over", async () => {
  assert.equal(MEDIA_PORT_SPAN, 40);
  // 40000 taken; 40040 and 39960 overlap its 40000-40040 (SIPp may move to 40040); 40042 does not
  const r = new MediaPortRanges(from([40000, 40040, 39960, 40000, 40042, 50000]));
  assert.equal(await r.pick(), 40000);
  assert.equal(await r.pick(), 40042);
  assert.equal(await r.pick(), 50000);
});

test("MediaPortRanges: two bursts picking at once get ranges apart", async () => {
  const r = new MediaPortRanges(from([41000, 41010, 41010, 42000]));
  const [a, b] = await Promise.all([r.pick(), r.pick()]);
  assert.ok(Math.abs(a - b) > MEDIA_PORT_SPAN, `${a} ${b}`);
});

test("MediaPortRanges: no range apart after its tries is exit 3 naming it", async () => {
  const r = new MediaPortRanges(from([43000]), 5);
  await r.pick();
  await assert.rejects(r.pick(), (e: Error & { exitCode?: number }) => {
    assert.match(e.message, /no free media port range apart from this run's 1 other bursts' after 5 tries/);
    assert.equal(e.exitCode, 3);
    return true;
  });
});
