import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { BackendRole } from "../../core/backend-role.js";
import {
  compareParity,
  type ObjectKind,
  type ParityResult,
  type ParitySnapshot,
  type Row,
} from "../../verify/fusionpbx-parity.js";
import { fusionpbxDatabase } from "./install-recipe.js";
import { psql, type PgConn } from "./pg-client.js";

/**
 * One slot's configuration as a parity snapshot: each object kind's rows with the domain's name
 * joined in and their children nested (dialplan details, ring group destinations, IVR options),
 * read in one psql session as JSON; and the dialplan apps FusionPBX's own templates carry.
 */

const DOMAIN = "(SELECT domain_name FROM v_domains d WHERE d.domain_uuid = t.domain_uuid) AS domain_name";

/** One SELECT per kind, each returning a JSON array (pure). */
export const PARITY_QUERIES: Record<ObjectKind, string> = {
  domain: "SELECT t.* FROM v_domains t",
  extension: `SELECT t.*, ${DOMAIN} FROM v_extensions t`,
  voicemail: `SELECT t.*, ${DOMAIN} FROM v_voicemails t`,
  gateway: `SELECT t.*, ${DOMAIN} FROM v_gateways t`,
  dialplan:
    `SELECT t.*, ${DOMAIN}, (SELECT coalesce(json_agg(c ORDER BY c.dialplan_detail_group, c.dialplan_detail_order), '[]') ` +
    "FROM v_dialplan_details c WHERE c.dialplan_uuid = t.dialplan_uuid) AS details FROM v_dialplans t",
  "ring group":
    `SELECT t.*, ${DOMAIN}, (SELECT coalesce(json_agg(c ORDER BY c.destination_number), '[]') ` +
    "FROM v_ring_group_destinations c WHERE c.ring_group_uuid = t.ring_group_uuid) AS destinations FROM v_ring_groups t",
  "ivr menu":
    `SELECT t.*, ${DOMAIN}, (SELECT coalesce(json_agg(c ORDER BY c.ivr_menu_option_digits), '[]') ` +
    "FROM v_ivr_menu_options c WHERE c.ivr_menu_uuid = t.ivr_menu_uuid) AS options FROM v_ivr_menus t",
  destination: `SELECT t.*, ${DOMAIN} FROM v_destinations t`,
};

/** The script: one line of JSON per kind, in KINDS order (pure). */
export function paritySql(): string {
  return (
    Object.values(PARITY_QUERIES)
      .map((q) => `SELECT coalesce(jsonb_agg(x), '[]'::jsonb) FROM (${q}) x;`)
      .join("\n") + "\n"
  );
}

/** psql's answer (one JSON array per line, in PARITY_QUERIES' order) → rows per kind (pure). */
export function parseParityRows(out: string): Record<ObjectKind, Row[]> {
  const lines = out.split("\n").filter((l) => l.trim() !== "");
  const kinds = Object.keys(PARITY_QUERIES) as ObjectKind[];
  if (lines.length !== kinds.length) throw new Error(`expected ${kinds.length} JSON lines, got ${lines.length}`);
  return Object.fromEntries(kinds.map((k, i) => [k, JSON.parse(lines[i]!) as Row[]])) as Record<ObjectKind, Row[]>;
}

/** app_uuids of the dialplan templates a FusionPBX tree's app defaults install (app/STAR/resources/switch/conf/dialplan/STAR.xml). */
export function templateDialplanApps(tree: string): Set<string> {
  const out = new Set<string>();
  let apps: string[] = [];
  try {
    apps = readdirSync(path.join(tree, "app"));
  } catch {
    return out;
  }
  for (const app of apps) {
    const dir = path.join(tree, "app", app, "resources", "switch", "conf", "dialplan");
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith(".xml"));
    } catch {
      continue;
    }
    for (const f of files) {
      for (const m of readFileSync(path.join(dir, f), "utf8").matchAll(/app_uuid="([0-9a-fA-F-]{36})"/g)) {
        out.add(m[1]!.toLowerCase());
      }
    }
  }
  return out;
}

export async function readParitySnapshot(
  conn: PgConn,
  role: BackendRole,
  tree: string,
  database = fusionpbxDatabase(role),
): Promise<ParitySnapshot> {
  const out = await psql(conn, database, "postgres", paritySql(), { timeoutMs: 60_000 });
  return { rows: parseParityRows(out), templateDialplanApps: templateDialplanApps(tree) };
}

/** Old against new, on a running lab's two slots. */
export async function labParity(conn: PgConn, trees: Record<BackendRole, string>): Promise<ParityResult> {
  const [o, n] = await Promise.all([
    readParitySnapshot(conn, "old", trees.old),
    readParitySnapshot(conn, "new", trees.new),
  ]);
  return compareParity(o, n);
}
