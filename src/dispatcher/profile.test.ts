import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../cli/errors.js";
import { entriesOf, parseDispatcherList } from "./list.js";
import { buildProfile, buildStepProfile, destinationsOf, parseProfileMode, renderProfile } from "./profile.js";
import { weightSlots } from "./weights.js";

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

describe("step profiles (a plan step's weight)", () => {
  it("0, 50 under round-robin and 100 are the old, both and new profiles byte for byte", () => {
    for (const alg of [4, 9] as const) {
      assert.equal(renderProfile(buildStepProfile(0, inputs, alg)), renderProfile(buildProfile("old", inputs)));
      assert.equal(renderProfile(buildStepProfile(100, inputs, alg)), renderProfile(buildProfile("new", inputs)));
    }
    assert.equal(renderProfile(buildStepProfile(50, inputs, 4)), renderProfile(buildProfile("both", inputs)));
  });

  it("weighted steps carry weight= attrs that sum to 100, never a weight of 0", () => {
    const text = renderProfile(buildStepProfile(10, inputs, 9));
    assert.match(text, /^# pbx-cutover profile: new=10%\n/);
    assert.match(text, /\n1 sip:127\.0\.0\.1:15070 0 0 weight=90\n1 sip:127\.0\.0\.1:15080 0 0 weight=10\n$/);
    assert.deepEqual(Object.fromEntries(weightSlots(parseDispatcherList(text), 1)), { "sip:127.0.0.1:15080": 10, "sip:127.0.0.1:15070": 90 });
    for (const w of [1, 50, 99]) {
      const slots = weightSlots(buildStepProfile(w, inputs, 9).list, 1);
      assert.equal(slots.get(inputs.newUri), w);
      assert.equal(slots.get(inputs.oldUri), 100 - w);
    }
  });

  it("weights round-robin cannot split, and weights outside 0-100, are usage errors", () => {
    assert.throws(() => buildStepProfile(10, inputs, 4), (e: unknown) => e instanceof UsageError && /algorithm 9/.test(e.message));
    assert.throws(() => buildStepProfile(101, inputs, 9), UsageError);
    assert.throws(() => buildStepProfile(2.5, inputs, 9), UsageError);
    assert.throws(() => buildStepProfile(10, { ...inputs, newUri: inputs.oldUri }, 9), (e: unknown) => e instanceof UsageError && /same destination/.test(e.details.join(" ")));
  });
});
