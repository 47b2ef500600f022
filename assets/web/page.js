/* pbx-cutover web view (browser side). It renders the run's view model (src/web/view-model.ts) as
 * given, with textContent only, and decides nothing. The live page (body data-page="live") then
 * follows the server's event stream (/events: each message is the whole view, id = events folded);
 * report.html (data-page="report") renders the view embedded in it and never touches the network. */
(function () {
  "use strict";
  const page = document.body.dataset.page;
  const viewEl = document.getElementById("view");
  let view = JSON.parse(viewEl ? viewEl.textContent : "{}");
  const charts = {};
  const COLORS = { old: "#c2410c", new: "#1d4ed8" };

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  const secs = (ms) => (ms / 1000).toFixed(1) + " s";
  const rel = (at) => (view.startedAt === undefined || view.startedAt === null ? "" : "+" + secs(at - view.startedAt));
  function set(id, text, cls) {
    const e = $(id);
    if (!e) return;
    e.textContent = text;
    if (cls !== undefined) e.className = cls;
  }

  function renderHeader() {
    const st = view.finished ? view.finished.status : view.status;
    set("status", st, "badge " + st);
    const liveStep = view.liveStep === undefined || view.liveStep === null ? undefined : view.steps[view.liveStep];
    // a plan run has no sim phases: its live step is where it is
    set(
      "phase",
      liveStep && liveStep.kind === "plan-step" && !view.finished
        ? `step ${liveStep.index}/${liveStep.of} (new ${liveStep.weight}%)`
        : view.phase,
    );
    set("applied", view.applied === undefined || view.applied === null ? "not applied yet" : view.applied);
    const end = view.finished ? view.finished.at : view.now;
    set("elapsed", view.startedAt ? secs(end - view.startedAt) : "-");
    set("run", view.runName || view.runDir);
    set("seq", String(view.seq));
    const exit = view.finished ? String(view.finished.exitCode) : "-";
    set("exit", exit);
  }

  function renderTimeline() {
    const ol = $("timeline");
    ol.replaceChildren();
    if (view.steps.length === 0) ol.append(el("li", {}, "no step has started yet"));
    view.steps.forEach((s, i) => {
      const live = view.liveStep === i;
      const failed = s.verdicts.fail + s.verdicts.inconclusive > 0 || s.state === "failed";
      const cls = [live ? "live" : "", s.endedAt ? "done" : "", failed ? "failed" : "", s.kind || ""].join(" ").trim();
      const dur = s.endedAt ? secs(s.endedAt - s.startedAt) : "live";
      const applies = s.applies
        .map((a) => `${a.ok ? "applied" : "FAILED apply"} ${a.label} (${Math.round(a.durationMs)} ms)`)
        .join(", ");
      const gates = s.gates.map((g) => ({
        verdict: g.verdict,
        text: `${g.name}: ${g.verdict}${g.details ? " \u2014 " + g.details : g.value !== undefined ? " " + g.value : ""}${g.threshold ? " vs " + g.threshold : ""}`,
      }));
      const title = s.kind === "plan-step" ? `step ${s.index}/${s.of}` : s.kind === "rollback" ? "rollback" : s.key;
      const weight = s.weight !== undefined && s.weight !== null ? ` (new ${s.weight}%)` : "";
      const phase = !s.kind || s.kind === "phase";
      ol.append(
        el(
          "li",
          { class: cls, "data-step": s.key, "data-live": live ? "true" : "false", "data-state": s.state || "" },
          el(
            "div",
            { class: "step-title" },
            title + weight,
            s.state ? el("span", { class: "badge " + s.state, "data-step-state": s.state }, s.state) : null,
            live ? " \u25cf live" : "",
          ),
          el("div", { class: "small muted" }, s.label),
          el("div", { class: "small" }, `${rel(s.startedAt)} \u00b7 ${dur}`),
          el("div", { class: "small" }, applies || (s.kind === "rollback" ? "" : "no apply yet")),
          phase ? el("div", { class: "small" }, `calls: old ${s.routed.old}, new ${s.routed.new}`) : null,
          phase
            ? el(
                "div",
                { class: "small" },
                `verdicts: ${s.verdicts.pass} pass, ${s.verdicts.fail} fail, ${s.verdicts.inconclusive} inconclusive`,
              )
            : null,
          ...gates.map((g) => el("div", { class: "small gate " + g.verdict, "data-gate": g.verdict }, g.text)),
          ...(s.notes || []).map((n) =>
            el("div", { class: "small note", "data-note": n.kind }, `${rel(n.at)} ${n.kind}: ${n.text}`),
          ),
        ),
      );
    });
    for (const n of view.otherEvents || [])
      ol.append(
        el(
          "li",
          { class: "note", "data-note": n.kind },
          el("div", { class: "small" }, `${rel(n.at)} ${n.kind}: ${n.text}`),
        ),
      );
  }

  function renderCounters() {
    for (const b of ["old", "new"]) {
      const v = view.backends[b];
      for (const k of ["routed", "completed", "failed", "up"]) set(`${b}-${k}`, String(v[k]));
      const rate = view.series.callsPerSecond[b];
      set(`${b}-rate`, rate.length ? rate[rate.length - 1].toFixed(1) : "0.0");
    }
    set("verdicts-pass", String(view.verdictCounts.pass));
    set("verdicts-fail", String(view.verdictCounts.fail));
    set("verdicts-inconclusive", String(view.verdictCounts.inconclusive));
  }

  function renderHep() {
    const h = view.hep;
    if (!h) {
      set("hep-window", "no HEP capture in this run (Kamailio's mirror was off or its port was taken)");
      return;
    }
    const w = h.last;
    for (const b of ["old", "new"]) {
      const r = w ? w.perSecond[b] : undefined;
      set(`hep-${b}-routed`, r ? r.routed.toFixed(1) : "-");
      for (const c of ["1xx", "2xx", "3xx-6xx"]) set(`hep-${b}-${c}`, r ? r.answers[c].toFixed(1) : "-");
      const t = h.totals[b];
      set(`hep-${b}-total-routed`, String(t.routed));
      set(`hep-${b}-total-2xx`, String(t.answers["2xx"]));
      set(`hep-${b}-total-3xx-6xx`, String(t.answers["3xx-6xx"]));
    }
    set(
      "hep-window",
      w
        ? `per second over the window of ${secs(w.windowMs)} that ended at ${rel(w.at)}; totals since the capture started. Answers are responses to INVITE the backend sent, retransmissions not counted.`
        : "no whole window yet",
    );
  }

  function stepMarkers(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#9aa3ad";
    ctx.fillStyle = "#5b6670";
    ctx.setLineDash([4, 4]);
    ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
    for (const s of view.steps) {
      if (!view.startedAt) break;
      const x = u.valToPos((s.startedAt - view.startedAt) / 1000, "x", true);
      if (!Number.isFinite(x) || x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.fillText(s.key, x + 3 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
    }
    ctx.restore();
  }

  function chart(id, title, data, yLabel) {
    const host = $(id);
    const width = Math.max(360, (host.clientWidth || 640) - 4);
    if (!charts[id]) {
      charts[id] = new uPlot(
        {
          title,
          width,
          height: 220,
          scales: { x: { time: false } },
          axes: [{ label: "seconds since the run started" }, { label: yLabel }],
          series: [
            { label: "s" },
            { label: "old", stroke: COLORS.old, width: 2 },
            { label: "new", stroke: COLORS.new, width: 2 },
          ],
          hooks: { draw: [stepMarkers] },
        },
        data,
        host,
      );
    } else {
      charts[id].setData(data);
    }
  }

  function renderCharts() {
    const s = view.series;
    chart(
      "chart-rate",
      `new calls per second (bins of ${s.binSeconds} s)`,
      [s.t, s.callsPerSecond.old, s.callsPerSecond.new],
      "calls/s",
    );
    chart("chart-up", "calls up per backend (routed, not finished)", [s.t, s.up.old, s.up.new], "calls");
  }

  function renderVerdicts() {
    const tb = $("verdict-rows");
    tb.replaceChildren();
    if (view.verdicts.length === 0) tb.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no verdict yet")));
    for (const v of view.verdicts) {
      const numbers = v.numbers
        ? Object.entries(v.numbers).map(([k, n]) => el("code", { "data-number": k }, `${k}=${n}`))
        : [el("span", { class: "muted" }, "in results.json at the end")];
      tb.append(
        el(
          "tr",
          { "data-verdict": v.verdict, "data-name": `${v.phase}/${v.name}` },
          el("td", {}, v.phase),
          el("td", {}, v.name),
          el("td", {}, el("span", { class: "badge " + v.verdict }, v.verdict)),
          el("td", { class: "details" }, v.details, ...v.offenders.map((o) => el("div", { class: "muted" }, o))),
          el("td", { class: "numbers" }, ...numbers),
        ),
      );
    }
  }

  function renderResults() {
    const r = view.results;
    const box = $("results");
    box.replaceChildren();
    if (!r) {
      box.append(el("span", { class: "muted" }, view.finished ? "results.json was not found" : "the run is not over"));
      return;
    }
    box.append(
      el(
        "div",
        {},
        "status ",
        el("span", { class: "badge " + r.status, id: "results-status" }, r.status),
        ` exit ${r.exitCode}, wall time ${secs(r.durationMs)}` +
          (r.floorMs !== undefined && r.floorMs !== null ? `, floor ${secs(r.floorMs)}` : ""),
      ),
      el(
        "div",
        {},
        `calls in results.json: ${r.calls} (INVITE reached old: `,
        el("b", { id: "results-old" }, String(r.callsByBackend.old)),
        ", new: ",
        el("b", { id: "results-new" }, String(r.callsByBackend.new)),
        ")",
      ),
      ...r.failures.map((f) => el("div", { class: "fail-line" }, f)),
    );
  }

  function renderEvidence() {
    const ul = $("evidence");
    ul.replaceChildren();
    for (const f of view.evidence)
      ul.append(el("li", {}, el("a", { href: f.name }, f.name), " ", el("span", { class: "muted" }, f.what)));
    if (view.evidence.length === 0) ul.append(el("li", { class: "muted" }, "no file yet"));
  }

  function render() {
    renderHeader();
    renderTimeline();
    renderCounters();
    renderHep();
    renderCharts();
    renderVerdicts();
    renderResults();
    renderEvidence();
    $("log").textContent = view.logTail.join("\n");
    set("unreadable", view.unreadable ? `${view.unreadable} line(s) of events.ndjson could not be read` : "");
    document.body.dataset.seq = String(view.seq);
    document.body.dataset.status = view.finished ? view.finished.status : view.status;
  }

  render();
  if (page === "live") {
    const conn = $("conn");
    const es = new EventSource("events");
    es.addEventListener("view", (m) => {
      view = JSON.parse(m.data);
      conn.textContent = "live";
      conn.className = "";
      render();
    });
    es.addEventListener("end", () => {
      es.close();
      conn.textContent = "the run is over; the server has stopped (report.html is in the run folder)";
      conn.className = "ended";
      document.body.dataset.ended = "true";
    });
    es.onerror = () => {
      if (document.body.dataset.ended === "true") return;
      conn.textContent = "connection lost; reconnecting";
      conn.className = "reconnecting";
    };
  }
})();
