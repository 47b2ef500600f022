/**
 * `migrate --target FLEET --hep-forward HOST:PORT`: the run's one collector receives every node's
 * mirroring and relays each datagram unchanged to a Homer-like listener (here a UDP socket of the
 * test on loopback). The listener decodes what arrives with its own HEP3 reader (written here from
 * the HEP3 spec, not the project's decoder) and finds exactly what was mirrored: as many datagrams
 * as the collector received and forwarded, every one a HEP3 SIP packet, and per node (the packet's
 * source or destination is the node's SIP socket) as many as tshark counts in the run's capture.pcap.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../support/lab-fixture.js";
import type { NodeAuth } from "../support/production-node.js";
import { runDirOf } from "../support/run-folder.js";
import { until } from "../support/running-cli.js";
import { targetFleet, type TargetFleet } from "../support/target-fleet.js";

const AUTH: NodeAuth = { bearer: "tok-fleet-fwd-6Tn" };
const RATE_PER_NODE = 20;

interface Hep3 {
  src: string;
  dst: string;
  /** chunk 0x000b: 1 = SIP */
  proto: number;
  payload: string;
}

/** HEP3 (HEPv3 spec): "HEP3", total length, then chunks of vendor id, type id, length (header included), value. */
function readHep3(d: Buffer): Hep3 {
  assert.equal(d.subarray(0, 4).toString("latin1"), "HEP3", "magic");
  assert.equal(d.readUInt16BE(4), d.length, "total length");
  const chunks = new Map<number, Buffer>();
  for (let o = 6; o < d.length;) {
    const vendor = d.readUInt16BE(o);
    const type = d.readUInt16BE(o + 2);
    const len = d.readUInt16BE(o + 4);
    assert.ok(len >= 6 && o + len <= d.length, `chunk ${type} at ${o}: length ${len}`);
    if (vendor === 0) chunks.set(type, d.subarray(o + 6, o + len));
    o += len;
  }
  const v4 = (t: number): string => [...chunks.get(t)!].join(".");
  const port = (t: number): number => chunks.get(t)!.readUInt16BE(0);
  assert.equal(chunks.get(1)?.readUInt8(0), 2, "IP family chunk: IPv4");
  return {
    src: `${v4(3)}:${port(7)}`,
    dst: `${v4(4)}:${port(8)}`,
    proto: chunks.get(11)!.readUInt8(0),
    payload: chunks.get(15)!.toString("utf8"),
  };
}

interface Results {
  status: string;
  traffic?: { hep: { datagrams?: number; packets?: number; forwarded?: number; forwardErrors?: number } };
}

describe("migrate --target on a fleet with --hep-forward", () => {
  let f: TargetFleet;
  let homer: dgram.Socket;
  const received: Buffer[] = [];
  before(async () => {
    f = await targetFleet({ prefix: "fleet-fwd", auth: AUTH });
    homer = dgram.createSocket({ type: "udp4", recvBufferSize: 16 * 1024 * 1024 });
    homer.on("message", (m) => received.push(m));
    await new Promise<void>((r) => homer.bind(0, "127.0.0.1", () => r()));
  });
  after(async () => {
    homer?.close();
    await f?.dispose();
  });

  test("every node's mirrored packets arrive unchanged: the count forwarded, each node's as many as capture.pcap holds", async (tc) => {
    f.callers(RATE_PER_NODE);
    const to = `127.0.0.1:${homer.address().port}`;
    const r = await runCli(
      [
        "migrate",
        "--target",
        f.file,
        "--artifacts-dir",
        path.join(f.dir, "art"),
        "--steps",
        "0,100",
        "--hep-forward",
        to,
      ],
      { cwd: f.dir, timeoutMs: 240_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `hep forward: every datagram mirrored to \\S+ \\(nodes kam1, kam2, kam3\\) relayed unchanged to ${to}`,
      ),
    );
    const runDir = runDirOf(r);
    const res = JSON.parse(readFileSync(path.join(runDir, "results.json"), "utf8")) as Results;
    const hep = res.traffic!.hep;
    assert.equal(hep.forwardErrors, 0);
    assert.ok((hep.forwarded ?? 0) > 0 && hep.forwarded === hep.datagrams, JSON.stringify(hep));
    // results.json's counts are the plan's end; the collector relays until the run stops it
    let seen = -1;
    await until(
      "the listener quiet",
      () => {
        const quiet = received.length === seen;
        seen = received.length;
        return quiet;
      },
      10_000,
      500,
    );
    assert.ok(
      received.length >= hep.forwarded!,
      `${received.length} arrived, ${hep.forwarded} forwarded by the plan's end`,
    );
    const decoded = received.map(readHep3);
    assert.ok(
      decoded.every((p) => p.proto === 1 && /^(?:[A-Z]+ sip:\S+ SIP\/2\.0|SIP\/2\.0 \d{3} )/.test(p.payload)),
      "every datagram a HEP3 SIP packet",
    );
    // each node's packets: the node's SIP socket is their source or destination
    const socketOf = f.nodes.map((n) => `${n.address}:${n.sipPort}`);
    const perNode = socketOf.map((s) => decoded.filter((p) => p.src === s || p.dst === s).length);
    tc.diagnostic(
      `${received.length} datagrams arrived (${hep.forwarded} forwarded by the plan's end); per node ${perNode.join(", ")}`,
    );
    for (const [i, n] of perNode.entries()) assert.ok(n > 0, `kam${i + 1} sent nothing onward`);
    assert.equal(
      perNode.reduce((a, b) => a + b, 0),
      received.length,
      "every packet is one node's",
    );
    // the run's own capture (tshark over capture.pcap) holds the same packets per node
    const rows = execFileSync(
      "tshark",
      [
        "-r",
        path.join(runDir, "capture.pcap"),
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "udp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "udp.dstport",
      ],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] },
    )
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    assert.equal(rows.length, received.length, "capture.pcap holds as many packets as arrived");
    assert.deepEqual(
      socketOf.map((s) => rows.filter(([a, b, c, d]) => `${a}:${b}` === s || `${c}:${d}` === s).length),
      perNode,
    );
  });

  test("a --hep-forward that is not host:port is exit 2 before anything starts", async () => {
    const before = f.nodes.map((n) => readFileSync(n.listFile, "utf8"));
    const r = await runCli(["migrate", "--target", f.file, "--steps", "0,100", "--hep-forward", "homer"], {
      cwd: f.dir,
    });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--hep-forward takes host:port/);
    assert.doesNotMatch(r.stdout, /run folder/);
    assert.deepEqual(
      f.nodes.map((n) => readFileSync(n.listFile, "utf8")),
      before,
    );
  });
});
