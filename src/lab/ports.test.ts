import assert from "node:assert/strict";
import { test } from "node:test";
import { inodesFor, procNetAddress } from "./ports.js";

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
