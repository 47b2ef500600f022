import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { assetPath } from "../core/assets.js";
import { expectedPackets, MEDIA_MARKER, mediaScenario, pcmuTone, streamOrder } from "./media.js";

test("the UAC scenario has the media marker once; with media on the SDP offers rtp_stream's port and the call streams the tone", () => {
  const xml = readFileSync(assetPath("sipp", "uac-call.xml"), "utf8");
  assert.equal(xml.split(MEDIA_MARKER).length, 2);
  const m = mediaScenario(xml, "/run/dir/tone.pcmu");
  assert.match(m, /m=audio \[rtpstream_audio_port\] RTP\/AVP 0/);
  assert.doesNotMatch(m, /\[media_port\]/);
  assert.match(m, /<log message="media \[call_id\]"\/><exec rtp_stream="\/run\/dir\/tone\.pcmu,-1,0"\/>/);
  const exec = m.indexOf("<exec rtp_stream");
  assert.ok(exec > m.indexOf("<send ack_txn") && exec < m.indexOf("<pause/>"), "after the ACK, before the hold");
  assert.throws(() => mediaScenario(xml, "/a dir/x,1"), /not plain/);
  assert.throws(() => mediaScenario("<scenario/>", "/x"), /no media marker/);
});

test("streamOrder: the Call-IDs the media action logged, in order; other lines ignored", () => {
  assert.deepEqual(streamOrder("media a-1@127.0.0.1\nsomething else\nmedia b-2@127.0.0.1\n"), [
    "a-1@127.0.0.1",
    "b-2@127.0.0.1",
  ]);
});

test("the tone is one second of u-law (8000 bytes), not silence; 20 ms packets", () => {
  const t = pcmuTone();
  assert.equal(t.length, 8000);
  // 1 kHz at 8 kHz: a period of 8 samples, not one value
  assert.ok(new Set(t).size > 2);
  assert.deepEqual(t.subarray(0, 8), t.subarray(8, 16));
  assert.equal(expectedPackets(1000), 50);
  assert.equal(expectedPackets(1019), 50);
});
