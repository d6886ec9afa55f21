// Every home as a small tile, from ONE request (GET /api/v1/status/homes), searched
// and filtered in the page; refreshed on every alert change of the live stream
// (at most once a second) and every 30 s for device liveness.
"use strict";

const TILES = { homes: [], counts: {}, timer: null, pending: false };
const TILES_REFRESH_MS = 30000;

async function loadTiles() {
  try {
    const body = await (await pageFetch("/api/v1/status/homes")).json();
    TILES.homes = body.homes;
    TILES.counts = body.counts;
    renderTiles();
  } catch (e) {
    document.getElementById("tile-shown").textContent = pt("failed", { e: e.message });
  }
}

function fmtSeen(iso) {
  if (!iso) return pt("never");
  return pt("lastSeen", { t: new Date(iso).toLocaleString(PAGE.lang, { hour12: false }) });
}

function matches(home, needle, state) {
  if (state && home.state !== state) return false;
  if (!needle) return true;
  return home.home_id.toLowerCase().includes(needle) || home.name.toLowerCase().includes(needle)
    || home.residents.some((n) => n.toLowerCase().includes(needle));
}

function renderTiles() {
  const needle = document.getElementById("tile-search").value.trim().toLowerCase();
  const state = document.getElementById("tile-state").value;
  const shown = TILES.homes.filter((h) => matches(h, needle, state));
  const box = document.getElementById("tiles");
  const frag = document.createDocumentFragment();
  for (const h of shown) {
    const kinds = h.alerts.map((a) => a.kind).join(" · ");
    frag.append(pageEl("article", { class: `tile st-${h.state}${h.severity ? ` sev-${h.severity}` : ""}`, dataset: { homeId: h.home_id, state: h.state } },
      pageEl("h3", {}, h.name, pageEl("small", {}, ` ${h.home_id}`)),
      pageEl("p", { class: "residents" }, h.residents.join("、")),
      h.alerts.length ? pageEl("p", { class: "tile-alerts" }, kinds) : null,
      h.devices_offline.length ? pageEl("p", { class: "tile-offline", title: h.devices_offline.join(", ") }, pt("offlineN", { n: h.devices_offline.length })) : null,
      pageEl("p", { class: "seen muted" }, fmtSeen(h.last_seen))));
  }
  box.replaceChildren(frag);
  document.getElementById("tile-shown").textContent = pt("shown", { n: shown.length, total: TILES.homes.length });
  const counts = document.getElementById("tile-counts");
  counts.replaceChildren(...["alerting", "device_offline", "all_well"].map((s) =>
    pageEl("span", { class: `count st-${s}`, dataset: { state: s } }, `${pt(s)} ${TILES.counts[s] ?? 0}`)));
}

function soon() {
  // many alert changes at once (a power cut) make one reload, not hundreds
  if (TILES.pending) return;
  TILES.pending = true;
  setTimeout(() => { TILES.pending = false; loadTiles(); }, 1000);
}

function listen() {
  const source = new EventSource(`/api/v1/alerts/stream?access_token=${encodeURIComponent(PAGE.token)}`);
  source.addEventListener("alert", soon);
  source.addEventListener("reload", soon);
  source.addEventListener("ended", () => { source.close(); location.href = "/"; });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("tile-search").addEventListener("input", renderTiles);
  document.getElementById("tile-state").addEventListener("change", renderTiles);
  document.getElementById("tile-tools").addEventListener("submit", (e) => e.preventDefault());
  loadTiles();
  listen();
  TILES.timer = setInterval(loadTiles, TILES_REFRESH_MS);
});
