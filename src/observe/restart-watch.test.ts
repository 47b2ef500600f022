import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../core/assets.js";
import { parseKamcmdOutput } from "../kamailio/kamcmd-rpc.js";
import { parseDispatcherList } from "../dispatcher/list.js";
import { identityOf, restartFinding, restartText, sameProcess } from "./restart-watch.js";

const fixture = (name: string): string => readFileSync(path.join(PROJECT_ROOT, "test", "fixtures", name), "utf8");
const jsonResult = (name: string): unknown => (JSON.parse(fixture(name)) as { result: unknown }).result;

test("the identity from Kamailio 5.6.3's core.psx and core.uptime, over JSON-RPC and over kamcmd", () => {
  assert.deepEqual(
    identityOf(
      jsonResult("kamailio-5.6.3-jsonrpc-core.psx.json"),
      jsonResult("kamailio-5.6.3-jsonrpc-core.uptime.json"),
    ),
    { pid: 13062, upSince: "Mon Dec  7 11:02:39 2026" },
  );
  assert.deepEqual(
    identityOf(
      parseKamcmdOutput("core.psx", fixture("kamailio-5.6.3-kamcmd-core.psx.txt")),
      parseKamcmdOutput("core.uptime", fixture("kamailio-5.6.3-kamcmd-core.uptime.txt")),
    ),
    { pid: 13062, upSince: "Mon Nov 23 22:29:56 2026" },
  );
  assert.throws(() => identityOf([{ IDX: 1, PID: 5 }], { up_since: "x" }), /did not name the main process/);
  assert.throws(() => identityOf([{ IDX: 0, PID: 5 }], "up"), /did not name the main process/);
});

test("a restart is another pid or another start time (a container's Kamailio is pid 1 every time)", () => {
  const a = { pid: 1, upSince: "Mon Dec  7 11:02:39 2026" };
  assert.equal(sameProcess(a, { ...a }), true);
  assert.equal(sameProcess(a, { ...a, pid: 2 }), false);
  assert.equal(sameProcess(a, { ...a, upSince: "Mon Dec  7 11:02:41 2026" }), false);
});

test("the finding compares the runtime with the step the run applied, and says so", () => {
  const restart = {
    before: { pid: 10, upSince: "Mon Dec  7 11:00:00 2026" },
    after: { pid: 99, upSince: "Mon Dec  7 11:05:00 2026" },
    detectedAtMs: Date.parse("2026-12-07T11:05:01Z"),
  };
  const list = parseDispatcherList("1 sip:127.0.0.1:5070 0 0 weight=90\n1 sip:127.0.0.1:5080 0 0 weight=10\n");
  const rt = (w: number) => [
    { setId: 1, uri: "sip:127.0.0.1:5070", flags: "AX", priority: 0, attrs: `weight=${100 - w}` },
    { setId: 1, uri: "sip:127.0.0.1:5080", flags: "AX", priority: 0, attrs: `weight=${w}` },
  ];
  const base = {
    node: "node kam1 (http://127.0.1.2:5071/RPC)",
    restart,
    seen: "during step 2/4 new=10%'s hold",
    onStep: 2,
    onStepLabel: "new=10%",
    list,
  };
  const same = restartFinding({ ...base, runtime: rt(10) });
  assert.equal(same.matchesStep, true);
  assert.equal(
    restartText(same),
    "Kamailio at node kam1 (http://127.0.1.2:5071/RPC) restarted during step 2/4 new=10%'s hold: it is pid 99, up since Mon Dec  7 11:05:00 2026 " +
      "(the run began on pid 10, up since Mon Dec  7 11:00:00 2026); its runtime now: sip:127.0.0.1:5070 weight=90 [AX], sip:127.0.0.1:5080 weight=10 [AX], " +
      "which is step 2 (new=10%), the list the run applied (Kamailio loaded it from its durable list as it started); a step whose window spans a restart cannot pass",
  );
  const other = restartFinding({ ...base, runtime: rt(50) });
  assert.equal(other.matchesStep, false);
  assert.match(
    restartText(other),
    /which is NOT step 2 \(new=10%\), the list the run applied \(attrs of sip:127\.0\.0\.1:5070 \(set 1\) are "weight=50", not "weight=90"/,
  );
  const down = restartFinding({ ...base, runtime: "Kamailio RPC at node kam1 is unavailable: ECONNREFUSED" });
  assert.equal(down.matchesStep, undefined);
  assert.match(
    restartText(down),
    /its runtime could not be read \(runtime not read: Kamailio RPC at node kam1 is unavailable: ECONNREFUSED\)/,
  );
});
