/**
 * What the web page shows, read in the browser (the script is text: the test program has no DOM
 * types). `window.__pbx.seen` records the page as it changed (phase, live step, counters);
 * `window.__pbx.shown()` reads the numbers, verdict rows, links and steps on the page now.
 */
export interface Seen {
  phase: string;
  live: string;
  old: number;
  new: number;
}

export interface Shown {
  old: number;
  new: number;
  completed: number;
  failed: number;
  up: number;
  verdicts: number;
  passed: number;
  withNumbers: number;
  split: string[];
  status: string;
  ended: boolean;
  seq: number;
  links: string[];
  live: string[];
  steps: string[];
  charts: number;
  /** the HEP table's totals: new calls routed per backend (NaN when the run had no capture) */
  hepOld: number;
  hepNew: number;
  /** per timeline entry: its state (plan steps), the weight it shows, and how many applies it lists */
  stepStates: string[];
  weights: string[];
  applies: number;
}

export const PROBE_SCRIPT = `
(() => {
  const txt = (id) => (document.getElementById(id) || {}).textContent || "";
  const n = (id) => Number(txt(id));
  const all = (sel) => [...document.querySelectorAll(sel)];
  const live = () => all('#timeline li[data-live="true"]').map((li) => li.getAttribute("data-step"));
  const pbx = {
    seen: [],
    record() {
      const s = { phase: txt("phase"), live: live()[0] || "", old: n("old-routed"), new: n("new-routed") };
      const last = pbx.seen[pbx.seen.length - 1];
      if (!last || last.phase !== s.phase || last.live !== s.live || last.old !== s.old || last.new !== s.new) pbx.seen.push(s);
    },
    shown() {
      return {
        old: n("old-routed"), new: n("new-routed"),
        completed: n("old-completed") + n("new-completed"), failed: n("old-failed") + n("new-failed"), up: n("old-up") + n("new-up"),
        verdicts: all("#verdict-rows tr[data-verdict]").length,
        passed: all('#verdict-rows tr[data-verdict="pass"]').length,
        withNumbers: all("#verdict-rows tr[data-verdict] code[data-number]").length,
        split: all('#verdict-rows tr[data-name="both/split"] code').map((c) => c.textContent),
        status: document.body.dataset.status || "",
        ended: document.body.dataset.ended === "true",
        seq: Number(document.body.dataset.seq || 0),
        links: all("#evidence a").map((a) => a.getAttribute("href") || ""),
        live: live(),
        steps: all("#timeline li[data-step]").map((li) => li.getAttribute("data-step")),
        charts: all(".chart canvas").length,
        hepOld: n("hep-old-total-routed"), hepNew: n("hep-new-total-routed"),
        stepStates: all("#timeline li[data-step]").map((li) => li.getAttribute("data-state") || ""),
        weights: all("#timeline li[data-step] .step-title").map((t) => (/new \\d+%/.exec(t.textContent || "") || [""])[0]),
        applies: all("#timeline li[data-step]").reduce((k, li) => k + ((li.textContent || "").match(/applied /g) || []).length, 0),
      };
    },
  };
  window.__pbx = pbx;
  document.addEventListener("DOMContentLoaded", () => {
    pbx.record();
    new MutationObserver(() => pbx.record()).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
})();
`;
