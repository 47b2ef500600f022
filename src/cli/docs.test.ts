import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { PROJECT_ROOT } from "../core/assets.js";

/**
 * The user documentation stays true to the tree: every relative link and anchor in README.md and
 * docs/ resolves, every project path it names in code (`src/...`, `test/...`) exists, and the legacy
 * lab is named as docs/legacy-scripts.md defines it.
 */

function markdownFiles(): string[] {
  const out = ["README.md", "local-lab/real-services/README.md"];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith(".md")) out.push(rel);
    }
  };
  walk("docs");
  return out;
}

const read = (rel: string): string => readFileSync(path.join(PROJECT_ROOT, rel), "utf8");
const withoutFences = (md: string): string => md.replace(/^```[\s\S]*?^```/gm, "");

/** GitHub's anchors for a file's headings (lower-cased, punctuation dropped, spaces to hyphens, -1 for repeats). */
function headingAnchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutFences(md).split("\n")) {
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(base);
    seen.set(base, n === undefined ? 0 : n + 1);
    out.add(n === undefined ? base : `${base}-${n + 1}`);
  }
  return out;
}

describe("README.md and docs/ are true to the tree", () => {
  const files = markdownFiles();

  test("every relative link points at a file that exists, and at a heading it has", () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const m of withoutFences(read(file)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        const [target, anchor] = link.split("#") as [string, string | undefined];
        const rel = target === "" ? file : path.normalize(path.join(path.dirname(file), target));
        if (!existsSync(path.join(PROJECT_ROOT, rel))) broken.push(`${file}: ${link} (no ${rel})`);
        else if (anchor && rel.endsWith(".md") && !headingAnchors(read(rel)).has(anchor))
          broken.push(`${file}: ${link} (no heading #${anchor} in ${rel})`);
      }
    }
    assert.deepEqual(broken, [], "broken links:\n" + broken.join("\n"));
  });

  test("every project path named in code exists (a moved file needs its docs updated)", () => {
    const missing: string[] = [];
    for (const file of files) {
      for (const span of withoutFences(read(file)).matchAll(/`([^`\n]+)`/g)) {
        for (const word of span[1]!.split(/[\s,;()]+/)) {
          const p = word.replace(/[.:]+$/, "");
          if (!/^(src|test|bench|scripts|assets|local-lab)\/[\w.\-/]+$/.test(p)) continue;
          if (/(^|\/)(\.state|artifacts)(\/|$)/.test(p)) continue; // run output, not in the tree
          if (!existsSync(path.join(PROJECT_ROOT, p))) missing.push(`${file}: ${p}`);
        }
      }
    }
    assert.deepEqual(missing, [], "paths the docs name that do not exist:\n" + missing.join("\n"));
  });

  test("the legacy lab goes by its defined name: 'seed' only as a literal (code) outside legacy-scripts.md", () => {
    const found: string[] = [];
    for (const file of files) {
      if (file === path.join("docs", "legacy-scripts.md") || file === path.join("docs", "reference", "cli.md"))
        continue;
      let fenced = false;
      read(file)
        .split("\n")
        .forEach((line, i) => {
          if (line.startsWith("```")) fenced = !fenced;
          if (fenced) return;
          const prose = line.replace(/`[^`]*`/g, "").replace(/random seed|seeded from/gi, "");
          if (/\bseed/i.test(prose)) found.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(found, [], "say 'the legacy lab' (docs/legacy-scripts.md) instead:\n" + found.join("\n"));
  });

  test("the anchors follow GitHub's rule", () => {
    const a = headingAnchors(
      "# Title\n## `lab up | down | status`\n## Live traffic: `--traffic`\n## Title\n```\n# not a heading\n```\n",
    );
    assert.deepEqual([...a], ["title", "lab-up--down--status", "live-traffic---traffic", "title-1"]);
  });
});
