import { readFile } from "node:fs/promises";
import path from "node:path";
import { labPaths } from "../layout.js";
import { readLabState, type LabState } from "../state.js";
import { parseSoftwarePhp } from "../../verify/product-version.js";
import type { VersionSource } from "../../verify/probes.js";
import type { VerifySection } from "../../verify/verify-config.js";
import { fusionpbxUrl, servedTree, SOFTWARE_PHP } from "./instance.js";

/**
 * What `verify` adds on a native lab serving FusionPBX (read from the running lab's lab.json: verify
 * checks what runs): each slot's version from the code of the tree its web server serves
 * (core/software/resources/classes/software.php), and its URL for the HTTP page check.
 */
function fusionpbxLab(labDir: string): LabState | undefined {
  let state: LabState | undefined;
  try {
    state = readLabState(labPaths(labDir));
  } catch {
    return undefined;
  }
  return state?.settings.fusionpbx.enabled ? state : undefined;
}

export function nativeFusionpbxVersionSources(labDir: string): VersionSource[] {
  const state = fusionpbxLab(labDir);
  if (!state) return [];
  return state.components.flatMap((c): VersionSource[] => {
    if (c.role !== "fusionpbx-old" && c.role !== "fusionpbx-new") return [];
    const tree = servedTree(c.argv);
    if (tree === undefined) return [];
    const file = path.join(tree, SOFTWARE_PHP);
    return [
      {
        role: c.role === "fusionpbx-old" ? "old" : "new",
        component: `${c.role === "fusionpbx-old" ? "old" : "new"} FusionPBX (code)`,
        stack: "fusionpbx",
        kind: "fusionpbx code",
        endpoint: file,
        source: "software.php of the served tree",
        read: () => readFile(file, "utf8"),
        parse: parseSoftwarePhp,
      },
    ];
  });
}

/** Fill each slot's FusionPBX URL from the lab unless the config names one. */
export function withNativeFusionpbxDefaults(config: VerifySection, labDir: string): VerifySection {
  const state = fusionpbxLab(labDir);
  if (!state) return config;
  const out: VerifySection = { ...config };
  for (const role of ["old", "new"] as const) {
    out[role] = { ...config[role], fusionpbxUrl: config[role].fusionpbxUrl ?? fusionpbxUrl(state.settings, role) };
  }
  return out;
}
