import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkDestination,
  hostProblem,
  isLoopbackV4,
  LAB_LOOPBACK_POLICY,
  parseCidr,
  sipPolicy,
} from "./sip-policy.js";

describe("SIP policy", () => {
  it("loopback check accepts 127.0.0.0/8 only", () => {
    assert.ok(isLoopbackV4("127.0.0.1"));
    assert.ok(isLoopbackV4("127.255.0.9"));
    assert.ok(!isLoopbackV4("128.0.0.1"));
    assert.ok(!isLoopbackV4("127.0.0.256"));
    assert.ok(!isLoopbackV4("localhost"));
    assert.ok(!isLoopbackV4("10.0.0.1"));
  });

  it("parses CIDRs", () => {
    assert.deepEqual(parseCidr("127.0.0.0/8"), { base: 0x7f000000, mask: 0xff000000 });
    assert.deepEqual(parseCidr("172.28.0.9/24"), { base: 0xac1c0000, mask: 0xffffff00 });
    assert.deepEqual(parseCidr("0.0.0.0/0"), { base: 0, mask: 0 });
    for (const bad of ["127.0.0.0", "127.0.0.0/33", "300.0.0.0/8", "::1/128", "x/8"])
      assert.equal(parseCidr(bad), undefined, bad);
    assert.throws(() => sipPolicy("p", ["10.0.0.0/40"]), /not an IPv4 CIDR/);
  });

  it("the lab allows loopback IPv4 literals only, and never resolves a name", () => {
    const lab = LAB_LOOPBACK_POLICY;
    for (const ok of ["127.0.0.1", "127.255.255.254", "127.0.0.01"]) assert.equal(hostProblem(lab, ok), undefined, ok);
    assert.match(
      hostProblem(lab, "10.0.0.1")!,
      /^10\.0\.0\.1 is outside the lab's SIP policy \(allowed: 127\.0\.0\.0\/8\)$/,
    );
    assert.match(hostProblem(lab, "128.0.0.1")!, /outside/);
    assert.match(hostProblem(lab, "8.8.8.8")!, /outside/);
    assert.match(
      hostProblem(lab, "localhost")!,
      /^host name localhost is not allowed: .*nothing is resolved through DNS/,
    );
    assert.match(hostProblem(lab, "pbx.example.com")!, /host name/);
    assert.match(hostProblem(lab, "[::1]")!, /IPv6 address \[::1\] is outside the lab's SIP policy/);
    assert.match(hostProblem(lab, "::1")!, /IPv6 address \[::1\]/);
    assert.match(hostProblem(lab, "127.0.0.256")!, /not a valid IPv4/);
    assert.match(hostProblem(lab, "127.0.0.010")!, /octal/, "a verify host is as unambiguous as a URI host");
  });

  it("a target can allow its own networks explicitly", () => {
    const prod = sipPolicy("the production SIP policy", ["10.20.0.0/16", "192.0.2.10/32"]);
    assert.equal(hostProblem(prod, "10.20.3.4"), undefined);
    assert.equal(hostProblem(prod, "192.0.2.10"), undefined);
    assert.match(
      hostProblem(prod, "192.0.2.11")!,
      /outside the production SIP policy \(allowed: 10\.20\.0\.0\/16, 192\.0\.2\.10\/32\)/,
    );
    assert.match(hostProblem(prod, "127.0.0.1")!, /outside/);
  });

  it("checkDestination: syntax, policy, maddr, canonical text", () => {
    const r = checkDestination(LAB_LOOPBACK_POLICY, "SIP:127.0.0.01");
    assert.ok(r.ok);
    assert.equal(r.ok && r.text, "sip:127.0.0.1:5060");
    const bad = checkDestination(LAB_LOOPBACK_POLICY, "sip:127.0.0.1;maddr=10.1.1.1");
    assert.ok(!bad.ok && /maddr 10\.1\.1\.1 is outside/.test(bad.error));
    const syntax = checkDestination(LAB_LOOPBACK_POLICY, "sip:127.0.0.1:70000");
    assert.ok(!syntax.ok && /port 70000 is outside 1-65535/.test(syntax.error));
  });
});
