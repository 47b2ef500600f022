#!/usr/bin/env node
// The layer rule of src/ (docs/architecture.md, "Layers"): every folder of src/ sits on one layer,
// bottom to top; a file imports only from its own layer and the layers below it, and no file
// reaches itself through imports (no cycle, also between files of one folder). Type-only and
// dynamic imports count like the others. A unit test (*.test.ts) may reach up to build its inputs
// (nothing imports a test, so it adds no dependency to its folder). Run by `npm run lint`; exit 1
// with every problem listed.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

/** Bottom to top. Folders on one line share a layer (they may import each other, without cycles). */
export const LAYERS = [
  ["core"],
  ["files"],
  ["sip"],
  ["dispatcher"],
  ["kamailio"],
  ["os"],
  ["events"],
  ["artifacts"],
  ["target"],
  ["apply"],
  ["fleet"],
  ["config"],
  ["freeswitch"],
  ["rtpengine"],
  ["observe"],
  ["verify"],
  ["lab"],
  ["drivers"],
  ["hep"],
  ["dashboard"],
  ["web"],
  ["control"],
  ["gates", "evidence"],
  ["plan"],
  ["sipp"],
  ["media"],
  ["run"],
  ["cutover"],
  ["sim"],
  ["cli"],
];

/** Every .ts file under dir, as paths relative to root (forward slashes), sorted. */
function sourceFiles(root, dir) {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) out.push(path.relative(root, p).split(path.sep).join("/"));
    }
  };
  walk(path.join(root, dir));
  return out.sort();
}

/** The project files a source file imports (relative specifiers only; `.js` names the `.ts` file). */
function importsOf(root, file) {
  const info = ts.preProcessFile(fs.readFileSync(path.join(root, file), "utf8"), true, true);
  const out = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith(".")) continue;
    const abs = path.resolve(path.dirname(path.join(root, file)), fileName.replace(/\.js$/, ".ts"));
    out.push(path.relative(root, abs).split(path.sep).join("/"));
  }
  return out;
}

/** The import graph of src/: file -> the src/ files it imports. */
export function importGraph(root) {
  const graph = new Map();
  for (const f of sourceFiles(root, "src")) {
    graph.set(
      f,
      importsOf(root, f).filter((t) => t.startsWith("src/")),
    );
  }
  return graph;
}

/** The folder of src/ a file belongs to ("src/lab/docker/x.ts" -> "lab"); undefined for a file directly in src/. */
function folderOf(file) {
  const parts = file.split("/");
  return parts.length > 2 ? parts[1] : undefined;
}

/** Cycles of the graph: its strongly connected components with more than one file, or a file importing itself. */
export function cyclesOf(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const out = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

/** The shortest import loop from the first file of a cycle back to it, staying inside the cycle. */
function loopThrough(graph, cycle) {
  const inside = new Set(cycle);
  const start = cycle[0];
  const from = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(from.get(path[0]));
        return path;
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return cycle;
}

/** Every break of the rule, as lines for a reader. */
export function layerProblems(graph, layers = LAYERS) {
  const layerOf = new Map(layers.flatMap((folders, i) => folders.map((f) => [f, i])));
  const name = (i) => layers[i].join("/");
  const problems = [];
  const unplaced = new Set();
  for (const [file, imports] of graph) {
    const from = folderOf(file);
    if (from === undefined || !layerOf.has(from)) {
      unplaced.add(from === undefined ? file : `src/${from}/`);
      continue;
    }
    if (file.endsWith(".test.ts")) continue;
    for (const target of imports) {
      const to = folderOf(target);
      if (to === undefined || !layerOf.has(to)) continue; // reported as unplaced
      if (layerOf.get(to) > layerOf.get(from)) {
        problems.push(
          `upward import: ${file} (layer ${name(layerOf.get(from))}) imports ${target} (layer ${name(layerOf.get(to))}, above it)`,
        );
      }
    }
  }
  for (const u of [...unplaced].sort()) {
    problems.push(`not on a layer: ${u} (every folder of src/ has a place in LAYERS, scripts/check-layers.mjs)`);
  }
  for (const c of cyclesOf(graph)) {
    const loop = loopThrough(graph, c);
    const more = c.length > loop.length ? ` (${c.length} files tied in all: ${c.join(", ")})` : "";
    problems.push(`import cycle: ${[...loop, loop[0]].join(" -> ")}${more}`);
  }
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const problems = layerProblems(importGraph(root));
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    console.error(
      `check-layers: ${problems.length} problem(s); the order, bottom to top: ${LAYERS.map((l) => l.join("/")).join(" < ")}`,
    );
    process.exitCode = 1;
  }
}
