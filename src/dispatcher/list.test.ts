import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import {
  DispatcherListError,
  entriesOf,
  makeList,
  parseDispatcherList,
  parseEntryLine,
  renderDispatcherList,
  renderEntry,
  type DispatcherEntry,
} from "./list.js";

const e = (setId: number, uri: string, flags = 0, priority = 0, attrs?: string): DispatcherEntry => ({
  setId,
  uri,
  flags,
  priority,
  attrs,
});

describe("dispatcher.list parse/render", () => {
  it("reads a hand-written list in the documented format and renders it back byte for byte", () => {
    const text = fixture("handwritten-dispatcher.list");
    const list = parseDispatcherList(text);
    assert.equal(renderDispatcherList(list), text);
    assert.deepEqual(entriesOf(list), [
      e(1, "sip:10.0.0.10:5060"),
      e(1, "sip:10.0.0.11:5060", 0, 10, "duid=pbx-b;weight=50"),
      e(
        1,
        "sip:pbx-c.example.com:5080;transport=tcp",
        8,
        5,
        "duid=pbx-c;socket=udp:127.0.0.1:5060;ping_from=sip:proxy.example.com",
      ),
      e(2, "sip:gw1.example.net", 8, 0, "socket=udp:127.0.0.1:5060;prefix=49"),
      e(2, "sip:[2001:db8::1]:5060", 1),
      e(2, "sips:gw2.example.net:5061", 4, 0),
      e(3, "sip:10.0.0.12:5070"),
    ]);
    const kinds = list.lines.map((l) => l.kind);
    assert.equal(kinds.filter((k) => k === "comment").length, 4);
    assert.equal(kinds.filter((k) => k === "blank").length, 2);
  });

  it("round-trips the list file a real Kamailio 5.6.3 loaded", () => {
    const text = fixture("kamailio-5.6.3-dispatcher.list.source.list");
    assert.equal(renderDispatcherList(parseDispatcherList(text)), text);
  });

  it("keeps a missing final newline, CRLF line ends and an empty file", () => {
    for (const text of ["1 sip:127.0.0.1:5070", "1 sip:127.0.0.1:5070\r\n# x\r\n", "", "\n", "# only a comment\n"]) {
      assert.equal(renderDispatcherList(parseDispatcherList(text)), text, JSON.stringify(text));
    }
    assert.deepEqual(entriesOf(parseDispatcherList("1 sip:127.0.0.1:5070\r\n")), [e(1, "sip:127.0.0.1:5070")]);
  });

  it("renders entries made in code canonically, and parses them back to the same model", () => {
    const entries = [e(1, "sip:127.0.0.1:15070"), e(7, "sip:127.0.0.1:15080;transport=udp", 8, 3, "duid=new")];
    const list = makeList(["pbx-cutover profile: both"], entries);
    const text = renderDispatcherList(list);
    assert.equal(
      text,
      "# pbx-cutover profile: both\n1 sip:127.0.0.1:15070 0 0\n7 sip:127.0.0.1:15080;transport=udp 8 3 duid=new\n",
    );
    assert.deepEqual(entriesOf(parseDispatcherList(text)), entries);
    assert.equal(renderEntry(e(1, "sip:a.example", 0, 0)), "1 sip:a.example 0 0");
  });

  it("names every bad line, with its number and reason", () => {
    const text =
      "# ok\n1 sip:127.0.0.1:5070\nx sip:127.0.0.1:5070\n1 sip:127.0.0.1:99999\n1 sip:127.0.0.1 fast\n2\n1 sip:1.2.3.4 0 0 =novalue\n";
    assert.throws(
      () => parseDispatcherList(text, "test.list"),
      (err: unknown) => {
        assert.ok(err instanceof DispatcherListError);
        assert.deepEqual(
          err.problems.map((p) => p.line),
          [3, 4, 5, 6, 7],
        );
        assert.match(err.message, /^test\.list: 5 invalid lines/);
        assert.match(err.problems[0]!.error, /set id "x"/);
        assert.match(err.problems[1]!.error, /port 99999/);
        assert.match(err.problems[2]!.error, /flags "fast"/);
        assert.match(err.problems[3]!.error, /URI is missing/);
        assert.match(err.problems[4]!.error, /attrs/);
        return true;
      },
    );
  });

  it("refuses lines longer than Kamailio's line buffer", () => {
    const r = parseEntryLine(`1 sip:127.0.0.1:5070 0 0 x=${"a".repeat(1100)}`);
    assert.ok("error" in r && /longer than/.test(r.error));
  });

  it("refuses to make a list with an invalid entry", () => {
    assert.throws(() => makeList([], [e(1, "sip:127.0.0.1:0")]), DispatcherListError);
  });
});
