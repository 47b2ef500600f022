import path from "node:path";
import { fileURLToPath } from "node:url";

/** The project root: this file is at <root>/src/assets.ts or <root>/dist/src/assets.js. */
function projectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return here.includes(`${path.sep}dist${path.sep}`) || here.endsWith(`${path.sep}dist${path.sep}src`)
    ? path.resolve(here, "..", "..")
    : path.resolve(here, "..");
}

export const PROJECT_ROOT = projectRoot();

/** Absolute path of a file under assets/ (Kamailio template, SIPp scenarios). */
export function assetPath(...parts: string[]): string {
  return path.join(PROJECT_ROOT, "assets", ...parts);
}
