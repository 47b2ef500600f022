import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import { parseDispatcherListResult } from "./runtime.js";
import { describeDiff, diffRuntime } from "./diff.js";
import { parseDispatcherList } from "./list.js";

/** A dispatcher.list JSON-RPC reply recorded from Kamailio 5.6.3 after loading the .source.list fixture. */
const recorded = (): ReturnType<typeof parseDispatcherListResult> =>
  parseDispatcherListResult(
    (JSON.parse(fixture("kamailio-5.6.3-dispatcher.list.rpc.json")) as { result: unknown }).result,
  );

describe("diffRuntime against a recorded Kamailio 5.6.3 reply", () => {
  it("parses the recorded reply: both sets, URIs as written, flags, priority, attrs", () => {
    const r = recorded();
    assert.deepEqual(
      r.map((d) => [d.setId, d.uri, d.flags, d.priority, d.attrs]),
      [
        [2, "sip:127.0.0.1:21009", "IX", 0, undefined],
        [1, "sip:127.0.0.1:21003;transport=udp", "AP", 5, "duid=new"],
        [1, "sip:127.0.0.1:21002", "AX", 0, "duid=old;weight=50"],
      ],
    );
  });

  it("finds the destination Kamailio skipped (an unresolvable host) as missing", () => {
    const source = parseDispatcherList(fixture("kamailio-5.6.3-dispatcher.list.source.list"));
    const d = diffRuntime(source, recorded());
    assert.equal(d.ok, false);
    assert.deepEqual(d.missing, [{ setId: 1, uri: "sip:no-such-host.invalid:5060" }]);
    assert.deepEqual(d.unexpected, []);
    assert.deepEqual(d.notActive, [], "set 2's entry has flag 1 (inactive) in the file, so IX is expected");
    assert.equal(describeDiff(d), "missing sip:no-such-host.invalid:5060 (set 1)");
  });

  it("matches when the list holds exactly what runs", () => {
    const list = parseDispatcherList(
      "1 sip:127.0.0.1:21002 0 0 duid=old;weight=50\n1 sip:127.0.0.1:21003;transport=udp 8 5 duid=new\n2 sip:127.0.0.1:21009 1 0\n",
    );
    const d = diffRuntime(list, recorded());
    assert.equal(d.ok, true, describeDiff(d));
  });

  it("reports unexpected runtime destinations and ones that are not active", () => {
    const list = parseDispatcherList("1 sip:127.0.0.1:21002\n2 sip:127.0.0.1:21009\n");
    const d = diffRuntime(list, recorded());
    assert.deepEqual(d.unexpected, [{ setId: 1, uri: "sip:127.0.0.1:21003;transport=udp" }]);
    assert.deepEqual(d.notActive, [{ setId: 2, uri: "sip:127.0.0.1:21009", flags: "IX" }]);
    assert.equal(d.ok, false);
  });

  it("an empty runtime misses everything", () => {
    const d = diffRuntime(parseDispatcherList("1 sip:127.0.0.1:21002\n"), []);
    assert.deepEqual(d.missing, [{ setId: 1, uri: "sip:127.0.0.1:21002" }]);
  });
});

describe("diffRuntime: attrs of weighted entries", () => {
  const runtime = (attrs: string | undefined): ReturnType<typeof parseDispatcherListResult> => [
    { setId: 1, uri: "sip:127.0.0.1:15070", flags: "AX", priority: 0, attrs },
  ];
  it("an entry with attrs must be reported with the same attrs (a trailing ';' dropped, as Kamailio does)", () => {
    const l = parseDispatcherList("1 sip:127.0.0.1:15070 0 0 weight=90;\n");
    assert.equal(diffRuntime(l, runtime("weight=90")).ok, true);
    const d = diffRuntime(l, runtime("weight=10"));
    assert.equal(d.ok, false);
    assert.deepEqual(d.wrongAttrs, [{ setId: 1, uri: "sip:127.0.0.1:15070", want: "weight=90", have: "weight=10" }]);
    assert.match(
      describeDiff(diffRuntime(l, runtime(undefined))),
      /attrs of sip:127\.0\.0\.1:15070 \(set 1\) are none, not "weight=90"/,
    );
  });
  it("an entry without attrs is not compared", () => {
    assert.equal(diffRuntime(parseDispatcherList("1 sip:127.0.0.1:15070 0 0\n"), runtime("duid=x")).ok, true);
  });
});
