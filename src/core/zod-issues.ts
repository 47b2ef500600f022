/** zod's issues as messages (pure): each one line, naming its key path. */
import type { z } from "zod";

/** "steps[1].gates[0].maxWorse" from a zod path */
export function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out === "" ? "" : "."}${String(p)}`;
  return out === "" ? "(top level)" : out;
}

/**
 * zod issues as one line each, unknown keys named by their full path; a union's alternatives named
 * under the union's own path, each line once.
 */
export function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines = issues.flatMap((i): string[] => {
    if (i.code === "unrecognized_keys") return i.keys.map((k) => `${pathText([...i.path, k])}: unknown key`);
    if (i.code === "invalid_union" && i.errors.length > 0)
      return issueLines(i.errors.flat().map((e) => ({ ...e, path: [...i.path, ...e.path] })));
    return [`${pathText(i.path)}: ${i.message}`];
  });
  return [...new Set(lines)];
}
