// The monthly response report (GET /api/v1/reports/monthly) as Chart.js bar charts
// (by month, by kind, per operator, per home: the share acknowledged within 60 s and
// 180 s and on site within the window) and tables; CSV and PDF downloads.
"use strict";

const REPORT = { charts: {}, body: null };
window.REPORT = REPORT;
const SERIES = [
  ["ack60", "acknowledged_within_60s_pct", "#4aa3df"],
  ["ack180", "acknowledged_within_180s_pct", "#e8c547"],
  ["onSite", "on_site_within_window_pct", "#3fb86b"],
];
const MAX_HOME_BARS = 40;

function monthValue(d) { return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`; }

function span() {
  return new URLSearchParams({ from: document.getElementById("report-from").value, to: document.getElementById("report-to").value });
}

function barChart(id, labels, figures) {
  if (REPORT.charts[id]) REPORT.charts[id].destroy();
  const datasets = SERIES.map(([label, field, color]) => ({
    label: pt(label), data: figures.map((f) => f[field]), backgroundColor: color,
  }));
  REPORT.charts[id] = new Chart(document.getElementById(id), {
    type: "bar",
    data: { labels, datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { y: { min: 0, max: 100, ticks: { color: "#93a4b6", callback: (v) => `${v}%` } }, x: { ticks: { color: "#93a4b6" } } },
      plugins: { legend: { labels: { color: "#e8eef4" } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.raw === null ? "–" : `${c.raw}%`}` } } },
    },
  });
}

function table(title, rows) {
  const pct = (v) => (v === null ? "–" : `${v}%`);
  const head = pageEl("tr", {}, ...[pt("key"), pt("alerts"), pt("ack60"), pt("ack180"), pt("onSite")].map((h) => pageEl("th", {}, h)));
  const body = rows.map(([key, f]) => pageEl("tr", { dataset: { key } },
    pageEl("td", {}, key), pageEl("td", {}, String(f.alerts)),
    pageEl("td", {}, `${f.acknowledged_within_60s} (${pct(f.acknowledged_within_60s_pct)})`),
    pageEl("td", {}, `${f.acknowledged_within_180s} (${pct(f.acknowledged_within_180s_pct)})`),
    pageEl("td", {}, `${f.on_site_within_window}/${f.window_decided} (${pct(f.on_site_within_window_pct)})`)));
  return [pageEl("h2", {}, title), pageEl("table", { class: "report-table" }, pageEl("thead", {}, head), pageEl("tbody", {}, ...body))];
}

async function loadReport() {
  const err = document.getElementById("report-error");
  err.textContent = "";
  try {
    const body = await (await pageFetch(`/api/v1/reports/monthly?${span()}`)).json();
    REPORT.body = body;
    const total = body.total;
    barChart("chart-month", body.months.map((m) => m.month), body.months.map((m) => m.overall));
    barChart("chart-kind", Object.keys(total.by_kind), Object.values(total.by_kind));
    barChart("chart-operator", Object.keys(total.by_operator), Object.values(total.by_operator));
    const homes = Object.entries(total.by_home).sort((a, b) => b[1].alerts - a[1].alerts || a[0].localeCompare(b[0])).slice(0, MAX_HOME_BARS);
    barChart("chart-home", homes.map(([k]) => k), homes.map(([, f]) => f));
    document.getElementById("report-tables").replaceChildren(
      ...table(pt("byMonth"), body.months.map((m) => [m.month, m.overall])),
      ...table(pt("byKind"), Object.entries(total.by_kind)),
      ...table(pt("byOperator"), Object.entries(total.by_operator)),
      ...table(pt("byHome"), Object.entries(total.by_home)));
  } catch (e) {
    err.textContent = pt("failed", { e: e.message });
  }
}

async function download(ext) {
  try {
    const resp = await pageFetch(`/api/v1/reports/monthly.${ext}?${span()}`);
    const url = URL.createObjectURL(await resp.blob());
    const a = pageEl("a", { href: url, download: `response-report-${span().get("from")}-${span().get("to")}.${ext}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    document.getElementById("report-error").textContent = pt("failed", { e: e.message });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const start = new Date(now.getFullYear(), now.getMonth() - 5, 1);
  document.getElementById("report-from").value = params.get("from") || monthValue(start);
  document.getElementById("report-to").value = params.get("to") || monthValue(now);
  document.getElementById("report-form").addEventListener("submit", (e) => { e.preventDefault(); loadReport(); });
  document.getElementById("report-csv").addEventListener("click", () => download("csv"));
  document.getElementById("report-pdf").addEventListener("click", () => download("pdf"));
  loadReport();
});
