// The vitals chart: heart rate and respiration drawn with uPlot (vendored in
// /static/vendor/, MIT): the average as a line, min..max as a band, the normal
// range shaded, gaps left as gaps. The time axis fits the data: two minutes of
// data fill the chart instead of sitting at the edge of a six-hour axis.
"use strict";

const NICE_BUCKETS_S = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const MAX_POINTS = 240;
const MIN_SPAN_MS = 60000;

// The range and bucket to show, from a first (coarse) load of the whole window.
window.fitVitalsRange = function fitVitalsRange(bucketLists, fromMs, toMs, bucketS) {
  const all = bucketLists.flat();
  if (!all.length) return { from: fromMs, to: toMs, bucketS };
  const first = Math.min(...all.map((b) => Date.parse(b.start)));
  const span = toMs - first;
  if (span > 0.75 * (toMs - fromMs)) return { from: fromMs, to: toMs, bucketS };
  const counts = all.map((b) => b.count).sort((a, b) => a - b);
  const interval = bucketS / Math.max(1, counts[counts.length >> 1]); // seconds between readings
  const from = Math.max(fromMs, toMs - Math.max(MIN_SPAN_MS, span * 1.05));
  const want = Math.max(interval, (toMs - from) / 1000 / MAX_POINTS);
  const fine = NICE_BUCKETS_S.find((n) => n >= want) || bucketS;
  return { from, to: toMs, bucketS: Math.min(fine, bucketS) };
};

// After the finer load: start one bucket before its first reading.
window.tightenVitalsRange = function tightenVitalsRange(fit, bucketLists) {
  const starts = bucketLists.flat().map((b) => Date.parse(b.start));
  if (!starts.length) return fit;
  const from = Math.min(Math.min(...starts), fit.to - MIN_SPAN_MS) - fit.bucketS * 1000;
  return { ...fit, from: Math.max(fit.from, from) };
};

function chartHeight() { return Math.max(180, Math.min(300, Math.round(window.innerHeight * 0.24))); }

function chartFontPx() {
  return Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.9);
}

// uPlot's columns: x (s), avg, min, max; a null row where a gap is wider than 3 buckets.
function columns(buckets, bucketS) {
  const xs = [], avg = [], min = [], max = [];
  let last = null;
  for (const b of buckets) {
    const x = Date.parse(b.start) / 1000;
    if (last !== null && x - last > 3 * bucketS) { xs.push(last + bucketS); avg.push(null); min.push(null); max.push(null); }
    xs.push(x); avg.push(b.avg); min.push(b.min); max.push(b.max);
    last = x;
  }
  return [xs, avg, min, max];
}

// Tick labels in full: 08:21:30 for spans under 15 minutes, else 08:21.
function timeLabels(spanMs) {
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (spanMs < 15 * 60000) opts.second = "2-digit";
  return (u, splits) => splits.map((x) => new Date(x * 1000).toLocaleTimeString("en-GB", opts));
}

function shadeNormal(normal, fill) {
  return (u) => {
    const ctx = u.ctx;
    const top = u.valToPos(normal[1], "y", true), bottom = u.valToPos(normal[0], "y", true);
    ctx.save();
    ctx.fillStyle = fill;
    ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
    ctx.restore();
  };
}

window.vitalsCharts = {};

window.drawVitals = function drawVitals(container, series, opts) {
  for (const chart of Object.values(window.vitalsCharts)) chart.destroy();
  window.vitalsCharts = {};
  container.textContent = "";
  container.dataset.from = new Date(opts.from).toISOString();
  container.dataset.to = new Date(opts.to).toISOString();
  const px = chartFontPx();
  const font = `600 ${px}px "Noto Sans CJK SC", system-ui, sans-serif`;
  const width = Math.max(320, container.clientWidth || 640);
  const height = chartHeight();
  const axis = { stroke: "#c8d3de", font, labelFont: font, size: px * 3.4, grid: { stroke: "#2a3848", width: 1 }, ticks: { stroke: "#2a3848" } };
  for (const s of series) {
    const box = document.createElement("div");
    box.className = `chart chart-${s.key}`;
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", s.label);
    container.appendChild(box);
    const data = columns(s.buckets, opts.bucketS);
    const values = data.slice(1).flat().filter((v) => v !== null);
    const lo = Math.min(s.normal[0], ...values), hi = Math.max(s.normal[1], ...values);
    const pad = Math.max(2, (hi - lo) * 0.1);
    const chart = new uPlot({
      width, height,
      title: s.label,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: [opts.from / 1000, opts.to / 1000] },
        y: { range: [Math.floor(lo - pad), Math.ceil(hi + pad)] },
      },
      axes: [{ ...axis, size: px * 2.2, space: px * 6, values: timeLabels(opts.to - opts.from) }, { ...axis }],
      series: [
        {},
        { label: s.label, stroke: s.color, width: 3, spanGaps: false, points: { show: data[0].length < 3, size: 8, fill: s.color } },
        { label: "min", stroke: "transparent", spanGaps: false, points: { show: false } },
        { label: "max", stroke: "transparent", spanGaps: false, points: { show: false } },
      ],
      bands: [{ series: [3, 2], fill: s.band }],
      hooks: { drawClear: [shadeNormal(s.normal, "rgba(63, 184, 107, 0.10)")] },
    }, data, box);
    window.vitalsCharts[s.key] = chart;
    if (!s.buckets.length) box.appendChild(Object.assign(document.createElement("p"), { className: "no-data", textContent: opts.noData }));
  }
};

window.addEventListener("resize", () => {
  for (const chart of Object.values(window.vitalsCharts)) {
    const width = chart.root.parentElement ? chart.root.parentElement.clientWidth : 0;
    if (width) chart.setSize({ width, height: chartHeight() });
  }
});
