// A small SVG line chart: the average as a line, min..max as a band, per series.
"use strict";

window.drawVitals = function drawVitals(el, series, opts) {
  const W = 640, H = 150, L = 44, R = 10, T = 10, B = 22;
  const ns = "http://www.w3.org/2000/svg";
  el.textContent = "";
  const from = opts.from.getTime(), to = opts.to.getTime();
  const x = (t) => L + ((t - from) / (to - from)) * (W - L - R);
  for (const s of series) {
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("class", `chart chart-${s.key}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", s.label);
    const add = (name, attrs, text) => {
      const node = document.createElementNS(ns, name);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.appendChild(node);
      return node;
    };
    const pts = s.buckets.map((b) => ({ t: Date.parse(b.start), min: b.min, avg: b.avg, max: b.max }));
    let lo = Math.min(...pts.map((p) => p.min), s.normal[0]);
    let hi = Math.max(...pts.map((p) => p.max), s.normal[1]);
    if (!isFinite(lo) || !isFinite(hi)) { lo = s.normal[0]; hi = s.normal[1]; }
    const pad = Math.max(2, (hi - lo) * 0.1);
    lo = Math.floor(lo - pad); hi = Math.ceil(hi + pad);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    // normal range shading, grid and labels
    add("rect", { x: L, y: y(s.normal[1]), width: W - L - R, height: y(s.normal[0]) - y(s.normal[1]), class: "normal" });
    for (let i = 0; i <= 4; i++) {
      const v = lo + ((hi - lo) * i) / 4;
      add("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" });
      add("text", { x: L - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, Math.round(v));
    }
    const hours = (to - from) / 3600000;
    const step = hours <= 6 ? 3600000 : hours <= 12 ? 2 * 3600000 : 4 * 3600000;
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
      add("line", { x1: x(t), x2: x(t), y1: T, y2: H - B, class: "grid" });
      const d = new Date(t);
      add("text", { x: x(t), y: H - 6, class: "tick", "text-anchor": "middle" },
        `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`);
    }
    add("text", { x: L + 6, y: T + 14, class: `label ${s.key}` }, s.label);
    // split into runs where buckets are consecutive, so gaps show as gaps
    const runs = [];
    let run = [];
    for (const p of pts) {
      if (run.length && p.t - run[run.length - 1].t > opts.bucketMs * 1.5) { runs.push(run); run = []; }
      run.push(p);
    }
    if (run.length) runs.push(run);
    for (const r of runs) {
      const band = r.map((p) => `${x(p.t)},${y(p.max)}`).concat(r.slice().reverse().map((p) => `${x(p.t)},${y(p.min)}`));
      add("polygon", { points: band.join(" "), class: `band ${s.key}` });
      add("polyline", { points: r.map((p) => `${x(p.t)},${y(p.avg)}`).join(" "), class: `line ${s.key}` });
    }
    if (!pts.length) add("text", { x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle" }, opts.noData);
    el.appendChild(svg);
  }
};
