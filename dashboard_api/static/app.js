// The care-centre screen: login, live alerts (SSE), staff actions, home tiles, vitals chart.
// Plain JS, no build step. Data comes from the REST API under /api/v1.
"use strict";

const SEVERITY_RANK = { critical: 0, high: 1, warning: 2, info: 3 };
const ACTIVE = ["open", "acknowledged", "dispatched", "on_site"];
const HOMES_REFRESH_MS = 30000;
const TIMELINE_CHANGES = new Set(["raised", "notified", "family_reply", "delivery", "escalated", "window_breached", "sms_limited"]);

const state = {
  token: sessionStorage.getItem("token"),
  lang: localStorage.getItem("lang") || "zh-CN",
  alerts: new Map(), // id -> alert
  timelines: new Map(), // id -> timeline entries
  homes: [],
  residents: new Map(),
  status: new Map(), // home id -> status
  source: null,
  audio: null,
  chart: null, // { resident }
  homesTimer: null,
};

const $ = (sel) => document.querySelector(sel);

function t(key, vars) {
  const dict = window.I18N[state.lang] || window.I18N["zh-CN"];
  let text = dict[key] ?? window.I18N["zh-CN"][key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
  return text;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll(".lang-toggle")) el.textContent = state.lang === "en" ? "中文" : "English";
  updateLive(state.source && state.source.readyState === 1);
  renderAlerts();
  renderHomes();
  if (state.chart) loadChart(state.chart.resident);
}

// --- API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) { super(typeof detail === "string" ? detail : JSON.stringify(detail)); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${state.token}` };
  if (options.json !== undefined) { headers["Content-Type"] = "application/json"; options.body = JSON.stringify(options.json); }
  const resp = await fetch(path, { ...options, headers });
  if (resp.status === 401) { logout(); throw new ApiError(401, "not logged in"); }
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new ApiError(resp.status, body?.detail ?? resp.statusText);
  return body;
}

// --- login ---------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const err = $("#login-error");
  err.textContent = "";
  unlockAudio();
  const form = new URLSearchParams({ username: $("#username").value, password: $("#password").value });
  try {
    const resp = await fetch("/api/v1/auth/token", { method: "POST", body: form });
    if (resp.status === 401) { err.textContent = t("badLogin"); return; }
    if (resp.status === 429) { err.textContent = t("tooMany", { s: resp.headers.get("Retry-After") || "60" }); return; }
    if (!resp.ok) { err.textContent = t("loginFailed", { e: resp.status }); return; }
    state.token = (await resp.json()).access_token;
    sessionStorage.setItem("token", state.token);
    $("#password").value = "";
    start();
  } catch (e) {
    err.textContent = t("loginFailed", { e: e.message });
  }
}

function logout() {
  state.token = null;
  sessionStorage.removeItem("token");
  if (state.source) state.source.close();
  state.source = null;
  clearInterval(state.homesTimer);
  $("#screen").hidden = true;
  $("#login").hidden = false;
}

function start() {
  $("#login").hidden = true;
  $("#screen").hidden = false;
  connect();
  loadHomes();
  clearInterval(state.homesTimer);
  state.homesTimer = setInterval(loadHomes, HOMES_REFRESH_MS);
}

// --- sound ---------------------------------------------------------------------------

function unlockAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!state.audio && Ctx) state.audio = new Ctx();
  if (state.audio && state.audio.state === "suspended") state.audio.resume();
}

function beep() {
  const ctx = state.audio;
  if (!ctx) return;
  const now = ctx.currentTime;
  for (let i = 0; i < 3; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = i % 2 ? 660 : 880;
    gain.gain.setValueAtTime(0.0001, now + i * 0.3);
    gain.gain.exponentialRampToValueAtTime(0.3, now + i * 0.3 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.3 + 0.25);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + i * 0.3);
    osc.stop(now + i * 0.3 + 0.26);
  }
  window.beeps = (window.beeps || 0) + 1; // tests read this
}

// --- live stream ---------------------------------------------------------------------

function connect() {
  if (state.source) state.source.close();
  const source = new EventSource(`/api/v1/alerts/stream?access_token=${encodeURIComponent(state.token)}`);
  state.source = source;
  source.addEventListener("ready", () => { updateLive(true); loadAlerts(); });
  source.addEventListener("reload", () => { updateLive(true); loadAlerts(); });
  source.addEventListener("open", () => updateLive(true));
  source.addEventListener("alert", (msg) => {
    const alert = JSON.parse(msg.data);
    const isNew = !state.alerts.has(alert.id);
    upsert(alert);
    if (alert.change === "raised" && alert.severity === "critical" && isNew) beep();
    if (ACTIVE.includes(alert.status) && (isNew || TIMELINE_CHANGES.has(alert.change))) loadTimeline(alert.id);
  });
  source.addEventListener("error", async () => {
    updateLive(false);
    if (source.readyState === EventSource.CLOSED) {
      // the server refused (expired token?) or went away for good: check, then retry
      try { await api("/api/v1/alerts?limit=1"); } catch (e) { if (e.status === 401) return; }
      setTimeout(() => { if (state.token && state.source === source) connect(); }, 3000);
    }
  });
}

function updateLive(on) {
  const el = $("#live");
  el.textContent = on ? t("live") : t("offline");
  el.className = `live ${on ? "on" : "off"}`;
}

// --- alerts --------------------------------------------------------------------------

async function loadAlerts() {
  const found = new Map();
  let cursor = null;
  for (let page = 0; page < 10; page++) {
    const query = new URLSearchParams({ status: ACTIVE.join(","), limit: "500" });
    if (cursor) query.set("cursor", cursor);
    const body = await api(`/api/v1/alerts?${query}`);
    for (const a of body.items) found.set(a.id, a);
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  state.alerts = found;
  renderAlerts();
  for (const id of found.keys()) loadTimeline(id);
}

async function loadTimeline(id) {
  try {
    const detail = await api(`/api/v1/alerts/${id}`);
    state.timelines.set(id, detail.timeline);
    upsert(detail);
  } catch (e) { /* shown on the next change */ }
}

function upsert(alert) {
  const known = state.alerts.get(alert.id);
  if (known && known.updated_at && alert.updated_at && known.updated_at > alert.updated_at) return;
  if (ACTIVE.includes(alert.status)) state.alerts.set(alert.id, { ...known, ...alert });
  else { state.alerts.delete(alert.id); state.timelines.delete(alert.id); }
  renderAlerts();
}

function sortedAlerts() {
  return [...state.alerts.values()].sort((a, b) =>
    (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]) || (Date.parse(a.raised_at) - Date.parse(b.raised_at)) || a.id - b.id);
}

function fmtDuration(ms) {
  const s = Math.max(0, Math.floor(Math.abs(ms) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mmss = `${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
  return h ? `${h}:${mmss}` : mmss;
}

function fmtTime(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function whoOf(alert) {
  const resident = alert.resident_id ? state.residents.get(alert.resident_id) : null;
  const home = state.homes.find((h) => h.id === alert.home_id);
  return [home ? home.name : alert.home_id, resident ? resident.name : null].filter(Boolean).join(" · ");
}

function timelineNotes(alert) {
  const items = [];
  const timeline = state.timelines.get(alert.id) || [];
  const notified = timeline.filter((e) => e.event === "notified").length;
  if (notified) items.push(el("li", { class: "note-notified" }, t("notified", { n: notified })));
  for (const e of timeline) {
    const d = e.details || {};
    if (e.event === "family_reply") {
      const who = d.contact_name || d.phone || "";
      items.push(el("li", { class: "family-reply" },
        `${fmtTime(e.at)} ${t("familyReply")} ${who}: “${d.body ?? ""}”${d.handling ? t("handling") : ""}`));
    } else if (e.event === "delivery" && (d.status === "failed" || d.status === "undelivered")) {
      items.push(el("li", { class: "delivery-failed" }, `${fmtTime(e.at)} ${t("deliveryFailed")}: ${d.recipient ?? d.provider_id ?? ""} (${d.status})`));
    } else if (e.event === "sms_limited") {
      items.push(el("li", { class: "delivery-failed sms-limited" }, `${fmtTime(e.at)} ${t("smsLimited")}: ${d.recipient ?? ""} (${d.rule ?? ""})`));
    }
  }
  return items.length ? el("ul", { class: "notes" }, ...items) : null;
}

function actionButtons(alert) {
  const s = alert.status;
  const buttons = [];
  const add = (action, onclick) => buttons.push(el("button", { type: "button", class: `act act-${action}`, dataset: { action }, onclick }, t(action)));
  if (s === "open") add("acknowledge", () => act(alert.id, "acknowledge"));
  if (["open", "acknowledged"].includes(s)) add("dispatch", () => askDispatch(alert.id));
  if (["open", "acknowledged", "dispatched"].includes(s)) add("arrive", () => act(alert.id, "arrive"));
  add("resolve", () => askResolve(alert.id));
  return el("div", { class: "actions" }, ...buttons);
}

function renderAlerts() {
  const list = $("#alerts");
  if (!list) return;
  const alerts = sortedAlerts();
  list.textContent = "";
  for (const a of alerts) {
    const card = el("li", { class: `alert sev-${a.severity} st-${a.status}`, dataset: { alertId: a.id, status: a.status, severity: a.severity } },
      el("div", { class: "alert-head" },
        el("span", { class: "badge" }, t(`sev_${a.severity}`)),
        el("span", { class: "kind" }, t(`kind_${a.kind}`)),
        a.count > 1 ? el("span", { class: "count" }, t("count", { n: a.count })) : null,
        el("span", { class: "status" }, t(`st_${a.status}`))),
      el("div", { class: "who" }, whoOf(a)),
      a.message ? el("div", { class: "message" }, a.message) : null,
      el("div", { class: "times" },
        el("span", { class: "raised" }, t("raisedAt", { t: fmtTime(a.raised_at) })),
        el("span", { class: "countdown", dataset: { deadline: a.response_deadline } }),
        a.responder ? el("span", { class: "responder" }, t("responder", { r: a.responder })) : null),
      timelineNotes(a),
      actionButtons(a));
    list.append(card);
  }
  $("#no-alerts").hidden = alerts.length > 0;
  const c = alerts.filter((a) => a.severity === "critical").length;
  const h = alerts.filter((a) => a.severity === "high").length;
  $("#summary").textContent = t("summary", { c, h, o: alerts.length - c - h });
  tickCountdowns();
}

function tickCountdowns() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".countdown")) {
    const left = Date.parse(node.dataset.deadline) - now;
    node.textContent = left >= 0 ? t("left", { t: fmtDuration(left) }) : t("overdue", { t: fmtDuration(left) });
    node.classList.toggle("breached", left < 0);
    node.closest(".alert")?.classList.toggle("breached", left < 0);
  }
  const clock = $("#clock");
  if (clock) clock.textContent = new Date(now).toLocaleTimeString(state.lang, { hour12: false });
}

async function act(id, action, body) {
  try {
    const alert = await api(`/api/v1/alerts/${id}/${action}`, { method: "POST", json: body ?? {} });
    upsert(alert);
    if (ACTIVE.includes(alert.status)) loadTimeline(id);
  } catch (e) {
    if (e.status !== 401) window.alert(t("actionFailed", { e: e.message }));
    if (e.status === 409) loadAlerts();
  }
}

function askDispatch(id) {
  const dialog = $("#dispatch-dialog");
  $("#responder").value = "";
  dialog.onclose = () => { if (dialog.returnValue === "ok" && $("#responder").value.trim()) act(id, "dispatch", { responder: $("#responder").value.trim() }); };
  dialog.showModal();
}

function askResolve(id) {
  const dialog = $("#resolve-dialog");
  $("#note").value = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "ok") act(id, "resolve", { outcome: $("#outcome").value, note: $("#note").value.trim() || null });
  };
  dialog.showModal();
}

// --- homes ---------------------------------------------------------------------------

async function loadHomes() {
  try {
    const [homes, residents] = await Promise.all([api("/api/v1/homes"), api("/api/v1/residents")]);
    state.homes = homes;
    state.residents = new Map(residents.map((r) => [r.id, r]));
    const statuses = await Promise.all(homes.map((h) => api(`/api/v1/homes/${encodeURIComponent(h.id)}/status`).catch(() => null)));
    state.status = new Map(statuses.filter(Boolean).map((s) => [s.home_id, s]));
    renderHomes();
    renderAlerts();
  } catch (e) { /* the next refresh retries */ }
}

function renderHomes() {
  const box = $("#homes");
  if (!box) return;
  box.textContent = "";
  const kinds = window.I18N[state.lang].device_kinds;
  const alerting = new Set([...state.alerts.values()].map((a) => a.home_id));
  for (const home of state.homes) {
    const status = state.status.get(home.id) || { devices: [], vitals: [] };
    const devices = status.devices.map((d) => {
      const cls = d.online === true ? "on" : d.online === false ? "off" : "unknown";
      const label = d.online === true ? t("online") : d.online === false ? t("offlineDev") : t("unknown");
      const low = d.battery !== null && d.battery <= 20;
      return el("li", { class: `device ${cls}`, title: `${d.device_id} ${label}` },
        el("span", { class: "dot" }), kinds[d.kind] || d.kind,
        d.battery !== null ? el("span", { class: `battery${low ? " low" : ""}` }, `${Math.round(d.battery)}%`) : null);
    });
    const vitals = status.vitals.map((v) => {
      const r = state.residents.get(v.resident_id);
      const fmt = (x) => (x === null ? "–" : Math.round(x));
      return el("button", { type: "button", class: "vitals", dataset: { resident: v.resident_id }, onclick: () => loadChart(v.resident_id) },
        el("span", { class: "rname" }, r ? r.name : v.resident_id),
        el("span", { class: "hr" }, `${t("hr")} ${fmt(v.hr)}`),
        el("span", { class: "rr" }, `${t("rr")} ${fmt(v.rr)}`),
        el("span", { class: "bed" }, v.in_bed === null ? "" : v.in_bed ? t("inBed") : t("outOfBed")));
    });
    const residentsHere = [...state.residents.values()].filter((r) => r.home_id === home.id && !status.vitals.some((v) => v.resident_id === r.id));
    for (const r of residentsHere) {
      vitals.push(el("button", { type: "button", class: "vitals", dataset: { resident: r.id }, onclick: () => loadChart(r.id) },
        el("span", { class: "rname" }, r.name), el("span", { class: "hr" }, `${t("hr")} –`), el("span", { class: "rr" }, `${t("rr")} –`)));
    }
    box.append(el("article", { class: `home${alerting.has(home.id) ? " alerting" : ""}`, dataset: { homeId: home.id } },
      el("h3", {}, home.name, el("small", {}, ` ${home.id}`)),
      el("div", { class: "vitals-row" }, ...vitals),
      el("ul", { class: "devices" }, ...devices)));
  }
}

// --- chart ---------------------------------------------------------------------------

async function loadChart(residentId) {
  state.chart = { resident: residentId };
  const hours = Number($("#chart-hours").value);
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600000);
  const bucket = hours <= 6 ? "1m" : "5m";
  const bucketMs = hours <= 6 ? 60000 : 300000;
  const q = (metric) => new URLSearchParams({ metric, from: from.toISOString(), to: to.toISOString(), bucket });
  const id = encodeURIComponent(residentId);
  try {
    const [hr, rr] = await Promise.all([api(`/api/v1/residents/${id}/vitals?${q("hr")}`), api(`/api/v1/residents/${id}/vitals?${q("rr")}`)]);
    const r = state.residents.get(residentId);
    $("#chart-title").textContent = t("chartTitle", { name: r ? r.name : residentId, h: hours });
    $("#chart-panel").hidden = false;
    window.drawVitals($("#chart"), [
      { key: "hr", label: `${t("hr")} (${t("bpm")})`, buckets: hr.buckets, normal: [50, 100] },
      { key: "rr", label: `${t("rr")} (${t("bpm")})`, buckets: rr.buckets, normal: [12, 20] },
    ], { from, to, bucketMs, noData: t("noData") });
  } catch (e) { /* resident deleted or offline: leave the panel as it is */ }
}

// --- start ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#chart-close").addEventListener("click", () => { $("#chart-panel").hidden = true; state.chart = null; });
  $("#chart-hours").addEventListener("change", () => state.chart && loadChart(state.chart.resident));
  for (const b of document.querySelectorAll(".lang-toggle")) {
    b.addEventListener("click", () => {
      state.lang = state.lang === "en" ? "zh-CN" : "en";
      localStorage.setItem("lang", state.lang);
      applyLanguage();
    });
  }
  document.addEventListener("click", unlockAudio, { once: true });
  applyLanguage();
  setInterval(tickCountdowns, 1000);
  if (state.token) start(); else $("#login").hidden = false;
});
