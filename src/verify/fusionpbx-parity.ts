/**
 * Configuration parity between two FusionPBX databases (pure): old and new compared object by
 * object, by the keys a user knows (domain name, extension number, voicemail box, gateway name,
 * dialplan context and name, ring group and IVR extension, inbound number), field by field, with the
 * fields FusionPBX's 5.5 schema upgrade and app defaults legitimately change ignored by named rules
 * (`IGNORE_RULES`), never by accident: every ignored field is counted per rule in the result.
 */

export type Row = Record<string, unknown>;

export type ObjectKind =
  "domain" | "extension" | "voicemail" | "gateway" | "dialplan" | "ring group" | "ivr menu" | "destination";

/** What the reader hands in: each kind's rows (children already nested), plus FusionPBX's own dialplan apps. */
export interface ParitySnapshot {
  rows: Record<ObjectKind, Row[]>;
  /** app_uuids of the dialplans FusionPBX's app defaults write from its templates (both trees) */
  templateDialplanApps: ReadonlySet<string>;
}

interface KindSpec {
  /** the fields that name an object, as a user knows it */
  key: string[];
  /** nested child lists and the field naming each child */
  children?: Record<string, string[]>;
}

export const KINDS: Record<ObjectKind, KindSpec> = {
  domain: { key: ["domain_name"] },
  extension: { key: ["domain_name", "extension"] },
  voicemail: { key: ["domain_name", "voicemail_id"] },
  gateway: { key: ["domain_name", "gateway"] },
  dialplan: {
    key: ["dialplan_context", "dialplan_name"],
    children: {
      details: ["dialplan_detail_group", "dialplan_detail_order", "dialplan_detail_tag", "dialplan_detail_type"],
    },
  },
  "ring group": { key: ["domain_name", "ring_group_extension"], children: { destinations: ["destination_number"] } },
  "ivr menu": { key: ["domain_name", "ivr_menu_extension"], children: { options: ["ivr_menu_option_digits"] } },
  destination: { key: ["destination_context", "destination_number"] },
};

export interface IgnoreRule {
  id: string;
  /** why the field may differ, in a user's words */
  why: string;
}

/** Every rule under which a difference is not one (their ids appear in the result with counts). */
export const IGNORE_RULES: Record<string, IgnoreRule> = {
  identity: { id: "identity", why: "surrogate keys (*_uuid): objects are matched by the keys a user knows" },
  audit: { id: "audit", why: "insert/update date and user: who touched a row, not what it configures" },
  generated: { id: "generated", why: "dialplan_xml: FusionPBX regenerates it from the dialplan and its details" },
  "schema-column": {
    id: "schema-column",
    why: "a column only one version's schema has (the 5.5 schema upgrade adds columns)",
  },
  "schema-boolean": {
    id: "schema-boolean",
    why: "'true'/'false' text that the 5.5 schema upgrade turned into booleans (same value)",
  },
  "defaults-filled": {
    id: "defaults-filled",
    why: "empty in old, filled by 5.5's app defaults (extension_type 'default', voicemail recording instructions/options, destination_actions built from destination_app/data)",
  },
  "template-dialplan": {
    id: "template-dialplan",
    why: "FusionPBX's own dialplans, written by each version's app defaults from its templates (not the user's configuration)",
  },
  "empty-dialplan": {
    id: "empty-dialplan",
    why: "dialplan rows with no name and no context (5.3's app defaults leave them)",
  },
};

/** Fields 5.5's app defaults fill when old left them empty (kind → fields). */
const DEFAULTS_FILLED: Partial<Record<ObjectKind, string[]>> = {
  extension: ["extension_type"],
  voicemail: ["voicemail_recording_instructions", "voicemail_recording_options"],
  destination: ["destination_actions"],
};

const AUDIT = new Set(["insert_date", "insert_user", "update_date", "update_user"]);
const GENERATED = new Set(["dialplan_xml"]);

export type DiffStatus = "missing" | "extra" | "different";

export interface FieldDiff {
  field: string;
  old: unknown;
  new: unknown;
}

export interface ObjectDiff {
  kind: ObjectKind;
  /** e.g. "127.0.0.1 / 1001" */
  key: string;
  status: DiffStatus;
  fields: FieldDiff[];
}

export interface ParityResult {
  ok: boolean;
  /** objects compared per kind (matched on both sides) */
  compared: Record<ObjectKind, number>;
  diffs: ObjectDiff[];
  /** how many fields or objects each rule set aside */
  ignored: Record<string, number>;
  /** the columns only one side has, per kind (schema-column) */
  schemaColumns: Partial<Record<ObjectKind, { oldOnly: string[]; newOnly: string[] }>>;
}

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === "";
}

/** A value as compared: 'true'/'false' text and booleans alike, numeric text and numbers alike. */
export function normalize(v: unknown): unknown {
  if (v === "true" || v === "false") return v === "true";
  if (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (v === "") return null;
  return v ?? null;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function keyOf(spec: string[], r: Row): string {
  return spec.map((k) => (isEmpty(r[k]) ? "-" : String(r[k]))).join(" / ");
}

function count(ignored: Record<string, number>, rule: string, n = 1): void {
  ignored[rule] = (ignored[rule] ?? 0) + n;
}

/** Which rule sets a field aside on both sides' values, or undefined when the field is compared. */
function ruleFor(kind: ObjectKind, field: string, oldV: unknown, newV: unknown): string | undefined {
  if (field.endsWith("_uuid")) return "identity";
  if (AUDIT.has(field)) return "audit";
  if (GENERATED.has(field)) return "generated";
  if (DEFAULTS_FILLED[kind]?.includes(field) && isEmpty(oldV) && !isEmpty(newV)) return "defaults-filled";
  if (typeof newV === "boolean" && (oldV === "true" || oldV === "false") && same(oldV, newV)) return "schema-boolean";
  return undefined;
}

function compareFields(
  kind: ObjectKind,
  o: Row,
  n: Row,
  shared: ReadonlySet<string>,
  ignored: Record<string, number>,
  prefix = "",
): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const field of shared) {
    const rule = ruleFor(kind, field, o[field], n[field]);
    if (rule !== undefined) {
      count(ignored, rule);
      continue;
    }
    if (!same(o[field], n[field])) out.push({ field: prefix + field, old: o[field] ?? null, new: n[field] ?? null });
  }
  return out;
}

function columns(rows: Row[], skip: ReadonlySet<string>): Set<string> {
  const s = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) if (!skip.has(k)) s.add(k);
  return s;
}

function compareChildren(
  kind: ObjectKind,
  name: string,
  childKey: string[],
  o: Row[],
  n: Row[],
  ignored: Record<string, number>,
): FieldDiff[] {
  const out: FieldDiff[] = [];
  const oc = columns(o, new Set());
  const nc = columns(n, new Set());
  const shared = new Set([...oc].filter((c) => nc.size === 0 || nc.has(c)));
  const byKey = (rows: Row[]): Map<string, Row> => new Map(rows.map((r) => [keyOf(childKey, r), r]));
  const om = byKey(o);
  const nm = byKey(n);
  for (const [k, r] of om) {
    const m = nm.get(k);
    if (m === undefined) out.push({ field: `${name}[${k}]`, old: "present", new: "missing" });
    else out.push(...compareFields(kind, r, m, shared, ignored, `${name}[${k}].`));
  }
  for (const k of nm.keys()) if (!om.has(k)) out.push({ field: `${name}[${k}]`, old: "missing", new: "present" });
  return out;
}

/** Dialplans that are the user's configuration: not FusionPBX's own templates, not empty rows. */
function userDialplans(rows: Row[], templates: ReadonlySet<string>, ignored: Record<string, number>): Row[] {
  return rows.filter((r) => {
    if (isEmpty(r["dialplan_name"]) && isEmpty(r["dialplan_context"])) {
      count(ignored, "empty-dialplan");
      return false;
    }
    if (typeof r["app_uuid"] === "string" && templates.has(r["app_uuid"])) {
      count(ignored, "template-dialplan");
      return false;
    }
    return true;
  });
}

/** Compare old against new (pure). */
export function compareParity(oldSnap: ParitySnapshot, newSnap: ParitySnapshot): ParityResult {
  const ignored: Record<string, number> = {};
  const diffs: ObjectDiff[] = [];
  const compared = {} as Record<ObjectKind, number>;
  const schemaColumns: ParityResult["schemaColumns"] = {};
  const templates = new Set([...oldSnap.templateDialplanApps, ...newSnap.templateDialplanApps]);
  for (const kind of Object.keys(KINDS) as ObjectKind[]) {
    const spec = KINDS[kind];
    let o = oldSnap.rows[kind];
    let n = newSnap.rows[kind];
    if (kind === "dialplan") {
      o = userDialplans(o, templates, ignored);
      n = userDialplans(n, templates, ignored);
    }
    const childNames = new Set(Object.keys(spec.children ?? {}));
    const oc = columns(o, childNames);
    const nc = columns(n, childNames);
    const oldOnly = [...oc].filter((c) => !nc.has(c)).sort();
    const newOnly = [...nc].filter((c) => !oc.has(c)).sort();
    if (o.length > 0 && n.length > 0 && (oldOnly.length > 0 || newOnly.length > 0)) {
      schemaColumns[kind] = { oldOnly, newOnly };
      count(ignored, "schema-column", oldOnly.length + newOnly.length);
    }
    const shared = new Set([...oc].filter((c) => n.length === 0 || nc.has(c)));
    const nByKey = new Map(n.map((r) => [keyOf(spec.key, r), r]));
    const oKeys = new Set<string>();
    compared[kind] = 0;
    for (const r of o) {
      const key = keyOf(spec.key, r);
      oKeys.add(key);
      const m = nByKey.get(key);
      if (m === undefined) {
        diffs.push({ kind, key, status: "missing", fields: [] });
        continue;
      }
      compared[kind]++;
      const fields = compareFields(kind, r, m, shared, ignored);
      for (const [name, childKey] of Object.entries(spec.children ?? {})) {
        fields.push(
          ...compareChildren(
            kind,
            name,
            childKey,
            (r[name] as Row[] | null) ?? [],
            (m[name] as Row[] | null) ?? [],
            ignored,
          ),
        );
      }
      if (fields.length > 0) diffs.push({ kind, key, status: "different", fields });
    }
    for (const r of n) {
      const key = keyOf(spec.key, r);
      if (!oKeys.has(key)) diffs.push({ kind, key, status: "extra", fields: [] });
    }
  }
  return { ok: diffs.length === 0, compared, diffs, ignored, schemaColumns };
}

function cell(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The printed table: KIND, KEY, STATUS, WHAT; then the compared counts and the rules applied. */
export function formatParity(r: ParityResult): string {
  const rows = [
    ["KIND", "KEY", "STATUS", "WHAT"],
    ...r.diffs.map((d) => [
      d.kind,
      d.key,
      d.status === "missing" ? "missing on new" : d.status === "extra" ? "extra on new" : "different",
      d.fields.map((f) => `${f.field}: ${cell(f.old)} -> ${cell(f.new)}`).join("; "),
    ]),
  ];
  const widths = rows[0]!.slice(0, 3).map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table =
    r.diffs.length === 0
      ? []
      : rows.map((row) =>
          row
            .map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c))
            .join("  ")
            .trimEnd(),
        );
  const compared = Object.entries(r.compared)
    .map(([k, n]) => `${n} ${k}${n === 1 ? "" : "s"}`)
    .join(", ");
  const ignored = Object.entries(r.ignored)
    .map(([id, n]) => `${id} ${n}`)
    .join(", ");
  return [
    ...table,
    `compared on both: ${compared}`,
    `ignored by rule: ${ignored || "nothing"} (rules: docs/fusionpbx.md)`,
    r.ok
      ? "parity: old and new hold the same configuration"
      : `parity FAILED: ${r.diffs.length} object${r.diffs.length === 1 ? "" : "s"} missing, extra or different`,
  ].join("\n");
}
