/**
 * Kamailio 5.6.3's dispatcher algorithms measured on the real lab: where N real SIPp calls land
 * (per Call-ID, from the backends' message logs) for weighted lists under algorithm 9, and for the
 * seed's `both` under round-robin (4). Each count is compared with the pure model of dispatch.c
 * (src/dispatcher/weights.ts) and with splitBound.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { resolveLabSettings } from "../../src/config/lab-config.js";
import { parseDispatcherList } from "../../src/dispatcher/list.js";
import { buildStepProfile, renderProfile, type ProfileInputs } from "../../src/dispatcher/profile.js";
import { splitBound, weightSlots, type DispatcherAlgorithm } from "../../src/dispatcher/weights.js";
import { profileFromText, verifiedApply } from "../../src/apply/apply.js";
import { nativeTarget } from "../../src/lab/native-target.js";
import type { Target } from "../../src/target/target.js";
import { labFixture, type LabFixture } from "../support/lab-fixture.js";
import { placeCalls } from "../support/sip-call.js";

const RATE = 200;

interface Lab {
  f: LabFixture;
  target: Target;
  inputs: ProfileInputs;
}

async function startLab(alg: DispatcherAlgorithm, children: number): Promise<Lab> {
  const f = await labFixture();
  const up = await f.cli(["lab", "up", ...f.flags, "--dispatcher-alg", String(alg), "--children", String(children)]);
  assert.equal(up.code, 0, up.stderr);
  const s = resolveLabSettings(undefined, {
    labDir: f.labDir,
    sipPort: String(f.ports.sip),
    rpcPort: String(f.ports.rpc),
    oldPort: String(f.ports.old),
    newPort: String(f.ports.new),
    dispatcherAlg: String(alg),
  });
  const target = nativeTarget(s);
  return {
    f,
    target,
    inputs: { setId: 1, oldUri: target.backends.old.uri, newUri: target.backends.new.uri, policy: target.sipPolicy },
  };
}

/** Verified apply of a list (reload: a fresh cycle), then `n` calls; the new backend's count. */
async function measure(
  lab: Lab,
  listText: string,
  n: number,
  label: string,
): Promise<{ old: number; new: number; seq: string }> {
  // a comment naming the measurement makes each list differ from the last: always a reload, a fresh cycle
  await verifiedApply(lab.target, profileFromText(label, `${listText}# e2e measurement ${label}\n`, label));
  const r = await placeCalls(lab.f, n, label, { rate: RATE });
  assert.equal(r.code, 0, `${label}: every call completed`);
  assert.equal(r.old + r.new, n, `${label}: every call reached exactly one backend`);
  const seq = r.byCallNumber
    .slice(1)
    .map((b) => (b === "new" ? "N" : b === "old" ? "o" : "?"))
    .join("");
  return { old: r.old, new: r.new, seq };
}

function renderText(p: ReturnType<typeof buildStepProfile>): string {
  return renderProfile(p);
}

function modelNew(lab: Lab, listText: string, n: number): number {
  const slots = weightSlots(parseDispatcherList(listText), 1).get(lab.inputs.newUri) ?? 0;
  assert.equal(n % 100, 0, "the model predicts whole cycles");
  return (slots * n) / 100;
}

function note(t: TestContext, line: string): void {
  t.diagnostic(line);
}

const OLD_LINE = (lab: Lab, attrs: string): string => `1 ${lab.inputs.oldUri} 0 0 ${attrs}`;
const NEW_LINE = (lab: Lab, attrs: string): string => `1 ${lab.inputs.newUri} 0 0 ${attrs}`;
const listOf = (...lines: string[]): string => `# pbx-cutover e2e: weighted list\n${lines.join("\n")}\n`;

describe("dispatcher algorithm 9 (weight-based) on the real Kamailio 5.6.3, children=2", () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(9, 2);
  });
  after(async () => {
    await lab.f.dispose();
  });

  for (const w of [90, 10, 1, 50]) {
    test(`step new=${w}%: exactly ${w} of every 100 calls reach new, in two cycles; the shuffle changes with each reload`, async (t) => {
      const text = renderText(buildStepProfile(w, lab.inputs, 9));
      const first = await measure(lab, text, 100, `w${w}-a`);
      // no reload in between: the second 100 calls walk the same shuffled cycle again
      const again = await placeCalls(lab.f, 100, `w${w}-b`, { rate: RATE });
      assert.equal(again.code, 0);
      const reloaded = await measure(lab, renderText(buildStepProfile(w, lab.inputs, 9)), 100, `w${w}-c`);
      note(
        t,
        `new=${w}%: cycle 1 new ${first.new}/100, cycle 2 new ${again.new}/100, after a reload new ${reloaded.new}/100`,
      );
      note(t, `  cycle 1:       ${first.seq}`);
      note(t, `  after reload:  ${reloaded.seq}`);
      assert.equal(first.new, modelNew(lab, text, 100), "cycle 1 is the model's share");
      assert.equal(first.new, w);
      assert.equal(again.new, w, "cycle 2 (same shuffle, no reload)");
      assert.equal(reloaded.new, w, "after a reload");
      if (w === 10 || w === 50) assert.notEqual(first.seq, reloaded.seq, "a reload reshuffles the cycle");
      // the first k calls of a cycle: within splitBound for every k
      for (const r of [first, reloaded]) {
        let n = 0;
        for (let k = 1; k <= 100; k++) {
          if (r.seq[k - 1] === "N") n++;
          const b = splitBound({ algorithm: 9, weightNew: w, calls: k });
          assert.ok(n >= b.min && n <= b.max, `first ${k} calls: new ${n} outside [${b.min}, ${b.max}]`);
        }
      }
    });
  }

  test("a partial cycle: 150 calls at new=10% land 10 + [0, 10] on new", async (t) => {
    const r = await measure(lab, renderText(buildStepProfile(10, lab.inputs, 9)), 150, "w10-150");
    const b = splitBound({ algorithm: 9, weightNew: 10, calls: 150 });
    note(t, `150 calls at new=10%: new ${r.new} (bound [${b.min}, ${b.max}])`);
    assert.ok(r.new >= b.min && r.new <= b.max);
  });

  test("weights that do not sum to 100, and weight 0, do what dp_init_weights says", async (t) => {
    const kamailioLog = (): string => readFileSync(path.join(lab.f.labDir, "kamailio.log"), "utf8");
    const cases: { name: string; text: string; expectNew: number }[] = [
      {
        name: "old 0 (first line), new 100",
        text: listOf(OLD_LINE(lab, "weight=0"), NEW_LINE(lab, "weight=100")),
        expectNew: 100,
      },
      {
        name: "new 100 (first line), old 0",
        text: listOf(NEW_LINE(lab, "weight=100"), OLD_LINE(lab, "weight=0")),
        expectNew: 0,
      },
      {
        name: "old 100, new 0 (last line)",
        text: listOf(OLD_LINE(lab, "weight=100"), NEW_LINE(lab, "weight=0")),
        expectNew: 100,
      },
      {
        name: "no weights (the seed's both list)",
        text: listOf(`1 ${lab.inputs.oldUri} 0 0`, `1 ${lab.inputs.newUri} 0 0`),
        expectNew: 100,
      },
      {
        name: "old 10, new 10 (sum 20)",
        text: listOf(OLD_LINE(lab, "weight=10"), NEW_LINE(lab, "weight=10")),
        expectNew: 10,
      },
      {
        name: "old 90, new 90 (sum 180)",
        text: listOf(OLD_LINE(lab, "weight=90"), NEW_LINE(lab, "weight=90")),
        expectNew: 90,
      },
    ];
    for (const c of cases) {
      const r = await measure(lab, c.text, 100, `edge-${cases.indexOf(c)}`);
      note(t, `${c.name}: old ${r.old}, new ${r.new} of 100 (model: new ${modelNew(lab, c.text, 100)})`);
      assert.equal(r.new, modelNew(lab, c.text, 100), `${c.name}: the model`);
      assert.equal(r.new, c.expectNew, c.name);
    }
    assert.match(kamailioLog(), /weight 0 not in 1-100 range - ignoring destination/);
    assert.match(kamailioLog(), /extra weight 80 for last destination in group 1/);
  });
});

describe("the counter is per set, not per worker: children=1 and children=4 split the same", () => {
  for (const children of [1, 4]) {
    test(`children=${children}: new=10% gives exactly 10 of 100, twice`, async (t) => {
      const lab = await startLab(9, children);
      try {
        const text = renderText(buildStepProfile(10, lab.inputs, 9));
        const a = await measure(lab, text, 100, `c${children}-a`);
        const b = await measure(lab, text, 100, `c${children}-b`);
        note(t, `children=${children}: new ${a.new}/100, after a reload ${b.new}/100`);
        assert.deepEqual([a.new, b.new], [10, 10]);
      } finally {
        await lab.f.dispose();
      }
    });
  }
});

describe("round-robin (algorithm 4, the lab's default): the seed's both", () => {
  test("after a reload the first call goes to the last line (new); N calls split ceil/floor(N/2)", async (t) => {
    const lab = await startLab(4, 2);
    try {
      const text = renderText(buildStepProfile(50, lab.inputs, 4));
      for (const n of [7, 10]) {
        const r = await measure(lab, text, n, `rr-${n}`);
        const b = splitBound({ algorithm: 4, weightNew: 50, calls: n });
        note(t, `round-robin both, ${n} calls: old ${r.old}, new ${r.new} (${r.seq})`);
        assert.equal(r.new, Math.ceil(n / 2), "dlist[0] is the file's last line, and the counter starts there");
        assert.ok(r.new >= b.min && r.new <= b.max);
      }
    } finally {
      await lab.f.dispose();
    }
  });
});
