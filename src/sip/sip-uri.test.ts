import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonicalSipUri, parseSipUri, sameHostPort, type SipUri } from "./sip-uri.js";

const ok = (s: string): SipUri => {
  const r = parseSipUri(s);
  if (!r.ok) assert.fail(r.error);
  return r.uri;
};
const bad = (s: string, why: RegExp): void => {
  const r = parseSipUri(s);
  assert.equal(r.ok, false, `${s} should be refused`);
  if (!r.ok) {
    assert.match(r.error, why);
    assert.ok(r.error.includes(JSON.stringify(s)), "the error quotes the input");
  }
};

describe("parseSipUri", () => {
  it("accepts the destinations dispatcher lists use", () => {
    assert.deepEqual(ok("sip:127.0.0.1:15070"), {
      scheme: "sip",
      user: undefined,
      host: "127.0.0.1",
      port: 15070,
      transport: undefined,
      params: [],
    });
    const u = ok("SIP:pbx@Gw1.Example.net:5080;transport=TCP;lr");
    assert.equal(u.scheme, "sip");
    assert.equal(u.user, "pbx");
    assert.equal(u.transport, "tcp");
    assert.deepEqual(
      u.params.map((p) => p.name),
      ["transport", "lr"],
    );
    assert.equal(ok("sip:[2001:db8::1]:5060").host, "[2001:db8::1]");
    assert.equal(ok("sips:gw.example.net").port, undefined);
    assert.equal(ok("sip:gw.example.net;transport=ws").transport, "ws");
  });

  it("refuses bad schemes, hosts, ports and transports with a reason", () => {
    bad("", /empty/);
    bad("127.0.0.1:5060", /scheme/);
    bad("http://127.0.0.1:5060", /scheme http: is not sip: or sips:/);
    bad("tel:+4930123", /scheme tel:/);
    bad("sip:", /no host/);
    bad("sip::5060", /no host/);
    bad("sip:127.0.0.1:0", /port 0 is outside 1-65535/);
    bad("sip:127.0.0.1:65536", /port 65536 is outside 1-65535/);
    bad("sip:127.0.0.1:99999", /outside 1-65535/);
    bad("sip:127.0.0.1:50a0", /not a number/);
    bad("sip:127.0.0.1:", /not a number/);
    bad("sip:300.0.0.1:5060", /not a valid IPv4/);
    bad("sip:127.0.0.010:5060", /octet 010, which reads as decimal 10 or octal/);
    bad("sip:127.0.0.08", /octet 08/);
    bad("sip:under_score.example:5060", /not a valid host name/);
    bad("sip:[2001:db8::1:5060", /closing/);
    bad("sip:127.0.0.1;transport=carrier-pigeon", /transport=carrier-pigeon is not one of udp, tcp/);
    bad("sip:127.0.0.1;transport", /transport= is not one of/);
    bad("sips:127.0.0.1;transport=udp", /sips: needs a TLS transport/);
    bad("sip:127.0.0.1 5060", /whitespace/);
    bad("sip:127.0.0.1#x", /comment/);
    bad("sip:127.0.0.1?Subject=x", /headers/);
    bad("sip:127.0.0.1;transport=udp;transport=tcp", /twice/);
  });
});

describe("sameHostPort", () => {
  it("applies default ports and ignores host case and parameters", () => {
    assert.equal(sameHostPort(ok("sip:127.0.0.1"), ok("sip:127.0.0.1:5060;transport=udp")), true);
    assert.equal(sameHostPort(ok("sip:PBX.example.com:5080"), ok("sip:pbx.example.com:5080")), true);
    assert.equal(sameHostPort(ok("sips:pbx.example.com"), ok("sip:pbx.example.com:5061")), true);
    assert.equal(sameHostPort(ok("sip:127.0.0.1:15070"), ok("sip:127.0.0.1:15080")), false);
    assert.equal(sameHostPort(ok("sip:127.0.0.2:15070"), ok("sip:127.0.0.1:15070")), false);
    assert.equal(sameHostPort(ok("sip:127.0.0.01:15070"), ok("SIP:127.0.0.1:15070")), true, "leading zeros");
  });
});

describe("canonicalSipUri: one spelling per endpoint", () => {
  const canon = (s: string): string => {
    const r = canonicalSipUri(s);
    if (!r.ok) assert.fail(r.error);
    return r.text;
  };
  it("lower-cases scheme and host, drops leading zeros, writes the default port", () => {
    assert.equal(canon("sip:127.0.0.1:15070"), "sip:127.0.0.1:15070");
    assert.equal(canon("SIP:127.0.0.01"), "sip:127.0.0.1:5060");
    assert.equal(canon("sip:127.000.000.001:05060"), "sip:127.0.0.1:5060");
    assert.equal(canon("sips:127.0.0.1"), "sips:127.0.0.1:5061");
    assert.equal(canon("sip:127.0.0.1;transport=TLS"), "sip:127.0.0.1:5061;transport=tls");
    assert.equal(canon("sip:Alice@PBX.Example.com:5080;LR"), "sip:Alice@pbx.example.com:5080;lr");
  });
  it("is idempotent", () => {
    for (const s of ["SIP:127.0.0.01", "sip:u@127.0.0.2:7;transport=tcp;lr", "sips:[2001:DB8::1]"])
      assert.equal(canon(canon(s)), canon(s));
  });
  it("refuses what parseSipUri refuses", () => {
    assert.equal(canonicalSipUri("sip:127.0.0.1:0").ok, false);
  });
});
