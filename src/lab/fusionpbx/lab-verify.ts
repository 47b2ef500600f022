import { readFile } from "node:fs/promises";
import path from "node:path";
import type { LabState } from "../state.js";
import { parseSoftwarePhp } from "../../verify/product-version.js";
import type { VersionSource } from "../../verify/probes.js";
import type { VerifySection } from "../../config/verify-config.js";
import { findPostgresBinDir, fusionpbxUrl, servedTree, SOFTWARE_PHP } from "./instance.js";
import { fusionpbxDatabase } from "./install-recipe.js";
import { installedDomain, installedState, readCredentials } from "./installer.js";
import { loginToFusionpbx } from "./web-session.js";

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
      installedSource(state, c.role === "fusionpbx-old" ? "old" : "new"),
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

/**
 * A slot's install as a version source: installed = its database holds the domain, the admin and
 * v_software's version (what FusionPBX itself reports), and the admin's login reaches the
 * dashboard. Not installed, or the login fails: the row is unreachable, saying why.
 */
function installedSource(state: LabState, role: "old" | "new"): VersionSource {
  const s = state.settings;
  const database = fusionpbxDatabase(role);
  return {
    role,
    component: `${role} FusionPBX (installed)`,
    stack: "fusionpbx",
    kind: "fusionpbx install",
    endpoint: `postgresql://${s.kamailio.address}:${s.fusionpbx.postgresPort}/${database}`,
    source: "v_software of the installed database; admin login reached the dashboard",
    read: async () => {
      const pgBin = findPostgresBinDir();
      if (pgBin === undefined) throw new Error("PostgreSQL's bin dir not found");
      const inst = await installedState(s, pgBin, role);
      if (!inst.installed) throw new Error(`not installed: ${inst.reason ?? "?"}`);
      const c = readCredentials(s.labDir);
      if (c === undefined) throw new Error(`installed, but the lab's credentials are missing in ${s.labDir}`);
      const login = await loginToFusionpbx(fusionpbxUrl(s, role), {
        username: c.username,
        domain: installedDomain(s, role),
        password: c.password,
      });
      if (!login.ok)
        throw new Error(
          `installed ${inst.version ?? "?"}, but the admin login failed: ${login.error ?? "?"} (${login.chain})`,
        );
      return `FusionPBX ${inst.version ?? ""}`;
    },
    parse: (text) => {
      const m = /^FusionPBX (\d+(?:\.\d+)+)$/.exec(text.trim());
      return m ? { product: "FusionPBX", version: m[1], build: undefined, standIn: false } : undefined;
    },
  };
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
