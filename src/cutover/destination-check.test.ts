import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BackendProbe } from "./migrate-report.js";
import { destinationsOf, judgeDestinations, kamailioProbeProblem } from "./destination-check.js";

const probe = (role: "old" | "new", reachable: boolean): BackendProbe => ({
  role,
  uri: `sip:127.0.0.1:${role === "old" ? 15070 : 15080}`,
  address: "127.0.0.1",
  port: role === "old" ? 15070 : 15080,
  probe: reachable
    ? { reachable, status: 200, reason: "OK", rttMs: 0.4, server: "x", error: undefined }
    : { reachable, status: undefined, reason: undefined, rttMs: undefined, server: undefined, error: "no answer" },
});

describe("destination check", () => {
  it("a step's destinations: old below 100, new above 0", () => {
    assert.deepEqual(destinationsOf(0), ["old"]);
    assert.deepEqual(destinationsOf(10), ["old", "new"]);
    assert.deepEqual(destinationsOf(100), ["new"]);
  });

  it("Kamailio's flags count only where it probes (P): inactive and disabled are down, trying is not", () => {
    assert.equal(kamailioProbeProblem("AX"), undefined);
    assert.equal(kamailioProbeProblem("IX"), undefined);
    assert.equal(kamailioProbeProblem(undefined), undefined);
    assert.equal(kamailioProbeProblem("AP"), "");
    assert.equal(kamailioProbeProblem("TP"), "");
    assert.match(kamailioProbeProblem("IP") ?? "", /inactive \(IP\)/);
    assert.match(kamailioProbeProblem("DP") ?? "", /disabled \(DP\)/);
  });

  it("passes only when every destination answers OPTIONS and Kamailio's probing does not mark it down", () => {
    const none = new Map<string, string>();
    assert.equal(judgeDestinations([probe("old", true), probe("new", true)], none).ok, true);
    const dead = judgeDestinations([probe("old", true), probe("new", false)], none);
    assert.equal(dead.ok, false);
    assert.deepEqual(dead.down, [{ role: "new", uri: "sip:127.0.0.1:15080" }]);
    assert.match(dead.lines[1]!, /^new backend sip:127\.0\.0\.1:15080 does not answer SIP OPTIONS \(no answer\)/);
    assert.equal(dead.row.verdict, "fail");
    const inactive = judgeDestinations([probe("new", true)], new Map([["sip:127.0.0.1:15080", "IP"]]));
    assert.equal(inactive.ok, false);
    assert.match(
      inactive.lines[0]!,
      /answers SIP OPTIONS \(200 in 0\.4 ms\); Kamailio's own probing marks it inactive/,
    );
    assert.equal(judgeDestinations([probe("new", true)], new Map([["sip:127.0.0.1:15080", "AP"]])).ok, true);
  });
});
