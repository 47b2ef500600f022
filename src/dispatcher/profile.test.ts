import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../cli/errors.js";
import { entriesOf, parseDispatcherList } from "./list.js";
import { buildProfile, destinationsOf, parseProfileMode, renderProfile } from "./profile.js";

const inputs = { setId: 1, oldUri: "sip:127.0.0.1:15070", newUri: "sip:127.0.0.1:15080" };

describe("profiles", () => {
  it("old, both and new hold the right destinations", () => {
    const uris = (m: "old" | "both" | "new"): string[] => destinationsOf(buildProfile(m, inputs).list).map((d) => d.uri);
    assert.deepEqual(uris("old"), ["sip:127.0.0.1:15070"]);
    assert.deepEqual(uris("both"), ["sip:127.0.0.1:15070", "sip:127.0.0.1:15080"]);
    assert.deepEqual(uris("new"), ["sip:127.0.0.1:15080"]);
  });

  it("renders to a list Kamailio reads (and this parser reads back)", () => {
    const text = renderProfile(buildProfile("both", { ...inputs, setId: 4 }));
    assert.match(text, /^# pbx-cutover profile: both\n/);
    assert.match(text, /\n4 sip:127\.0\.0\.1:15070 0 0\n4 sip:127\.0\.0\.1:15080 0 0\n$/);
    assert.deepEqual(entriesOf(parseDispatcherList(text)).map((e) => e.setId), [4, 4]);
  });

  it("refuses invalid URIs and the same backend twice with UsageError (exit 2)", () => {
    const refuses = (p: typeof inputs, re: RegExp): void =>
      assert.throws(() => buildProfile("old", p), (err: unknown) => err instanceof UsageError && err.exitCode === 2 && re.test(err.details.join("\n")));
    refuses({ ...inputs, newUri: "sip:127.0.0.1:70000" }, /new backend: .*port 70000/);
    refuses({ ...inputs, oldUri: "http://x" }, /old backend: .*scheme/);
    refuses({ ...inputs, newUri: inputs.oldUri }, /same destination/);
    refuses({ ...inputs, newUri: "sip:127.0.0.1:15070;transport=udp" }, /same destination/);
    refuses({ ...inputs, setId: -1 }, /set id/);
  });

  it("parses modes; anything else is a usage error", () => {
    assert.equal(parseProfileMode("both"), "both");
    assert.throws(() => parseProfileMode("half"), /"half" is not a dispatcher mode; use one of old, both, new/);
    assert.throws(() => parseProfileMode(undefined), UsageError);
  });
});
