/**
 * The web page of a run: one HTML file with everything inline (uPlot's minified JS and CSS from
 * node_modules, the page's own script and style from assets/web, the view as JSON), so report.html
 * opens from disk with no network and the live page needs nothing but its own server. The content
 * security policy says the same to the browser: no source but the page itself (the live page may
 * also connect back to its own origin for the event stream).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { assetPath } from "../core/assets.js";
import type { RunView } from "./view-model.js";
import type { BackendRole } from "../core/backend-role.js";

export interface PageAssets {
  uplotJs: string;
  uplotCss: string;
  pageJs: string;
  pageCss: string;
}

let cached: PageAssets | undefined;

/** uPlot (the npm package, bundled at report build time) and the page's own script and style. */
export function readPageAssets(): PageAssets {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const uplotDir = require.resolve("uplot/package.json").replace(/package\.json$/, "dist/");
  cached = {
    uplotJs: readFileSync(uplotDir + "uPlot.iife.min.js", "utf8"),
    uplotCss: readFileSync(uplotDir + "uPlot.min.css", "utf8"),
    pageJs: readFileSync(assetPath("web", "page.js"), "utf8"),
    pageCss: readFileSync(assetPath("web", "page.css"), "utf8"),
  };
  return cached;
}

export type PageKind = "live" | "report";

const html = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** JSON that is safe inside a <script> element: no "</script>", no "<!--", no U+2028/2029 surprises. */
export function scriptJson(x: unknown): string {
  return JSON.stringify(x)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Inline script text must not close its element early. */
const inlineScript = (js: string): string => js.replace(/<\/script/gi, "<\\/script");
const inlineStyle = (css: string): string => css.replace(/<\/style/gi, "<\\/style");

export function contentSecurityPolicy(kind: PageKind): string {
  return [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    "img-src data:",
    kind === "live" ? "connect-src 'self'" : "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/** The page (pure): the view rendered by the page script, live or as a report. */
export function renderPage(view: RunView, kind: PageKind, assets: PageAssets): string {
  const title = `pbx-cutover ${kind === "live" ? "live" : "report"}: ${view.runName || "run"}`;
  const counter = (b: BackendRole): string =>
    `<tr class="${b}"><td>${b.toUpperCase()}</td>` +
    ["routed", "completed", "failed", "up", "rate"].map((k) => `<td class="num" id="${b}-${k}">-</td>`).join("") +
    `</tr>`;
  const hepRow = (b: BackendRole): string =>
    `<tr class="${b}"><td>${b.toUpperCase()}</td>` +
    ["routed", "1xx", "2xx", "3xx-6xx", "total-routed", "total-2xx", "total-3xx-6xx"]
      .map((k) => `<td class="num" id="hep-${b}-${k}">-</td>`)
      .join("") +
    `</tr>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(kind)}">
<meta name="generator" content="pbx-cutover">
<title>${html(title)}</title>
<style>${inlineStyle(assets.uplotCss)}</style>
<style>${inlineStyle(assets.pageCss)}</style>
</head>
<body data-page="${kind}">
<header>
<h1>pbx-cutover ${kind === "live" ? "live view" : "run report"}</h1>
<span class="kv">run <b id="run"></b></span>
<span class="kv">status <span id="status" class="badge"></span></span>
<span class="kv">phase <b id="phase"></b></span>
<span class="kv">dispatcher list (last verified apply) <b id="applied"></b></span>
<span class="kv">elapsed <b id="elapsed"></b></span>
<span class="kv">exit <b id="exit"></b></span>
<span class="kv muted">events <span id="seq"></span></span>
${kind === "live" ? `<span class="kv" id="conn">connecting</span>` : `<span class="kv muted">built from events.ndjson and results.json</span>`}
</header>
<main>
<section><h2>Timeline</h2><ol id="timeline"></ol></section>
<section><h2>Calls per backend</h2>
<table id="counters"><thead><tr><th></th><th class="num">routed (INVITE reached it)</th><th class="num">completed</th><th class="num">failed</th><th class="num">up now</th><th class="num">calls/s (last bin)</th></tr></thead>
<tbody>${counter("old")}${counter("new")}</tbody></table>
<p class="muted">Counted from the run's per-call evidence events (the terminal dashboard's reducer); "up" is routed and not finished, not Kamailio's dialog count.</p>
</section>
<section id="hep-rates"><h2>Rates from Kamailio's HEP mirror</h2>
<table id="hep"><thead><tr><th></th><th class="num">INVITE/s (new calls routed)</th><th class="num">1xx/s</th><th class="num">2xx/s</th><th class="num">3xx-6xx/s</th><th class="num">INVITEs (total)</th><th class="num">2xx (total)</th><th class="num">3xx-6xx (total)</th></tr></thead>
<tbody>${hepRow("old")}${hepRow("new")}</tbody></table>
<p class="muted" id="hep-window">no HEP capture in this run</p>
</section>
<section class="charts"><div class="chart" id="chart-rate"></div><div class="chart" id="chart-up"></div></section>
<section><h2>Verdicts: <span id="verdicts-pass"></span> pass, <span id="verdicts-fail"></span> fail, <span id="verdicts-inconclusive"></span> inconclusive</h2>
<table id="verdicts"><thead><tr><th>phase</th><th>assertion</th><th>verdict</th><th>details</th><th>numbers</th></tr></thead><tbody id="verdict-rows"></tbody></table>
</section>
<section><h2>Result</h2><div id="results"></div></section>
<section><h2>Evidence (in the run folder)</h2><ul id="evidence"></ul><div class="muted" id="unreadable"></div></section>
<section><h2>Log (last lines of simulation.stdout.log)</h2><pre id="log"></pre></section>
</main>
<script type="application/json" id="view">${scriptJson(view)}</script>
<script>${inlineScript(assets.uplotJs)}</script>
<script>${inlineScript(assets.pageJs)}</script>
</body>
</html>
`;
}
