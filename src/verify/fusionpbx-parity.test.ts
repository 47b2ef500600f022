import assert from "node:assert/strict";
import { test } from "node:test";
import { fixture } from "../../test/support/fixtures.js";
import {
  compareParity,
  formatParity,
  KINDS,
  normalize,
  type ObjectKind,
  type ParitySnapshot,
  type Row,
} from "./fusionpbx-parity.js";

// rows recorded from the lab: FusionPBX 5.3.3 with the project's data set, and 5.5.7 after migrate-data
// (its schema upgrade turned 'true'/'false' text into booleans, its app defaults filled some fields)
function snapshot(name: string, templates: string[] = []): ParitySnapshot {
  const raw = JSON.parse(fixture(name)) as Partial<Record<ObjectKind, Row[] | null>>;
  const rows = Object.fromEntries(
    (Object.keys(KINDS) as ObjectKind[]).map((k) => [k, structuredClone(raw[k] ?? [])]),
  ) as Record<ObjectKind, Row[]>;
  return { rows, templateDialplanApps: new Set(templates) };
}
const OLD = "fusionpbx-5.3.3-parity-rows.json";
const NEW = "fusionpbx-5.5.7-migrated-parity-rows.json";

test("5.3.3 against the migrated 5.5.7: the same configuration; what the upgrade changed is ignored by named rules", () => {
  const r = compareParity(snapshot(OLD), snapshot(NEW));
  assert.deepEqual(r.diffs, [], formatParity(r));
  assert.equal(r.ok, true);
  assert.deepEqual(Object.fromEntries(Object.entries(r.compared).filter(([, n]) => n > 0)), {
    extension: 1,
    voicemail: 1,
    gateway: 1,
    dialplan: 1,
    destination: 1,
  });
  for (const rule of ["identity", "audit", "schema-boolean", "defaults-filled", "empty-dialplan", "generated"]) {
    assert.ok((r.ignored[rule] ?? 0) > 0, `rule ${rule} applied: ${JSON.stringify(r.ignored)}`);
  }
  assert.match(formatParity(r), /^parity: old and new hold the same configuration$/m);
});

test("each sabotage is found by the key a user knows: deleted, added, a gateway's proxy, a disabled route, a detail", () => {
  const n = snapshot(NEW);
  n.rows.extension = [];
  n.rows.voicemail.push({ ...n.rows.voicemail[0]!, voicemail_id: "1099" });
  n.rows.gateway[0]!["proxy"] = "sip.evil.test";
  n.rows.dialplan.find((d) => d["dialplan_name"] === "us-long-distance")!["dialplan_enabled"] = false;
  const r = compareParity(snapshot(OLD), n);
  assert.equal(r.ok, false);
  const got = r.diffs.map((d) => [
    d.kind,
    d.key,
    d.status,
    d.fields.map((f) => `${f.field}: ${String(f.old)} -> ${String(f.new)}`).join("; "),
  ]);
  assert.deepEqual(got, [
    ["extension", "127.0.0.1 / 1002", "missing", ""],
    ["voicemail", "127.0.0.1 / 1099", "extra", ""],
    ["gateway", "127.0.0.1 / carrier-a", "different", "proxy: sip.carrier-a.test -> sip.evil.test"],
    ["dialplan", "127.0.0.1 / us-long-distance", "different", "dialplan_enabled: true -> false"],
  ]);
  const d = snapshot(NEW);
  const details = d.rows.dialplan.find((x) => x["dialplan_name"] === "us-long-distance")!["details"] as Row[];
  details[details.length - 1]!["dialplan_detail_data"] = "sofia/gateway/other/1$1";
  const r2 = compareParity(snapshot(OLD), d);
  assert.match(r2.diffs[0]!.fields[0]!.field, /^details\[0 \/ 40 \/ action \/ bridge\]\.dialplan_detail_data$/);
  assert.match(formatParity(r2), /parity FAILED: 1 object missing, extra or different/);
});

test("a field filled on new that old had set is a difference, not a default; template dialplans are FusionPBX's own", () => {
  const o = snapshot(OLD);
  o.rows.extension[0]!["extension_type"] = "virtual";
  const r = compareParity(o, snapshot(NEW));
  assert.deepEqual(r.diffs[0]?.fields, [{ field: "extension_type", old: "virtual", new: "default" }]);
  const uuid = snapshot(OLD).rows.dialplan.find((x) => x["dialplan_name"] === "us-long-distance")![
    "app_uuid"
  ] as string;
  const t = compareParity(snapshot(OLD, [uuid]), snapshot(NEW, [uuid]));
  assert.equal(t.compared.dialplan, 0);
  assert.ok((t.ignored["template-dialplan"] ?? 0) >= 2);
});

test("values compare as a user reads them", () => {
  assert.equal(normalize("true"), true);
  assert.equal(normalize("30"), 30);
  assert.equal(normalize(""), null);
  assert.equal(normalize(undefined), null);
  assert.equal(normalize("sip.carrier-a.test"), "sip.carrier-a.test");
});
