import assert from "node:assert/strict";
import { test } from "node:test";
import { buildOptions, cseqOf, header, parseSipMessage, readSipHead, readSipHeadOf, topViaBranch } from "./message.js";

// as received by a SIPp 3.6.1 UAS behind Kamailio 5.6.3 (from a lab message log)
const invite = [
  "INVITE sip:service@127.0.0.1:25060 SIP/2.0",
  "Record-Route: <sip:127.0.0.1:25060;lr;ftag=2596SIPpTag001;did=a1a.abc2>",
  "Via: SIP/2.0/UDP 127.0.0.1:25060;branch=z9hG4bK15a.89da0a0348e0c0cce64707836c6f3b61.0",
  "Via: SIP/2.0/UDP 127.0.0.1:25090;branch=z9hG4bK-2596-1-0",
  'From: "pbx-cutover" <sip:caller@127.0.0.1:25090>;tag=2596SIPpTag001',
  "To: <sip:service@127.0.0.1:25060>",
  "Call-ID: run1-old-1-2596@127.0.0.1",
  "CSeq: 1 INVITE",
  "Content-Length: 0",
  "",
  "",
].join("\r\n");

test("parses a request: method, URI, headers in order", () => {
  const m = parseSipMessage(invite)!;
  assert.equal(m.kind, "request");
  assert.equal(m.method, "INVITE");
  assert.equal(m.requestUri, "sip:service@127.0.0.1:25060");
  assert.equal(header(m, "Call-ID"), "run1-old-1-2596@127.0.0.1");
  assert.equal(m.headers.get("via")?.length, 2);
  assert.deepEqual(cseqOf(m), { seq: 1, method: "INVITE" });
  assert.equal(topViaBranch(m), "z9hG4bK15a.89da0a0348e0c0cce64707836c6f3b61.0");
});

test("parses a response and compact header forms", () => {
  const m = parseSipMessage(
    "SIP/2.0 200 OK\ni: abc@x\nv: SIP/2.0/UDP h;branch=z9hG4bKx\nServer: FreeSWITCH-mod_sofia/1.10.12-release\n\n",
  )!;
  assert.equal(m.kind, "response");
  assert.equal(m.status, 200);
  assert.equal(m.reason, "OK");
  assert.equal(header(m, "call-id"), "abc@x");
  assert.equal(header(m, "i"), "abc@x");
  assert.equal(topViaBranch(m), "z9hG4bKx");
  assert.equal(header(m, "server"), "FreeSWITCH-mod_sofia/1.10.12-release");
});

test("folded header lines join the previous header", () => {
  const m = parseSipMessage("SIP/2.0 180 Ringing\nSubject: a\n  b\n\n")!;
  assert.equal(header(m, "subject"), "a b");
});

test("not SIP: undefined", () => {
  assert.equal(parseSipMessage("HTTP/1.1 200 OK\r\n\r\n"), undefined);
  assert.equal(parseSipMessage(""), undefined);
});

test("builds an OPTIONS that parses back", () => {
  const text = buildOptions({
    uri: "sip:127.0.0.1:15070",
    localAddress: "127.0.0.1",
    localPort: 40000,
    callId: "probe-1@pbx-cutover",
    branch: "z9hG4bKabc",
    fromTag: "t1",
    userAgent: "pbx-cutover",
  });
  assert.ok(text.endsWith("\r\n\r\n"));
  const m = parseSipMessage(text)!;
  assert.equal(m.method, "OPTIONS");
  assert.equal(header(m, "call-id"), "probe-1@pbx-cutover");
  assert.deepEqual(cseqOf(m), { seq: 1, method: "OPTIONS" });
  assert.equal(topViaBranch(m), "z9hG4bKabc");
});

test("readSipHead answers as parseSipMessage does, on every recorded message (SIPp 3.6.1 logs, Kamailio 5.6.3 HEP)", async () => {
  const { readFileSync } = await import("node:fs");
  const path = await import("node:path");
  const { parseMessageLogBuffer } = await import("./message-log.js");
  const { hexDatagrams } = await import("../../test/support/hep-fixtures.js");
  const { decodeHep } = await import("../hep/decode.js");
  const fixtures = path.resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures");
  const texts: string[] = [];
  for (const log of [
    "sipp-3.6.1-uac-call.messages.log",
    "sipp-3.6.1-uac-call-503.messages.log",
    "sipp-3.6.1-uas-old.messages.log",
    "sipp-3.6.1-uas-retransmissions.messages.log",
  ]) {
    texts.push(...parseMessageLogBuffer(readFileSync(path.join(fixtures, log))).records.map((r) => r.text));
  }
  for (const d of hexDatagrams("kamailio-5.6.3-hep3-both-4-calls.hex")) {
    const r = decodeHep(d);
    if (r.ok) texts.push(r.packet.payload.toString("latin1"));
  }
  texts.push(
    invite,
    "\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\ni: compact@h\r\nv: SIP/2.0/UDP h;branch=z9\r\nt: <sip:b>;tag=1\r\n\r\n",
    "garbage\r\n\r\n",
  );
  // folded header lines take the long way and still agree
  texts.push(
    "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bKfold\r\nCall-ID: f@h\r\nCSeq: 2\r\n BYE\r\n\r\n",
  );
  assert.ok(texts.length > 100, `${texts.length} messages`);
  for (const t of texts) {
    const m = parseSipMessage(t);
    const h = readSipHead(t);
    if (!m) {
      assert.equal(h, undefined, t);
      continue;
    }
    assert.deepEqual(
      h,
      {
        startLine: m.startLine,
        kind: m.kind,
        method: m.method,
        status: m.status,
        reason: m.reason,
        callId: header(m, "call-id"),
        cseq: cseqOf(m),
        to: header(m, "to"),
        topViaBranch: topViaBranch(m),
      },
      t.slice(0, 200),
    );
    // the byte reader (mirrored payloads) answers the same
    assert.deepEqual(readSipHeadOf(Buffer.from(t, "latin1")), h, t.slice(0, 200));
  }
  assert.equal(readSipHead(texts[texts.length - 1]!)?.topViaBranch, "z9hG4bKfold");
});

test("readSipHeadOf (bytes) answers as readSipHead on the same text, on the odd heads too", () => {
  const heads = [
    // names in any case, blanks (and a latin1 no-break space) before the colon, values with trailing blanks
    "SIP/2.0 180 Ringing\r\nCALL-ID: up@h  \r\ncseq : 1 INVITE\r\nTo\xa0: <sip:b>;tag=x\r\nVIA\t: SIP/2.0/UDP h;branch=z9up\r\n\r\n",
    // no empty line at all; a bare-LF head whose body names other values
    "INVITE sip:a@b SIP/2.0\r\nCall-ID: nohead@h\r\nCSeq: 1 INVITE",
    "BYE sip:a@b SIP/2.0\nCall-ID: lf@h\nCSeq: 2 BYE\n\nCall-ID: body@h\r\nTo: <sip:no>;tag=body\r\n\r\n",
    // all four found, then a folded line: it continues the last one read
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9a\r\nCall-ID: f@h\r\nCSeq: 1 INVITE\r\nTo: <sip:b>\r\n ;tag=folded\r\n\r\n",
    // a second Via and a second To: the first ones count; names that only look alike are skipped
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9first\r\nVia: SIP/2.0/UDP g;branch=z9second\r\nTo: <sip:1>;tag=1\r\nTo: <sip:2>;tag=2\r\nCall-Info: no\r\nTV: no\r\nCall-ID: x@h\r\nCSeq: 3 BYE\r\n\r\n",
    // leading blank lines, a start line with trailing blanks; not SIP; empty
    "\r\n\nOPTIONS sip:a@b SIP/2.0  \r\nCall-ID: lead@h\r\n\r\n",
    "HTTP/1.1 200 OK\r\nCall-ID: no@h\r\n\r\n",
    "",
  ];
  for (const t of heads) assert.deepEqual(readSipHeadOf(Buffer.from(t, "latin1")), readSipHead(t), JSON.stringify(t));
  assert.equal(readSipHeadOf(Buffer.from(heads[0]!, "latin1"))?.to, "<sip:b>;tag=x");
  assert.equal(readSipHeadOf(Buffer.from(heads[2]!, "latin1"))?.to, undefined, "nothing read from the body");
  assert.equal(readSipHeadOf(Buffer.from(heads[3]!, "latin1"))?.to, "<sip:b> ;tag=folded");
  assert.equal(readSipHeadOf(Buffer.from(heads[4]!, "latin1"))?.topViaBranch, "z9first");
});
