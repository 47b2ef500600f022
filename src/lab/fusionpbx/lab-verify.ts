import { readFile } from "node:fs/promises";
import path from "node:path";
import type { LabState } from "../state.js";
import { parseSoftwarePhp } from "../../verify/product-version.js";
import type { VersionSource } from "../../verify/probes.js";
import type { VerifySection } from "../../config/verify-config.js";
import { fusionpbxUrl, servedTree, SOFTWARE_PHP } from "./instance.js";

/**
 * What `verify` adds on a native lab serving FusionPBX (from the running lab's state file, read once
 * by the command: verify checks what runs): each slot's version from the code of the tree its web
 * server serves (core/software/resources/classes/software.php), and its URL for the HTTP page check.
 * `running`: undefined when no lab runs.
 */
function fusionpbxLab(running: LabState | undefined): LabState | undefined {
  return running?.settings.fusionpbx.enabled ? running : undefined;
}

export function nativeFusionpbxVersionSources(running: LabState | undefined): VersionSource[] {
  const state = fusionpbxLab(running);
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
export function withNativeFusionpbxDefaults(config: VerifySection, running: LabState | undefined): VerifySection {
  const state = fusionpbxLab(running);
  if (!state) return config;
  const out: VerifySection = { ...config };
  for (const role of ["old", "new"] as const) {
    out[role] = { ...config[role], fusionpbxUrl: config[role].fusionpbxUrl ?? fusionpbxUrl(state.settings, role) };
  }
  return out;
}
