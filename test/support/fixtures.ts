import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** test/fixtures at the repo root (tests run compiled from dist/). */
export const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "test",
  "fixtures",
);

export function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), "utf8");
}
