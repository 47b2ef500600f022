import assert from "node:assert/strict";
import { test } from "node:test";
import { inodesFor, procNetAddress, udpSocketCounters } from "./ports.js";

test("addresses as /proc/net shows them", () => {
  assert.equal(procNetAddress("127.0.0.1", 15060), "0100007F:3AD4");
  assert.equal(procNetAddress("0.0.0.0", 80), "00000000:0050");
});

// /proc/net/udp and /proc/net/tcp excerpts (Linux 6.x)
const udp = `  sl  local_address rem_address   st tx_queue rx_queue tr tx_retrnsmt   uid  timeout inode ref pointer drops
  412: 0100007F:3AD4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81234 2 0000000000000000 0
  413: 0100007F:3AE0 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 81240 2 0000000000000000 0`;
const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:3AD5 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 91000 1 0000000000000000 100 0 0 10 0
   1: 0100007F:3AD5 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 91001 1 0000000000000000 20 4 30 10 -1`;

test("finds the socket inode bound to a port", () => {
  assert.deepEqual(inodesFor(udp, "127.0.0.1", 15060, false), ["81234"]);
  assert.deepEqual(inodesFor(udp, "127.0.0.1", 15061, false), []);
  assert.deepEqual(inodesFor(tcp, "127.0.0.1", 15061, true), ["91000"], "only the listener, not connections");
});

// recorded on Linux 6.x: a socket on 127.0.0.1:40000 with a 4 KiB buffer, flooded and never read
// (the last line, a socket with 2560 bytes queued, is edited from it)
const flooded = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1706: 0100007F:13C5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 49230 2 00000000d4146a10 0
 3877: 0100007F:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 53649 2 00000000c0bce076 194
 3878: 0100007F:9C41 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 53650 2 00000000c0bce077 0`;

test("the kernel's receive queue and drop counter for one UDP socket", () => {
  assert.deepEqual(udpSocketCounters(flooded, "127.0.0.1", 40000), { inode: "53649", rxQueueBytes: 0, drops: 194 });
  assert.deepEqual(udpSocketCounters(flooded, "127.0.0.1", 40001), { inode: "53650", rxQueueBytes: 2560, drops: 0 });
  assert.deepEqual(udpSocketCounters(flooded, "127.0.0.1", 5061), { inode: "49230", rxQueueBytes: 0, drops: 0 });
  assert.equal(udpSocketCounters(flooded, "127.0.0.1", 40002), undefined);
  assert.equal(udpSocketCounters(udp, "127.0.0.2", 15060), undefined);
});
