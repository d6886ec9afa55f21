// The care-centre screen: login, live alerts (SSE), staff actions, home tiles, vitals chart.
// Plain JS, no build step. Data comes from the REST API under /api/v1.
"use strict";

const SEVERITY_RANK = { critical: 0, high: 1, warning: 2, info: 3 };
const ACTIVE = ["open", "acknowledged", "dispatched", "on_site"];
const HOMES_REFRESH_MS = 30000;
const PER_HOME_STATUS_MAX = 200; // above it, device dots and vitals only in tiles.html / on click

const state = {
  token: sessionStorage.getItem("token"),
  lang: localStorage.getItem("lang") || "zh-CN",
  alerts: new Map(), // id -> alert
  timelines: new Map(), // id -> timeline entries
  details: new Map(), // id -> GET /api/v1/alerts/{id} (address, contacts, timeline, ladder)
  alarmed: new Map(), // id -> reasons already alarmed (sound.js)
  flashUntil: new Map(), // id -> ms until which the card flashes
  primed: new Set(), // ids whose detail was loaded once
  leftBefore: new Map(), // id -> ms left at the last tick
  detailAsked: new Map(), // id -> number of the newest detail request
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
  renderIncidents();
  if (state.chart) loadChart(state.chart.resident);
}

// --- API -------------------------------------------------------------------------------

function detailText(detail) {
  // a 422 of the API names the fields: "key_safe_code: String should match pattern ..."
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => (d && d.loc ? `${d.loc.filter((x) => x !== "body").join(".")}: ${d.msg}` : JSON.stringify(d))).join("; ");
  return JSON.stringify(detail);
}

class ApiError extends Error {
  constructor(status, detail) { super(detailText(detail)); this.status = status; }
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
  clearTimeout(state.renewTimer);
  state.token = null;
  if (typeof sup !== "undefined") sup.me = null;
  sessionStorage.removeItem("token");
  if (state.source) state.source.close();
  state.source = null;
  clearInterval(state.homesTimer);
  $("#screen").hidden = true;
  $("#login").hidden = false;
}

function start() {
  scheduleRenewal();
  $("#login").hidden = true;
  $("#screen").hidden = false;
  ensureAudio();
  renderSoundBanner();
  connect();
  loadHomes();
  startIncidents(); // incidents.js: alarm floods and silences
  if (window.loadMe) loadMe(); // supervise.js: the supervisors' editors
  clearInterval(state.homesTimer);
  state.homesTimer = setInterval(loadHomes, HOMES_REFRESH_MS);
}

// --- session: renewed at half its life, so a wall screen stays signed in -------------

function tokenExpiryMs(token) {
  try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).exp * 1000; }
  catch (e) { return 0; }
}

function scheduleRenewal() {
  clearTimeout(state.renewTimer);
  if (!state.token) return;
  const left = tokenExpiryMs(state.token) - Date.now();
  state.renewTimer = setTimeout(renewToken, Math.max(left / 2, 1000));
}

async function renewToken() {
  if (!state.token) return;
  try {
    const resp = await fetch("/api/v1/auth/renew", { method: "POST", headers: { Authorization: `Bearer ${state.token}` } });
    if (resp.status === 401) { logout(); return; }
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    state.token = (await resp.json()).access_token;
    sessionStorage.setItem("token", state.token);
    scheduleRenewal();
  } catch (e) {
    // the service is restarting or out of reach: try again soon, while the token lasts
    clearTimeout(state.renewTimer);
    state.renewTimer = setTimeout(renewToken, 30000);
  }
}

function signOut() {
  // ends this screen's session on the server too; the account's other screens stay signed in
  if (state.token) fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${state.token}` } }).catch(() => {});
  logout();
}

// --- sound: sound.js (banner, beeps, re-alarms) -----------------------------------

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
    const known = state.alerts.get(alert.id);
    upsert(alert);
    onIncidentChange(alert);
    if (ACTIVE.includes(alert.status) && !isIncidentMember(alert.id)) {
      alarmOnChange(alert, known);
      if (alert.id > 0) loadTimeline(alert.id); // the card shows every change: messages, replies, actions
    }
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
  for (const id of found.keys()) if (!isIncidentMember(id)) loadTimeline(id);
}

async function loadTimeline(id) {
  const asked = (state.detailAsked.get(id) || 0) + 1;
  state.detailAsked.set(id, asked);
  try {
    const detail = await api(`/api/v1/alerts/${id}`);
    if (state.detailAsked.get(id) !== asked) return; // a later request is under way: its answer is newer
    if (!ACTIVE.includes(detail.status)) { upsert(detail); return; }
    state.timelines.set(id, detail.timeline);
    state.details.set(id, detail);
    upsert(detail);
    alarmOnSteps(state.alerts.get(id) || detail, detail);
    loadProtocol(id); // protocol.js: the checklist with its ticks
  } catch (e) { /* shown on the next change */ }
}

function upsert(alert) {
  const known = state.alerts.get(alert.id);
  if (known && known.updated_at && alert.updated_at && known.updated_at > alert.updated_at) return;
  if (ACTIVE.includes(alert.status)) state.alerts.set(alert.id, { ...known, ...alert });
  else { state.alerts.delete(alert.id); state.timelines.delete(alert.id); state.details.delete(alert.id); }
  renderAlerts();
}

function sortedAlerts() {
  return [...state.alerts.values()].filter((a) => !isIncidentMember(a.id)).sort((a, b) =>
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
  return d.toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
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
  const detail = state.details.get(alert.id);
  const items = [];
  const notified = detail ? detail.people_notified : 0; // distinct people, not messages
  if (notified) items.push(el("li", { class: "note-notified" }, t("notified", { n: notified })));
  for (const e of state.timelines.get(alert.id) || []) {
    const d = e.details || {};
    if (e.event === "sms_limited") {
      items.push(el("li", { class: "delivery-failed sms-limited" }, `${fmtTime(e.at)} ${t("smsLimited")}: ${d.recipient ?? ""} (${d.rule ?? ""})`));
    }
  }
  return items.length ? el("ul", { class: "notes" }, ...items) : null;
}

function actionButtons(alert) {
  // A negative id: raised while the database was away (provisional); it is
  // replaced by the stored alert as soon as the database answers.
  if (alert.id < 0) return el("div", { class: "actions provisional" }, t("provisional"));
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
    const detail = state.details.get(a.id);
    const card = el("li", { class: `alert sev-${a.severity} st-${a.status}${flashing(a.id) ? " flash" : ""}`, dataset: { alertId: a.id, status: a.status, severity: a.severity } },
      el("div", { class: "alert-head" },
        el("span", { class: "badge" }, t(`sev_${a.severity}`)),
        el("span", { class: "kind" }, t(`kind_${a.kind}`)),
        a.count > 1 ? el("span", { class: "count" }, t("count", { n: a.count })) : null,
        el("span", { class: "status" }, t(`st_${a.status}`))),
      el("div", { class: "who" }, whoOf(a)),
      addressLine(detail),
      el("div", { class: "message" }, alertText(a, detail)),
      el("div", { class: "times" },
        el("span", { class: "raised" }, t("raisedAt", { t: fmtTime(a.raised_at) })),
        el("span", { class: "countdown", dataset: { deadline: a.response_deadline } }),
        a.responder ? el("span", { class: "responder" }, t("responder", { r: a.responder })) : null),
      timelineNotes(a),
      detail ? el("div", { class: "card-details" }, contactsBlock(detail), timelineBlock(detail)) : null,
      window.recordBlock ? window.recordBlock(a) : null, // record.js
      window.assignBlock ? window.assignBlock(a, detail) : null, // roster.js
      protocolBlock(a), // protocol.js
      actionButtons(a),
      staffButtons(a));
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
    const card = node.closest(".alert");
    card?.classList.toggle("breached", left < 0);
    const alert = card ? state.alerts.get(Number(card.dataset.alertId)) : null;
    if (alert) alarmOnDeadline(alert, left);
  }
  const clock = $("#clock");
  if (clock) clock.textContent = new Date(now).toLocaleTimeString(state.lang, { hourCycle: "h23" });
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
    // a large centre: no request per home here; tiles.html shows every home from one request
    const perHome = homes.length <= PER_HOME_STATUS_MAX ? homes : [];
    const statuses = await Promise.all(perHome.map((h) => api(`/api/v1/homes/${encodeURIComponent(h.id)}/status`).catch(() => null)));
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
      const seen = d.last_seen ? ` · ${t("lastSeen", { t: fmtTime(d.last_seen) })}` : "";
      return el("li", { class: `device ${cls}`, title: `${d.device_id} ${label}${seen}`, dataset: { deviceId: d.device_id } },
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
      el("ul", { class: "devices" }, ...devices),
      window.homeTools ? window.homeTools(home) : null)); // supervise.js
  }
}

// --- chart ---------------------------------------------------------------------------

async function loadChart(residentId) {
  state.chart = { resident: residentId };
  const hours = Number($("#chart-hours").value);
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600000);
  const id = encodeURIComponent(residentId);
  const get = (metric, start, bucketS) => api(`/api/v1/residents/${id}/vitals?${new URLSearchParams({
    metric, from: new Date(start).toISOString(), to: to.toISOString(), bucket: `${bucketS}s` })}`);
  try {
    const coarse = hours <= 6 ? 60 : 300;
    let [hr, rr] = await Promise.all([get("hr", from, coarse), get("rr", from, coarse)]);
    let fit = window.fitVitalsRange([hr.buckets, rr.buckets], from.getTime(), to.getTime(), coarse);
    if (fit.from !== from.getTime() || fit.bucketS !== coarse) {
      [hr, rr] = await Promise.all([get("hr", fit.from, fit.bucketS), get("rr", fit.from, fit.bucketS)]);
      fit = window.tightenVitalsRange(fit, [hr.buckets, rr.buckets]);
    }
    if (!state.chart || state.chart.resident !== residentId) return; // closed or another resident meanwhile
    const r = state.residents.get(residentId);
    $("#chart-title").textContent = t("chartSpan", { name: r ? r.name : residentId, span: fmtSpan((fit.to - fit.from) / 1000) });
    $("#chart-panel").hidden = false;
    window.drawVitals($("#chart"), [
      { key: "hr", label: `${t("hr")} (${t("bpm")})`, buckets: hr.buckets, normal: [50, 100], color: "#ff6b6b", band: "rgba(255, 107, 107, 0.22)" },
      { key: "rr", label: `${t("rr")} (${t("bpm")})`, buckets: rr.buckets, normal: [12, 20], color: "#5cc8ff", band: "rgba(92, 200, 255, 0.22)" },
    ], { from: fit.from, to: fit.to, bucketS: fit.bucketS, noData: t("noData") });
  } catch (e) { /* resident deleted or offline: leave the panel as it is */ }
}

// --- start ---------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", signOut);
  $("#chart-close").addEventListener("click", () => { $("#chart-panel").hidden = true; state.chart = null; });
  $("#chart-hours").addEventListener("change", () => state.chart && loadChart(state.chart.resident));
  for (const b of document.querySelectorAll(".lang-toggle")) {
    b.addEventListener("click", () => {
      state.lang = state.lang === "en" ? "zh-CN" : "en";
      localStorage.setItem("lang", state.lang);
      applyLanguage();
    });
  }
  document.addEventListener("click", unlockAudio); // until sound is on (sound.js)
  document.addEventListener("keydown", unlockAudio);
  applyLanguage();
  setInterval(tickCountdowns, 1000);
  if (state.token) start(); else $("#login").hidden = false;
});
