// routerd's dashboard: fetches the JSON API every 2 s and draws the page (plain DOM, inline SVG).
// With a token, open the page as /#token=T: the fragment never reaches a server; the token is sent
// as "Authorization: Bearer T" on each API call and is never written into the page.
"use strict";
(function () {
  const REFRESH_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const token = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const params = new URLSearchParams(location.search);
  const window_s = params.get("window") || "3600";
  const buckets = params.get("buckets") || "60";

  async function api(path) {
    const resp = await fetch(path, { headers, cache: "no-store" });
    const body = await resp.json();
    if (!resp.ok) throw new Error(path + ": " + resp.status + " " + (body.error || ""));
    return body;
  }

  function fmt(v, kind) {
    if (v === null || v === undefined) return "–";
    if (kind === "usd") return "$" + v.toFixed(v !== 0 && Math.abs(v) < 1 ? 4 : 2);
    if (kind === "pct") return (100 * v).toFixed(1) + "%";
    if (kind === "ms") return v.toFixed(1);
    if (kind === "q") return v.toFixed(3);
    if (typeof v === "number" && !Number.isInteger(v)) return v.toPrecision(4);
    return String(v);
  }

  // An element showing one number: its text formatted, its exact value in data-value.
  function put(el, v, kind) {
    if (!el) return;
    el.textContent = fmt(v, kind);
    el.dataset.value = v === null || v === undefined ? "" : String(v);
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function cell(row, field, v, kind) {
    const td = el("td", { "data-field": field, class: "n" });
    put(td, v, kind);
    row.appendChild(td);
  }

  function pill(row, field, value) {
    const td = el("td", { "data-field": field, "data-value": value });
    td.appendChild(el("span", { class: "pill " + value }, value));
    row.appendChild(td);
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }

  function nice(max) {
    if (max <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(max)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
    return 10 * p;
  }

  // Stacked bars: stacks[i] = [value per series], colours[j] per series; or a line with kind "line".
  function chart(container, stacks, colours, starts, kind, id) {
    const W = 560, H = 180, L = 44, R = 8, T = 8, B = 22;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: id });
    const totals = stacks.map((v) => v.reduce((a, b) => a + b, 0));
    const top = nice(Math.max(0, ...totals));
    const n = Math.max(stacks.length, 1), w = (W - L - R) / n;
    const y = (v) => T + (H - T - B) * (1 - v / top);
    for (let g = 0; g <= 4; g++) {
      const v = (top * g) / 4;
      s.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9ef" }));
      const t = svg("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
      t.textContent = kind === "line" ? v.toPrecision(2) : String(Math.round(v * 100) / 100);
      s.appendChild(t);
    }
    if (kind === "line") {
      const pts = totals.map((v, i) => `${(L + w * (i + 0.5)).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      s.appendChild(svg("polyline", { points: pts, fill: "none", stroke: colours[0], "stroke-width": 2 }));
    } else {
      stacks.forEach((vals, i) => {
        let base = 0;
        vals.forEach((v, j) => {
          if (v <= 0) return;
          s.appendChild(svg("rect", { x: L + w * i + 0.5, width: Math.max(w - 1, 0.5), y: y(base + v),
            height: y(base) - y(base + v), fill: colours[j], "data-bucket": i }));
          base += v;
        });
      });
    }
    for (const i of [0, Math.floor((n - 1) / 2), n - 1]) {
      if (!starts.length) break;
      const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
      const t = svg("text", { x: i === 0 ? L : i === n - 1 ? W - R : L + w * (i + 0.5), y: H - 6, "text-anchor": anchor });
      t.textContent = new Date(starts[i] * 1000).toISOString().slice(11, 16);
      s.appendChild(t);
    }
    container.replaceChildren(s);
  }

  function renderSummary(s) {
    for (const [k, kind] of [["decisions"], ["outcomes"], ["total_spend", "usd"], ["success_rate", "pct"],
                             ["mean_quality", "q"], ["agents"], ["active_agents"], ["open_circuits"], ["model_version"]]) {
      put(document.getElementById("sum-" + k), s[k], kind);
    }
  }

  function renderAgents(doc) {
    const body = document.querySelector("#agents tbody");
    const rows = doc.agents.map((a) => {
      const tr = el("tr", { "data-agent": a.name });
      tr.appendChild(el("td", { "data-field": "name" }, a.name));
      pill(tr, "health", a.health);
      pill(tr, "circuit_state", a.circuit_state);
      cell(tr, "requests", a.requests);
      cell(tr, "success_rate", a.success_rate, "pct");
      cell(tr, "latency_p50_ms", a.latency_p50_ms, "ms");
      cell(tr, "latency_p95_ms", a.latency_p95_ms, "ms");
      cell(tr, "spend", a.spend, "usd");
      cell(tr, "mean_quality", a.mean_quality, "q");
      return tr;
    });
    body.replaceChildren(...rows);
  }

  function renderTimeseries(ts) {
    const b = ts.buckets;
    chart(document.getElementById("chart-decisions"), b.map((x) => [x.decisions - x.infeasible, x.infeasible]),
          ["#3a7bd5", "#e0603a"], b.map((x) => x.start), "bars", "svg-decisions");
    chart(document.getElementById("chart-spend"), b.map((x) => [x.spend]), ["#2f9e6e"], b.map((x) => x.start),
          "line", "svg-spend");
    put(document.getElementById("ts-decisions"), ts.totals.decisions);
    put(document.getElementById("ts-infeasible"), ts.totals.infeasible);
    put(document.getElementById("ts-outcomes"), ts.totals.outcomes);
    put(document.getElementById("ts-spend"), ts.totals.spend, "usd");
    document.getElementById("ts-range").textContent =
      `last ${ts.window_s} s, ${b.length} buckets of ${ts.bucket_s} s`;
  }

  function renderInfeasible(doc) {
    put(document.getElementById("inf-decisions"), doc.decisions);
    const body = document.querySelector("#infeasible tbody");
    const shown = doc.reasons.filter((r) => r.decisions > 0);
    const top = Math.max(1, ...shown.map((r) => r.decisions));
    body.replaceChildren(...shown.map((r) => {
      const tr = el("tr", { "data-rule": r.rule });
      tr.appendChild(el("td", {}, r.rule));
      cell(tr, "decisions", r.decisions);
      const bar = el("td", { class: "bar" });
      const s = svg("svg", { viewBox: "0 0 200 12", preserveAspectRatio: "none" });
      s.appendChild(svg("rect", { x: 0, y: 1, height: 10, width: (200 * r.decisions) / top, fill: "#e0603a" }));
      bar.appendChild(s);
      tr.appendChild(bar);
      return tr;
    }));
  }

  // The held-out cost–quality curve: operating points (x: mean cost a request, y: mean quality).
  function curveChart(container, curve) {
    if (!curve) {
      container.replaceChildren();
      return;
    }
    const W = 560, H = 200, L = 52, R = 10, T = 8, B = 24;
    const all = [...curve.points, ...curve.agents];
    const xmax = Math.max(...all.map((p) => p.cost)) * 1.05 || 1;
    const ymin = Math.min(...all.map((p) => p.quality)), ymax = Math.max(...all.map((p) => p.quality));
    const lo = Math.max(0, ymin - 0.05), hi = Math.min(1, ymax + 0.05) > lo ? Math.min(1, ymax + 0.05) : lo + 0.1;
    const x = (c) => L + (W - L - R) * (c / xmax);
    const y = (q) => T + (H - T - B) * (1 - (q - lo) / (hi - lo));
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", id: "svg-curve",
      "data-points": curve.points.length, "data-hull": curve.hull.length });
    for (let g = 0; g <= 4; g++) {
      const q = lo + ((hi - lo) * g) / 4, c = (xmax * g) / 4;
      s.appendChild(svg("line", { x1: L, x2: W - R, y1: y(q), y2: y(q), stroke: "#e6e9ef" }));
      const ty = svg("text", { x: L - 4, y: y(q) + 3, "text-anchor": "end" });
      ty.textContent = q.toFixed(2);
      s.appendChild(ty);
      const tx = svg("text", { x: x(c), y: H - 8, "text-anchor": g === 0 ? "start" : g === 4 ? "end" : "middle" });
      tx.textContent = "$" + c.toPrecision(2);
      s.appendChild(tx);
    }
    const line = (pts, colour, width) => s.appendChild(svg("polyline", { fill: "none", stroke: colour,
      "stroke-width": width, points: pts.map((p) => `${x(p.cost).toFixed(1)},${y(p.quality).toFixed(1)}`).join(" ") }));
    line(curve.hull, "#7a52c7", 1.5);
    line(curve.points, "#3a7bd5", 2);
    for (const a of curve.agents) {
      s.appendChild(svg("circle", { cx: x(a.cost), cy: y(a.quality), r: 4, fill: "#e0603a" }));
      const right = x(a.cost) > W * 0.75;
      const t = svg("text", { x: x(a.cost) + (right ? -6 : 6), y: y(a.quality) - 6, "text-anchor": right ? "end" : "start" });
      t.textContent = a.name;
      s.appendChild(t);
    }
    container.replaceChildren(s);
  }

  function renderModel(doc) {
    document.getElementById("model-serving").textContent = doc.serving;
    document.getElementById("model-serving").dataset.value = doc.serving;
    const live = doc.live;
    put(document.getElementById("model-version"), live ? live.version : null);
    document.getElementById("model-status").textContent = live ? live.status + " · " + live.source : "no model live";
    document.getElementById("model-reason").textContent = live ? live.reason : "";
    const curve = live ? live.curve : null;
    curveChart(document.getElementById("chart-curve"), curve);
    document.getElementById("curve-note").textContent = curve ? `on ${curve.holdout_requests} held-out requests`
      : live ? "(none: trained from the outcome log)" : "";
    const body = document.querySelector("#model-metrics tbody");
    const entries = live ? Object.entries(live.metrics) : [];
    body.replaceChildren(...entries.map(([k, v]) => {
      const tr = el("tr", { "data-metric": k });
      tr.appendChild(el("td", {}, k));
      cell(tr, "value", v);
      return tr;
    }));
  }

  async function refresh() {
    const status = document.getElementById("status");
    try {
      const [s, a, ts, inf, m] = await Promise.all([
        api("/api/summary"), api("/api/agents"),
        api("/api/timeseries?window=" + encodeURIComponent(window_s) + "&buckets=" + encodeURIComponent(buckets)),
        api("/api/infeasible"), api("/api/model")]);
      renderSummary(s);
      renderAgents(a);
      renderTimeseries(ts);
      renderInfeasible(inf);
      renderModel(m);
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
      status.classList.remove("error");
      status.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
    } catch (err) {
      status.classList.add("error");
      status.textContent = String(err.message || err);
      document.body.dataset.error = String(err.message || err);
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
