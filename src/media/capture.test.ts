import assert from "node:assert/strict";
import { test } from "node:test";
import { dumpcapArgv, dumpcapDropped } from "./capture.js";

test("dumpcapArgv: loopback, pcap format to its standard output, the caller's port range", () => {
  assert.deepEqual(dumpcapArgv("dumpcap", 30000), [
    "dumpcap",
    "-i",
    "lo",
    "-P",
    "-q",
    "-B",
    "64",
    "-f",
    "udp portrange 30000-30040",
    "-w",
    "-",
  ]);
});

test("dumpcapDropped: what dumpcap's closing statistics say it dropped (dumpcap 4.0, Debian 12)", () => {
  const lines = [
    "Capturing on 'Loopback: lo'",
    "File: -",
    "Packets captured: 1200",
    "Packets received/dropped on interface 'Loopback: lo': 1200/37 (pcap:37/dumpcap:0/flushed:0/ps_ifdrop:0) (97.0%)",
  ];
  assert.equal(dumpcapDropped(lines), 37);
  assert.equal(dumpcapDropped(lines.slice(0, 3)), undefined);
});
