import { accessSync, constants } from "node:fs";
import os from "node:os";
import path from "node:path";
import { EnvironmentError } from "../../core/errors.js";

/**
 * Where `make real-services` (scripts/install-real-services.sh) puts the real services, and which
 * FreeSWITCH tree a lab slot runs. Both sides use the same rule:
 *   $PBX_CUTOVER_REAL_SERVICES, else ${XDG_CACHE_HOME:-$HOME/.cache}/pbx-cutover/real-services
 */
export function realServicesDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["PBX_CUTOVER_REAL_SERVICES"];
  if (explicit !== undefined && explicit !== "") return path.resolve(explicit);
  const cache = env["XDG_CACHE_HOME"] || path.join(env["HOME"] || os.homedir(), ".cache");
  return path.join(cache, "pbx-cutover", "real-services");
}

const VERSION = /^\d+\.\d+\.\d+$/;

/** A slot's `tree` setting: a version ("1.10.3": the installed tree) or a tree's path (pure). */
export function freeswitchTreePath(spec: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return VERSION.test(spec) ? path.join(realServicesDir(env), `freeswitch-${spec}`) : path.resolve(cwd, spec);
}

/** The tree for a slot, checked: its bin/freeswitch must be executable, else exit 3 with what to do. */
export function requireFreeswitchTree(role: string, spec: string, env: NodeJS.ProcessEnv = process.env): string {
  const tree = freeswitchTreePath(spec, env);
  try {
    accessSync(path.join(tree, "bin", "freeswitch"), constants.X_OK);
  } catch {
    const what = VERSION.test(spec) ? `FreeSWITCH ${spec}` : `a FreeSWITCH tree`;
    throw new EnvironmentError(
      `${what} for the ${role} backend is not installed at ${tree} (no bin/freeswitch); nothing was started`,
      [
        VERSION.test(spec)
          ? "install it with: make real-services (from PBX_CUTOVER_VENDOR, or built from upstream; PBX_CUTOVER_REAL_SERVICES picks the directory)"
          : `point --${role}-freeswitch at a directory holding bin/freeswitch and mod/, or at an installed version such as 1.10.12`,
      ],
    );
  }
  return tree;
}
