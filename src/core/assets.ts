import path from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: this file is at <root>/src/core/assets.ts or <root>/dist/src/core/assets.js. */
function projectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return here.endsWith(`${path.sep}dist${path.sep}src${path.sep}core`)
    ? path.resolve(here, "..", "..", "..")
    : path.resolve(here, "..", "..");
}

export const PROJECT_ROOT = projectRoot();

/** Absolute path of a file under assets/ (Kamailio template, SIPp scenarios). */
export function assetPath(...parts: string[]): string {
  return path.join(PROJECT_ROOT, "assets", ...parts);
}
