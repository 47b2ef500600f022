import assert from "node:assert/strict";
import { test } from "node:test";
import { bdecode, bencode, relayStatsOf, type Bencoded } from "./ng.js";
import { relayRtpOf } from "../media/rtp.js";

test("bencode: integers, strings (byte lengths), lists, dictionaries with sorted keys; bdecode reads it back", () => {
  const v: Bencoded = { command: "query", "call-id": "c1", flags: ["a", 2], n: -3 };
  const b = bencode(v);
  assert.equal(b.toString(), "d7:call-id2:c17:command5:query5:flagsl1:ai2ee1:ni-3ee");
  assert.deepEqual(bdecode(b).value, v);
  assert.equal(bencode("é").toString("latin1"), "2:\u00c3\u00a9");
  assert.throws(() => bdecode(Buffer.from("d3:abc")), /unterminated|past the end/);
  assert.throws(() => bencode(1.5), /not an integer/);
});

/** a `query` reply of rtpengine 10.5.3.5 (Debian 12), trimmed to one leg each way: the caller's (its from-tag) and the PBX's */
const QUERY_REPLY = Buffer.from(
  "d7:createdi1796644789e4:tagsd" +
    "13:3885SIPpTag01d3:tag13:3885SIPpTag016:mediasld5:indexi1e4:type5:audio7:streamsl" +
    "d10:local porti41016e8:endpointd6:family4:IPv47:address9:127.0.0.14:porti30000ee5:flagsl3:RTP6:fillede5:statsd7:packetsi50e5:bytesi8600e6:errorsi0eee" +
    "d10:local porti41017e8:endpointd6:family4:IPv47:address9:127.0.0.14:porti30001ee5:flagsl4:RTCP6:fillede5:statsd7:packetsi3e5:bytesi300e6:errorsi0eee" +
    "eeee" +
    "12:3425SIPpTag1d3:tag12:3425SIPpTag16:mediasld5:indexi1e4:type5:audio7:streamsl" +
    "d10:local porti41000e8:endpointd6:family4:IPv47:address9:127.0.0.14:porti6000ee5:flagsl3:RTP6:fillede5:statsd7:packetsi47e5:bytesi8084e6:errorsi1eee" +
    "eeee" +
    "e6:result2:oke",
);

test("relayStatsOf: per leg the RTP packets rtpengine received (RTCP left out) and the leg's endpoint; relayRtpOf tells the caller's leg by its address", () => {
  const { value } = bdecode(QUERY_REPLY);
  const stats = relayStatsOf("c1", value as Record<string, Bencoded>);
  assert.deepEqual(stats.legs, [
    { tag: "3885SIPpTag01", packets: 50, bytes: 8600, errors: 0, endpoint: "127.0.0.1:30000" },
    { tag: "3425SIPpTag1", packets: 47, bytes: 8084, errors: 1, endpoint: "127.0.0.1:6000" },
  ]);
  assert.deepEqual(relayRtpOf("127.0.0.1:30000", stats.legs), { fromCaller: 50, fromPbx: 47 });
  assert.equal(relayRtpOf("127.0.0.1:39999", stats.legs), undefined);
  assert.equal(relayRtpOf(undefined, stats.legs), undefined);
  assert.deepEqual(relayStatsOf("c2", { result: "ok" }).legs, []);
});
