"""The dashboard page: one self-contained HTML document (no CDN, charts drawn as inline SVG)."""

from __future__ import annotations

DASHBOARD_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arbkit metrics</title>
<style>
  :root { --bg:#0f172a; --panel:#1e293b; --text:#e2e8f0; --muted:#94a3b8; --grid:#334155;
          --accent:#38bdf8; --good:#4ade80; --bad:#f87171; --warn:#fbbf24; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; justify-content:space-between; align-items:baseline; padding:12px 20px; }
  h1 { font-size:20px; margin:0; }
  h2 { font-size:14px; margin:0 0 6px; color:var(--muted); font-weight:600; }
  #status { color:var(--muted); }
  #status.error { color:var(--bad); }
  main { padding:0 20px 20px; }
  .cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(140px, 1fr)); gap:8px; }
  .card { background:var(--panel); border-radius:6px; padding:8px 10px; }
  .card .label { color:var(--muted); font-size:12px; }
  .card .value { font-size:18px; font-weight:600; font-variant-numeric:tabular-nums; }
  .charts { display:grid; grid-template-columns:repeat(2, minmax(0, 1fr)); gap:10px;
            margin-top:10px; }
  .panel { background:var(--panel); border-radius:6px; padding:8px 10px; }
  svg { width:100%; height:auto; display:block; }
  svg text { fill:var(--muted); font-size:10px; }
  table { width:100%; border-collapse:collapse; font-size:12px; }
  th, td { text-align:left; padding:3px 6px; border-bottom:1px solid var(--grid); }
  td.active { color:var(--bad); font-weight:600; }
  td.cleared { color:var(--good); }
  .tables { display:grid; grid-template-columns:2fr 1fr; gap:10px; margin-top:10px; }
  .runner { display:grid; grid-template-columns:minmax(170px, 240px) 1fr; gap:14px;
            margin-bottom:10px; }
  .runner .stage { font-size:26px; font-weight:700; color:var(--accent); }
  .runner .stage[data-stage="simulation"] { color:var(--muted); }
  .runner .stage[data-stage="small_positions"] { color:var(--warn); }
  .runner .stage[data-stage="full_size"] { color:var(--bad); }
  .runner .label { color:var(--muted); font-size:12px; }
  .runner .unlock { color:var(--muted); font-size:12px; margin-top:4px; }
  .runner .fields { display:grid; grid-template-columns:repeat(auto-fill, minmax(150px, 1fr));
                    gap:6px 12px; align-content:start; }
  .runner .field span.rv { display:block; font-size:16px; font-weight:600;
                           font-variant-numeric:tabular-nums; }
  .badge { display:inline-block; padding:0 6px; border-radius:4px; font-size:12px;
           font-weight:700; color:var(--bg); background:var(--muted); }
  .badge.dry { background:var(--good); }
  .badge.live { background:var(--bad); }
  .badge.stale { background:var(--warn); }
  .badge[hidden] { display:none; }
  span.rv.bad, #runner-error { color:var(--bad); }
</style>
</head>
<body data-state="loading">
<header>
  <h1>arbkit metrics</h1>
  <span id="status">loading…</span>
</header>
<main>
  <section class="panel runner" id="runner-panel" data-runner-state="loading">
    <div>
      <h2>Runner</h2>
      <div class="label">trading stage</div>
      <div class="stage" id="runner-stage">—</div>
      <div><span class="badge" id="runner-mode">—</span>
        <span class="badge stale" id="runner-stale" hidden>STALE</span></div>
      <div class="unlock" id="runner-unlock"></div>
      <div class="unlock" id="runner-error"></div>
    </div>
    <div class="fields">
      <div class="field"><span class="label">State</span>
        <span class="rv" id="runner-state">—</span></div>
      <div class="field"><span class="label">Updated</span>
        <span class="rv" id="runner-age">—</span></div>
      <div class="field"><span class="label">Halted</span>
        <span class="rv" id="runner-halted">—</span></div>
      <div class="field"><span class="label">Last block</span>
        <span class="rv" id="runner-last-block">—</span></div>
      <div class="field"><span class="label">Blocks processed</span>
        <span class="rv" id="runner-blocks">—</span></div>
      <div class="field"><span class="label">Decisions / trades sent</span>
        <span class="rv" id="runner-decisions">—</span></div>
      <div class="field"><span class="label">Net profit (quote)</span>
        <span class="rv" id="runner-net-profit">—</span></div>
      <div class="field"><span class="label">Head-to-decision</span>
        <span class="rv" id="runner-latency">—</span></div>
      <div class="field"><span class="label">Policy / model</span>
        <span class="rv" id="runner-policy">—</span></div>
      <div class="field"><span class="label">Stage of the run</span>
        <span class="rv" id="runner-run-stage">—</span></div>
      <div class="field"><span class="label">Stage track record</span>
        <span class="rv" id="runner-track">—</span></div>
    </div>
  </section>
  <section class="cards" id="cards">
    <div class="card"><div class="label">Decisions</div>
      <div class="value" data-key="decisions.total_decisions" data-fmt="int">—</div></div>
    <div class="card"><div class="label">Execution rate</div>
      <div class="value" data-key="decisions.execution_rate" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Avg confidence</div>
      <div class="value" data-key="decisions.avg_confidence" data-fmt="num3">—</div></div>
    <div class="card"><div class="label">Win rate</div>
      <div class="value" data-key="decisions.win_rate" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Sharpe (per trade)</div>
      <div class="value" data-key="decisions.sharpe_ratio" data-fmt="num2">—</div></div>
    <div class="card"><div class="label">Executions</div>
      <div class="value" data-key="execution.total_executions" data-fmt="int">—</div></div>
    <div class="card"><div class="label">Success rate</div>
      <div class="value" data-key="execution.success_rate" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Gross profit</div>
      <div class="value" data-key="execution.total_profit_usd" data-fmt="usd">—</div></div>
    <div class="card"><div class="label">Gas paid</div>
      <div class="value" data-key="execution.total_gas_usd" data-fmt="usd">—</div></div>
    <div class="card"><div class="label">Net profit</div>
      <div class="value" data-key="execution.net_profit_usd" data-fmt="usd">—</div></div>
    <div class="card"><div class="label">Gas share of profit</div>
      <div class="value" data-key="execution.gas_share_of_profit" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Avg execution time</div>
      <div class="value" data-key="execution.avg_execution_time_ms" data-fmt="ms">—</div></div>
    <div class="card"><div class="label">Equity</div>
      <div class="value" data-key="risk.equity_usd" data-fmt="usd">—</div></div>
    <div class="card"><div class="label">Drawdown</div>
      <div class="value" data-key="risk.current_drawdown" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Max drawdown</div>
      <div class="value" data-key="risk.max_drawdown" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Opportunities</div>
      <div class="value" data-key="opportunities.total_detected" data-fmt="int">—</div></div>
    <div class="card"><div class="label">Conversion rate</div>
      <div class="value" data-key="opportunities.conversion_rate" data-fmt="pct">—</div></div>
    <div class="card"><div class="label">Avg quality</div>
      <div class="value" data-key="opportunities.avg_quality_score" data-fmt="num3">—</div></div>
    <div class="card"><div class="label">Active alerts</div>
      <div class="value" id="active-alerts" data-fmt="int">—</div></div>
  </section>
  <section class="charts">
    <div class="panel"><h2>Cumulative net profit (USD) by execution</h2>
      <svg id="chart-profit" viewBox="0 0 600 220" role="img" aria-label="net profit"></svg></div>
    <div class="panel"><h2>Win rate per bucket of executions</h2>
      <svg id="chart-winrate" viewBox="0 0 600 220" role="img" aria-label="win rate"></svg></div>
    <div class="panel"><h2>Gas share of gross profit per bucket</h2>
      <svg id="chart-gas" viewBox="0 0 600 220" role="img" aria-label="gas share"></svg></div>
    <div class="panel"><h2>Alerts by execution</h2>
      <svg id="chart-alerts" viewBox="0 0 600 220" role="img" aria-label="alerts"></svg></div>
  </section>
  <section class="tables">
    <div class="panel"><h2>Alerts</h2>
      <table><thead><tr><th>kind</th><th>state</th><th>value</th><th>threshold</th>
        <th>raised at (UTC)</th><th>message</th></tr></thead>
        <tbody id="alerts-body"><tr><td colspan="6">none</td></tr></tbody></table></div>
    <div class="panel"><h2>Models</h2>
      <table><thead><tr><th>model</th><th>status</th><th>accuracy</th><th>confidence</th></tr>
        </thead><tbody id="models-body"><tr><td colspan="4">none</td></tr></tbody></table></div>
  </section>
</main>
<script>
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const KIND_COLORS = { win_rate: "#f87171", gas_share: "#fbbf24", success_rate: "#c084fc",
                      drawdown: "#fb923c", model_drift: "#38bdf8" };
const KINDS = ["win_rate", "gas_share", "success_rate", "drawdown", "model_drift"];
const KIND_LABELS = { win_rate: "win rate", gas_share: "gas share", success_rate: "success",
                      drawdown: "drawdown", model_drift: "model drift" };
const FMT = {
  int: (v) => String(v),
  pct: (v) => (v * 100).toFixed(1) + "%",
  usd: (v) => (v < 0 ? "-$" : "$") + thousands(Math.abs(v).toFixed(2)),
  num2: (v) => v.toFixed(2),
  num3: (v) => v.toFixed(3),
  ms: (v) => v.toFixed(1) + " ms",
};
function axisUsd(v) {
  const a = Math.abs(v), sign = v < 0 ? "-$" : "$";
  if (a >= 1e6) return sign + (a / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return sign + (a / 1e3).toFixed(1) + "k";
  return sign + a.toFixed(0);
}

function thousands(fixed) {
  const [whole, frac] = fixed.split(".");
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (frac === undefined ? "" : "." + frac);
}
function lookup(obj, path) {
  return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}
function show(value, fmt) {
  return value === null || value === undefined ? "—" : FMT[fmt](value);
}
function el(name, attrs, parent) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}
function text(parent, x, y, content, anchor) {
  const t = el("text", { x: x, y: y, "text-anchor": anchor || "start" }, parent);
  t.textContent = content;
  return t;
}
function utc(ts) {
  return ts === null ? "" : new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19);
}

const BOX = { left: 56, right: 590, top: 10, bottom: 195 };

function frame(svg, xMin, xMax, yMin, yMax, yFmt) {
  svg.replaceChildren();
  const fx = (x) => (xMax === xMin ? 0.5 : (x - xMin) / (xMax - xMin));
  const fy = (y) => (yMax === yMin ? 0.5 : (y - yMin) / (yMax - yMin));
  const sx = (x) => BOX.left + fx(x) * (BOX.right - BOX.left);
  const sy = (y) => BOX.bottom - fy(y) * (BOX.bottom - BOX.top);
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    el("line", { x1: BOX.left, x2: BOX.right, y1: sy(y), y2: sy(y), stroke: "#334155" }, svg);
    text(svg, BOX.left - 4, sy(y) + 3, yFmt(y), "end");
  }
  for (let i = 0; i <= 4; i++) {
    const x = xMin + ((xMax - xMin) * i) / 4;
    text(svg, sx(x), BOX.bottom + 14, String(Math.round(x)), "middle");
  }
  return { sx, sy };
}

function empty(svg, message) {
  svg.replaceChildren();
  text(svg, 300, 110, message, "middle");
}

function lineChart(svg, points, opts) {
  const pts = points.filter((p) => p.y !== null && p.y !== undefined);
  if (pts.length === 0) { empty(svg, "no executions yet"); return; }
  const xs = pts.map((p) => p.x);
  let ys = pts.map((p) => p.y);
  if (opts.threshold !== undefined && opts.threshold !== null) ys = ys.concat([opts.threshold]);
  if (opts.includeZero) ys = ys.concat([0]);
  let yMin = Math.min(...ys), yMax = Math.max(...ys);
  if (opts.yMin !== undefined) yMin = Math.min(yMin, opts.yMin);
  if (opts.yMax !== undefined) yMax = Math.max(yMax, opts.yMax);
  if (yMin === yMax) { yMin -= 1; yMax += 1; }
  const xMin = Math.min(0, ...xs), xMax = Math.max(...xs);
  const { sx, sy } = frame(svg, xMin, xMax, yMin, yMax, opts.yFmt);
  for (const m of opts.markers || []) {
    el("line", { x1: sx(m.x), x2: sx(m.x), y1: BOX.top, y2: BOX.bottom, stroke: m.color,
                 "stroke-width": 1.5, "stroke-dasharray": "2 2", class: "alert-marker" }, svg);
  }
  if (opts.threshold !== undefined && opts.threshold !== null) {
    el("line", { x1: BOX.left, x2: BOX.right, y1: sy(opts.threshold), y2: sy(opts.threshold),
                 stroke: "#f87171", "stroke-dasharray": "6 4", class: "threshold" }, svg);
    text(svg, BOX.right, sy(opts.threshold) - 4, "threshold " + opts.yFmt(opts.threshold), "end");
  }
  // An undefined value (gas share with no gross profit) breaks the line.
  const d = [];
  let pen = "M";
  for (const p of points) {
    if (p.y === null || p.y === undefined) { pen = "M"; continue; }
    d.push(pen + sx(p.x).toFixed(1) + " " + sy(p.y).toFixed(1));
    pen = "L";
  }
  el("path", { d: d.join(" "), fill: "none", stroke: opts.color || "#38bdf8", "stroke-width": 2,
               class: "series" }, svg);
  if (pts.length === 1) {
    el("circle", { cx: sx(pts[0].x), cy: sy(pts[0].y), r: 3, fill: opts.color || "#38bdf8" }, svg);
  }
}

function alertChart(svg, alerts, lastExecution) {
  svg.replaceChildren();
  const xMax = Math.max(lastExecution, 1);
  const sx = (x) => BOX.left + (x / xMax) * (BOX.right - BOX.left);
  const rowH = (BOX.bottom - BOX.top) / KINDS.length;
  KINDS.forEach((kind, i) => {
    const y = BOX.top + i * rowH;
    const mid = y + rowH / 2;
    el("line", { x1: BOX.left, x2: BOX.right, y1: mid, y2: mid, stroke: "#334155" }, svg);
    text(svg, BOX.left - 4, y + rowH / 2 + 3, KIND_LABELS[kind], "end");
  });
  for (const a of alerts) {
    const i = KINDS.indexOf(a.kind);
    if (i < 0) continue;
    const x0 = sx(a.raised_execution);
    const x1 = sx(a.cleared_execution === null ? xMax : a.cleared_execution);
    el("rect", { x: x0, y: BOX.top + i * rowH + rowH * 0.2, width: Math.max(x1 - x0, 3),
                 height: rowH * 0.6, fill: KIND_COLORS[a.kind], opacity: a.active ? 1 : 0.55,
                 class: "alert-span" }, svg);
  }
  for (let i = 0; i <= 4; i++) text(svg, sx((xMax * i) / 4), BOX.bottom + 14,
                                    String(Math.round((xMax * i) / 4)), "middle");
}

function renderCards(summary, alerts) {
  for (const node of document.querySelectorAll("[data-key]")) {
    const value = lookup(summary, node.dataset.key);
    node.textContent = show(value, node.dataset.fmt);
    node.setAttribute("data-value", value === null || value === undefined ? "null" : String(value));
  }
  const active = document.getElementById("active-alerts");
  active.textContent = String(alerts.active.length);
  active.setAttribute("data-value", String(alerts.active.length));
}

function cell(row, content, cls) {
  const td = document.createElement("td");
  td.textContent = content;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function renderTables(summary, alerts) {
  const body = document.getElementById("alerts-body");
  body.replaceChildren();
  for (const a of alerts.alerts) {
    const row = document.createElement("tr");
    row.setAttribute("data-alert-kind", a.kind);
    cell(row, a.kind);
    cell(row, a.active ? "active" : "cleared", a.active ? "active" : "cleared");
    const fmt = KINDS.includes(a.kind) ? "pct" : "num3";
    cell(row, show(a.value, fmt));
    cell(row, show(a.threshold, fmt));
    cell(row, utc(a.raised_at));
    cell(row, a.message);
    body.appendChild(row);
  }
  if (!alerts.alerts.length) {
    const r = document.createElement("tr"); cell(r, "none"); body.appendChild(r);
  }
  const models = document.getElementById("models-body");
  models.replaceChildren();
  for (const [name, m] of Object.entries(summary.models.models)) {
    const row = document.createElement("tr");
    cell(row, name); cell(row, m.training_status); cell(row, show(m.accuracy, "pct"));
    cell(row, show(m.confidence, "pct"));
    models.appendChild(row);
  }
  if (!Object.keys(summary.models.models).length) {
    const r = document.createElement("tr"); cell(r, "none"); models.appendChild(r);
  }
}

function renderCharts(series, alerts) {
  const th = alerts.thresholds;
  const markers = alerts.alerts.map(
    (a) => ({ x: a.raised_execution, color: KIND_COLORS[a.kind] || "#fff" }));
  lineChart(document.getElementById("chart-profit"),
            series.map((p) => ({ x: p.last_execution, y: p.net_profit_usd })),
            { yFmt: axisUsd, includeZero: true, markers: markers, color: "#4ade80" });
  lineChart(document.getElementById("chart-winrate"),
            series.map((p) => ({ x: p.last_execution, y: p.win_rate })),
            { yFmt: FMT.pct, threshold: th.min_win_rate, yMin: 0, yMax: 1 });
  lineChart(document.getElementById("chart-gas"),
            series.map((p) => ({ x: p.last_execution, y: p.gas_share })),
            { yFmt: FMT.pct, threshold: th.max_gas_share, yMin: 0, color: "#fbbf24" });
  const last = series.length ? series[series.length - 1].last_execution : 0;
  alertChart(document.getElementById("chart-alerts"), alerts.alerts, last);
}

async function fetchJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + " answered HTTP " + response.status);
  return response.json();
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(seconds, 0);
  if (s < 90) return s.toFixed(0) + " s ago";
  if (s < 90 * 60) return (s / 60).toFixed(0) + " min ago";
  if (s < 48 * 3600) return (s / 3600).toFixed(1) + " h ago";
  return (s / 86400).toFixed(1) + " d ago";
}

function setRunner(id, content, bad) {
  const node = document.getElementById(id);
  node.textContent = content;
  if (bad !== undefined) node.classList.toggle("bad", bad);
  return node;
}

function renderRunner(r) {
  const panel = document.getElementById("runner-panel");
  const st = r.status;
  const stage = r.stage === null ? "unknown" : r.stage;
  setRunner("runner-stage", stage.replace(/_/g, " ").toUpperCase())
    .setAttribute("data-stage", stage);
  panel.setAttribute("data-stage", stage);
  const mode = st === null ? null : st.mode;
  const modeNode = setRunner("runner-mode",
    mode === "live" ? "LIVE" : mode === "dry_run" ? "DRY-RUN" : "no runner status");
  modeNode.className = "badge" + (mode === "live" ? " live" : mode === "dry_run" ? " dry" : "");
  panel.setAttribute("data-mode", mode === null || mode === undefined ? "none" : mode);
  document.getElementById("runner-stale").hidden = !r.stale;
  panel.setAttribute("data-stale", String(r.stale));
  const unlock = r.unlock === null ? "" : r.unlock;
  const entered = r.stage_entered_utc === null ? "" :
    " (since " + r.stage_entered_utc.replace("T", " ").slice(0, 19) + " UTC)";
  setRunner("runner-unlock", unlock + entered);
  setRunner("runner-error", r.error === null ? "" : "error: " + r.error);
  const t = r.track_record;
  setRunner("runner-track", t === null ? "—" : t.count + " outcomes" +
    (t.success_rate === null ? "" : ", " + show(t.success_rate, "pct") + " ok") +
    ", net " + t.net_profit_quote.toFixed(4));
  if (st === null) {
    for (const id of ["runner-age", "runner-halted", "runner-last-block", "runner-blocks",
                      "runner-decisions", "runner-net-profit", "runner-latency",
                      "runner-policy", "runner-run-stage"]) setRunner(id, "—", false);
    setRunner("runner-state", "no status in " + r.runner_dir);
    return;
  }
  const stopped = st.state === "stopped" && st.stopped ? " (" + st.stopped + ")" : "";
  setRunner("runner-state", String(st.state) + stopped);
  setRunner("runner-age", age(r.status_age_s), r.stale);
  setRunner("runner-halted", st.halted ? "HALTED: " + (st.halt_reason || "") : "no",
            Boolean(st.halted));
  setRunner("runner-last-block", st.last_block === null || st.last_block === undefined ?
    "—" : String(st.last_block));
  setRunner("runner-blocks", show(st.blocks_processed, "int"));
  setRunner("runner-decisions", show(st.ai_decisions_made, "int") + " / " +
    show(st.ai_trades_sent, "int"));
  const net = st.net_profit_quote;
  setRunner("runner-net-profit", typeof net === "number" ? (net >= 0 ? "+" : "") +
    net.toFixed(4) : "—", typeof net === "number" && net < 0);
  setRunner("runner-latency", typeof st.head_to_decision_ms === "number" ?
    FMT.ms(st.head_to_decision_ms) : "—");
  setRunner("runner-policy", String(st.policy || "—") + " / " + String(st.ai_model || "—"));
  // an embedded-chain replay runs at simulation, a node at dry-run when the file says simulation
  setRunner("runner-run-stage", st.stage ? String(st.stage) : "—");
}

async function refreshRunner() {
  // the Runner panel has its own state: a runner problem never blanks the metrics
  const panel = document.getElementById("runner-panel");
  try {
    renderRunner(await fetchJson("api/ai/runner"));
    panel.setAttribute("data-runner-state", "ready");
  } catch (err) {
    setRunner("runner-error", "error: " + err.message);
    panel.setAttribute("data-runner-state", "error");
  }
}

async function refresh() {
  const runner = refreshRunner();
  const status = document.getElementById("status");
  try {
    const [summary, alerts, series] = await Promise.all([
      fetchJson("api/ai/metrics"), fetchJson("api/ai/alerts"), fetchJson("api/ai/timeseries"),
    ]);
    renderCards(summary, alerts);
    renderTables(summary, alerts);
    renderCharts(series.points, alerts);
    status.textContent = "updated " + utc(summary.generated_at) + " UTC";
    status.className = "";
    document.body.setAttribute("data-state", "ready");
  } catch (err) {
    status.textContent = "error: " + err.message;
    status.className = "error";
    if (document.body.getAttribute("data-state") !== "ready") {
      document.body.setAttribute("data-state", "error");
    }
  }
  await runner;
}

refresh();
setInterval(refresh, 5000);
</script>
</body>
</html>
"""
