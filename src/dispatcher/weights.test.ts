import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import { parseDispatcherListResult } from "./runtime.js";
import { parseDispatcherList } from "./list.js";
import { kamailioIndexOrder, splitBound, weightAttr, weightSlots } from "./weights.js";

const OLD = "sip:127.0.0.1:15070";
const NEW = "sip:127.0.0.1:15080";
const list = (...lines: string[]): ReturnType<typeof parseDispatcherList> =>
  parseDispatcherList(lines.join("\n") + "\n");
const slots = (...lines: string[]): Record<string, number> => Object.fromEntries(weightSlots(list(...lines), 1));

describe("Kamailio 5.6.3 index order (dlist)", () => {
  it("is the order the recorded dispatcher.list RPC reply reports: priority descending", () => {
    const source = parseDispatcherList(fixture("kamailio-5.6.3-dispatcher.list.source.list"));
    const recorded = parseDispatcherListResult(
      (JSON.parse(fixture("kamailio-5.6.3-dispatcher.list.rpc.json")) as { result: unknown }).result,
    );
    const loaded = new Set(recorded.map((d) => d.uri));
    assert.deepEqual(
      kamailioIndexOrder(source, 1)
        .map((d) => d.uri)
        .filter((u) => loaded.has(u)),
      recorded.filter((d) => d.setId === 1).map((d) => d.uri),
    );
  });

  it("puts the later line first among equal priorities", () => {
    assert.deepEqual(
      kamailioIndexOrder(list(`1 ${OLD} 0 0`, `1 ${NEW} 0 0`), 1).map((d) => d.uri),
      [NEW, OLD],
    );
    assert.deepEqual(
      kamailioIndexOrder(list(`1 ${OLD} 0 5`, `1 ${NEW} 0 0`), 1).map((d) => d.uri),
      [OLD, NEW],
    );
  });
});

describe("weight attr (ds_set_attrs)", () => {
  it("reads 1-100; 0, 101, negative or missing count as 0; leading digits like str2sint", () => {
    assert.equal(weightAttr("weight=10"), 10);
    assert.equal(weightAttr("duid=old;weight=50"), 50);
    assert.equal(weightAttr("WEIGHT=7"), 7);
    assert.equal(weightAttr("weight=0"), 0);
    assert.equal(weightAttr("weight=101"), 0);
    assert.equal(weightAttr("weight=-3"), 0);
    assert.equal(weightAttr("weight=12x"), 12);
    assert.equal(weightAttr("duid=x"), 0);
    assert.equal(weightAttr(undefined), 0);
  });
});

describe("slots per cycle of 100 (dp_init_weights)", () => {
  it("weights that sum to 100 are the shares", () => {
    assert.deepEqual(slots(`1 ${OLD} 0 0 weight=90`, `1 ${NEW} 0 0 weight=10`), { [NEW]: 10, [OLD]: 90 });
    assert.deepEqual(slots(`1 ${OLD} 0 0 weight=99`, `1 ${NEW} 0 0 weight=1`), { [NEW]: 1, [OLD]: 99 });
  });

  it("a sum below 100 gives the rest to the destination indexed last (the first line)", () => {
    assert.deepEqual(slots(`1 ${OLD} 0 0 weight=10`, `1 ${NEW} 0 0 weight=10`), { [NEW]: 10, [OLD]: 90 });
  });

  it("a sum above 100 cuts the destination indexed last (the first line)", () => {
    assert.deepEqual(slots(`1 ${OLD} 0 0 weight=90`, `1 ${NEW} 0 0 weight=90`), { [NEW]: 90, [OLD]: 10 });
  });

  it("weight 0 (or none) on the destination indexed first sends every call there", () => {
    assert.deepEqual(slots(`1 ${OLD} 0 0 weight=100`, `1 ${NEW} 0 0 weight=0`), { [NEW]: 100, [OLD]: 0 });
    assert.deepEqual(slots(`1 ${NEW} 0 0 weight=100`, `1 ${OLD} 0 0 weight=0`), { [OLD]: 100, [NEW]: 0 });
    assert.deepEqual(
      slots(`1 ${OLD} 0 0`, `1 ${NEW} 0 0`),
      { [NEW]: 100, [OLD]: 0 },
      "the seed's both list under algorithm 9",
    );
  });

  it("weight 0 on the destination indexed last is a 0 share", () => {
    assert.deepEqual(slots(`1 ${OLD} 0 0 weight=0`, `1 ${NEW} 0 0 weight=100`), { [NEW]: 100, [OLD]: 0 });
  });
});

describe("splitBound", () => {
  const w9 = (weightNew: number, calls: number, otherSelections = 0): [number, number] => {
    const b = splitBound({ algorithm: 9, weightNew, calls, otherSelections });
    return [b.min, b.max];
  };

  it("whole cycles are exact", () => {
    assert.deepEqual(w9(10, 100), [10, 10]);
    assert.deepEqual(w9(10, 300), [30, 30]);
    assert.deepEqual(w9(1, 200), [2, 2]);
    assert.deepEqual(w9(50, 100), [50, 50]);
  });

  it("a partial cycle of r calls adds max(0, r - (100 - w)) to min(r, w)", () => {
    assert.deepEqual(w9(10, 50), [0, 10]);
    assert.deepEqual(w9(10, 95), [5, 10]);
    assert.deepEqual(w9(10, 250), [20, 30]);
    assert.deepEqual(w9(90, 50), [40, 50]);
    assert.deepEqual(w9(50, 10), [0, 10]);
    assert.deepEqual(w9(1, 99), [0, 1]);
    assert.deepEqual(w9(0, 150), [0, 0]);
    assert.deepEqual(w9(100, 150), [150, 150]);
    assert.deepEqual(w9(10, 0), [0, 0]);
  });

  it("the bound is tight: an adversarial shuffle reaches both ends at any start offset", () => {
    for (const w of [1, 10, 33, 50, 90]) {
      const cycle = [...Array<number>(w).fill(1), ...Array<number>(100 - w).fill(0)]; // new's slots first
      for (const n of [1, 37, 99, 100, 163, 250]) {
        let lo = Infinity;
        let hi = -Infinity;
        for (let start = 0; start < 100; start++) {
          let c = 0;
          for (let k = 0; k < n; k++) c += cycle[(start + k) % 100]!;
          lo = Math.min(lo, c);
          hi = Math.max(hi, c);
        }
        assert.deepEqual([lo, hi], w9(w, n), `w=${w} n=${n}`);
      }
    }
  });

  it("other selections on the set widen the bound", () => {
    assert.deepEqual(w9(10, 100, 0), [10, 10]);
    assert.deepEqual(w9(10, 99, 1), [9, 10]);
    assert.deepEqual(w9(10, 100, 2), [8, 12]);
  });

  it("round-robin alternates: ±1 of half, 0 and 100 exact; other weights are refused", () => {
    assert.deepEqual(splitBound({ algorithm: 4, weightNew: 50, calls: 7 }), { min: 3, max: 4 });
    assert.deepEqual(splitBound({ algorithm: 4, weightNew: 50, calls: 10 }), { min: 5, max: 5 });
    assert.deepEqual(splitBound({ algorithm: 4, weightNew: 0, calls: 10 }), { min: 0, max: 0 });
    assert.deepEqual(splitBound({ algorithm: 4, weightNew: 100, calls: 10 }), { min: 10, max: 10 });
    assert.throws(() => splitBound({ algorithm: 4, weightNew: 10, calls: 10 }), /algorithm 9/);
    assert.throws(() => splitBound({ algorithm: 9, weightNew: 101, calls: 10 }), RangeError);
    assert.throws(() => splitBound({ algorithm: 9, weightNew: 10, calls: -1 }), RangeError);
  });
});
