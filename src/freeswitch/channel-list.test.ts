import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "../core/assets.js";
import { parseChannelsJson } from "./channel-list.js";

const fixture = (name: string): string => readFileSync(path.join(PROJECT_ROOT, "test", "fixtures", name), "utf8");

test('show channels as json with none up ({"row_count": 0})', () => {
  assert.deepEqual(parseChannelsJson(fixture("freeswitch-1.10.3-event-socket-show-channels-json-0.txt")), []);
});

test("show channels as json with one channel up (originated, or a call in): its uuid, name and creation time", () => {
  assert.deepEqual(parseChannelsJson(fixture("freeswitch-1.10.3-event-socket-show-channels-json-1.txt")), [
    { uuid: "ae4faa6a-4cbc-471b-912e-e010f67f2db6", name: "sofia/lab/drain@127.0.0.1:38663", createdS: 1796664454 },
  ]);
  assert.deepEqual(parseChannelsJson(fixture("freeswitch-1.10.12-event-socket-show-channels-json-1.txt")), [
    { uuid: "7444e11b-797b-469b-ae1a-570fd7429f66", name: "sofia/lab/drain@127.0.0.1:38662", createdS: 1796664455 },
  ]);
  assert.deepEqual(parseChannelsJson(fixture("freeswitch-1.10.12-event-socket-show-channels-json-inbound-1.txt")), [
    { uuid: "b511d0dd-7c72-4a78-9f2e-a464042d6c97", name: "sofia/lab/drain-test@127.0.0.1", createdS: 1796664454 },
  ]);
});

test("anything else is not a channel list", () => {
  for (const body of ["\n0 total.\n", "-ERR no reply\n", "", "{}", '{"row_count": 2}', "[]"])
    assert.equal(parseChannelsJson(body), undefined, JSON.stringify(body));
});
