import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../core/errors.js";
import { entriesOf, parseDispatcherList } from "./list.js";
import { LAB_LOOPBACK_POLICY, sipPolicy } from "../sip/sip-policy.js";
import {
  buildProfile,
  buildStepProfile,
  destinationsOf,
  listProblems,
  parseProfileMode,
  renderProfile,
} from "./profile.js";
import { weightSlots } from "./weights.js";

const inputs = { setId: 1, oldUri: "sip:127.0.0.1:15070", newUri: "sip:127.0.0.1:15080", policy: LAB_LOOPBACK_POLICY };

describe("profiles", () => {
  it("old, both and new hold the right destinations", () => {
    const uris = (m: "old" | "both" | "new"): string[] =>
      destinationsOf(buildProfile(m, inputs).list).map((d) => d.uri);
    assert.deepEqual(uris("old"), ["sip:127.0.0.1:15070"]);
    assert.deepEqual(uris("both"), ["sip:127.0.0.1:15070", "sip:127.0.0.1:15080"]);
    assert.deepEqual(uris("new"), ["sip:127.0.0.1:15080"]);
  });

  it("renders to a list Kamailio reads (and this parser reads back)", () => {
    const text = renderProfile(buildProfile("both", { ...inputs, setId: 4 }));
    assert.match(text, /^# pbx-cutover profile: both\n/);
    assert.match(text, /\n4 sip:127\.0\.0\.1:15070 0 0\n4 sip:127\.0\.0\.1:15080 0 0\n$/);
    assert.deepEqual(
      entriesOf(parseDispatcherList(text)).map((e) => e.setId),
      [4, 4],
    );
  });

  it("refuses invalid URIs and the same backend twice with UsageError (exit 2)", () => {
    const refuses = (p: typeof inputs, re: RegExp): void =>
      assert.throws(
        () => buildProfile("old", p),
        (err: unknown) =>
          err instanceof UsageError && err.exitCode === 2 && re.test([err.message, ...err.details].join("\n")),
      );
    refuses({ ...inputs, newUri: "sip:127.0.0.1:70000" }, /new backend: .*port 70000/);
    refuses({ ...inputs, oldUri: "http://x" }, /old backend: .*scheme/);
    refuses({ ...inputs, newUri: inputs.oldUri }, /same destination/);
    refuses({ ...inputs, newUri: "sip:127.0.0.1:15070;transport=udp" }, /same destination/);
    refuses({ ...inputs, setId: -1 }, /set id/);
  });

  it("one endpoint under two spellings is one destination; profiles are written in the canonical spelling", () => {
    const refuses = (p: typeof inputs): void =>
      assert.throws(
        () => buildProfile("both", p),
        (err: unknown) => err instanceof UsageError && /same destination/.test(err.message),
      );
    refuses({ ...inputs, newUri: "sip:127.0.0.01:15070" });
    refuses({ ...inputs, newUri: "SIP:127.000.0.1:15070" });
    refuses({ ...inputs, oldUri: "sip:127.0.0.1", newUri: "sip:127.0.0.1:5060" });
    const uris = destinationsOf(
      buildProfile("both", { ...inputs, oldUri: "SIP:127.0.0.01", newUri: "sip:127.0.0.2;TRANSPORT=TCP" }).list,
    );
    assert.deepEqual(
      uris.map((d) => d.uri),
      ["sip:127.0.0.1:5060", "sip:127.0.0.2:5060;transport=tcp"],
    );
  });

  it("URIs outside the target's SIP policy are refused before any list exists", () => {
    const refuses = (p: typeof inputs, re: RegExp): void =>
      assert.throws(
        () => buildProfile("both", p),
        (err: unknown) => err instanceof UsageError && re.test([err.message, ...err.details].join("\n")),
      );
    refuses(
      { ...inputs, oldUri: "sip:10.0.0.1:5060" },
      /old backend: "sip:10\.0\.0\.1:5060": 10\.0\.0\.1 is outside the lab's SIP policy \(allowed: 127\.0\.0\.0\/8\)/,
    );
    refuses({ ...inputs, newUri: "sip:pbx.example.com" }, /new backend: .*host name pbx\.example\.com is not allowed/);
    refuses({ ...inputs, newUri: "sip:localhost:15080" }, /host name localhost/);
    refuses({ ...inputs, newUri: "sip:[::1]:15080" }, /IPv6 address \[::1\]/);
    refuses({ ...inputs, newUri: "sip:127.0.0.1:15080;maddr=6.6.6.6" }, /maddr 6\.6\.6\.6 is outside/);
    const docker = sipPolicy("the Docker lab's SIP policy", ["172.28.0.0/24", "127.0.0.0/8"]);
    assert.doesNotThrow(() =>
      buildProfile("both", {
        ...inputs,
        oldUri: "sip:172.28.0.20:5060",
        newUri: "sip:172.28.0.21:5060",
        policy: docker,
      }),
    );
    refuses(
      { ...inputs, newUri: "sip:172.28.1.21:5060", policy: docker },
      /172\.28\.1\.21 is outside the Docker lab's SIP policy \(allowed: 172\.28\.0\.0\/24, 127\.0\.0\.0\/8\)/,
    );
  });
});

describe("saved lists (rollback points) obey the same rules", () => {
  const problems = (text: string): string[] => listProblems(parseDispatcherList(text), 1, LAB_LOOPBACK_POLICY);
  it("a list pbx-cutover wrote passes", () => {
    assert.deepEqual(problems(renderProfile(buildProfile("both", inputs))), []);
  });
  it("names each offending line: policy, set, the same endpoint twice, no destination at all", () => {
    assert.deepEqual(problems("# x\n1 sip:127.0.0.1:15070 0 0\n1 sip:6.6.6.6:5060 0 0\n"), [
      `line 3: "sip:6.6.6.6:5060": 6.6.6.6 is outside the lab's SIP policy (allowed: 127.0.0.0/8)`,
    ]);
    assert.deepEqual(problems("2 sip:127.0.0.1:15070 0 0\n"), [
      "line 1: set 2 is not this target's dispatcher set (1)",
    ]);
    assert.deepEqual(problems("1 sip:127.0.0.1:5060 0 0\n1 sip:127.0.0.01 0 0\n"), [
      "line 2: sip:127.0.0.01 is the same destination as sip:127.0.0.1:5060 on line 1",
    ]);
    assert.match(problems("1 sip:gw.example.com 0 0\n")[0]!, /^line 1: .*host name gw\.example\.com is not allowed/);
    assert.deepEqual(problems("# nothing\n"), ["it has no destinations (Kamailio would route nothing)"]);
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
    assert.deepEqual(Object.fromEntries(weightSlots(parseDispatcherList(text), 1)), {
      "sip:127.0.0.1:15080": 10,
      "sip:127.0.0.1:15070": 90,
    });
    for (const w of [1, 50, 99]) {
      const slots = weightSlots(buildStepProfile(w, inputs, 9).list, 1);
      assert.equal(slots.get(inputs.newUri), w);
      assert.equal(slots.get(inputs.oldUri), 100 - w);
    }
  });

  it("weights round-robin cannot split, and weights outside 0-100, are usage errors", () => {
    assert.throws(
      () => buildStepProfile(10, inputs, 4),
      (e: unknown) => e instanceof UsageError && /algorithm 9/.test(e.message),
    );
    assert.throws(() => buildStepProfile(101, inputs, 9), UsageError);
    assert.throws(() => buildStepProfile(2.5, inputs, 9), UsageError);
    assert.throws(
      () => buildStepProfile(10, { ...inputs, newUri: inputs.oldUri }, 9),
      (e: unknown) => e instanceof UsageError && /same destination/.test([e.message, ...e.details].join(" ")),
    );
  });
});

describe("profiles under the weight-based algorithm (9)", () => {
  it("both carries weight=50 on each destination (without weights Kamailio 5.6.3 sent all 6 of 6 calls to one); old and new are unchanged", () => {
    const both = entriesOf(buildProfile("both", inputs, 9).list);
    assert.deepEqual(
      both.map((e) => [e.uri, e.attrs]),
      [
        ["sip:127.0.0.1:15070", "weight=50"],
        ["sip:127.0.0.1:15080", "weight=50"],
      ],
    );
    assert.equal(buildProfile("both", inputs, 9).label, "both");
    for (const m of ["old", "new"] as const)
      assert.equal(renderProfile(buildProfile(m, inputs, 9)), renderProfile(buildProfile(m, inputs)));
    // round-robin's both stays the seed's, byte for byte
    assert.ok(entriesOf(buildProfile("both", inputs).list).every((e) => e.attrs === undefined));
  });
});
