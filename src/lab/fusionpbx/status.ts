import type { LabSettings } from "../../config/lab-config.js";
import { probeFusionpbxPage } from "../../verify/fusionpbx-page.js";
import type { BackendRole } from "../../core/backend-role.js";
import { fusionpbxDatabase } from "./install-recipe.js";
import { installedState } from "./installer.js";
import { findPostgresBinDir, fusionpbxCodeVersion, fusionpbxUrl, servedTree } from "./instance.js";

/**
 * `lab status`'s version cell: "FusionPBX 5.3.3 installed (v_software 5.3.3, database fusionpbx_old), login page (...)",
 * or "FusionPBX 5.5.7 (software.php) not installed (no database fusionpbx_new), installer page (...)".
 */
export async function fusionpbxStatusText(s: LabSettings, role: BackendRole, argv: readonly string[]): Promise<string> {
  const tree = servedTree(argv);
  const v = tree !== undefined ? fusionpbxCodeVersion(tree) : undefined;
  const pgBin = findPostgresBinDir();
  const inst =
    pgBin === undefined ? { installed: false, reason: "PostgreSQL not found" } : await installedState(s, pgBin, role);
  const r = await probeFusionpbxPage(fusionpbxUrl(s, role), 2000);
  const page = r.reachable ? `${r.page ?? "no"} page (${r.chain})` : `HTTP: ${r.error ?? "no answer"}`;
  const installed = inst.installed
    ? `installed (v_software ${inst.version ?? "?"}, database ${fusionpbxDatabase(role)})`
    : `not installed (${inst.reason ?? "?"})`;
  return `FusionPBX ${v ?? "unknown"} (software.php) ${installed}, ${page}`;
}
