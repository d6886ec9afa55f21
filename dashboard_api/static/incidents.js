// Alarm floods and maintenance silences on the screen (Issue 15 item 5).
// An open incident is one tile with its members (their own cards are hidden);
// silences show with their end time, and for a day after they ended.
// Loaded before app.js; app.js calls isIncidentMember, onIncidentChange, startIncidents
// and renderIncidents. Ending or creating them is for supervisors, through the API
// (POST /api/v1/incidents/{id}/end, /api/v1/silences), offered on the screen
// by supervise.js.
"use strict";

const FLOODS_REFRESH_MS = 30000;

const FLOOD_TEXT = {
  "zh-CN": {
    incidentsTitle: "事件（成批警报）",
    incident: "事件 #{id}",
    incidentHomes: "{n} 户",
    incidentSince: "{t} 起",
    incidentHeld: "家属短信已暂停",
    incidentMembers: "查看 {n} 条警报",
    cause_status: "设备报告离线（停电？）",
    cause_silence: "设备失联（网络故障？）",
    silencesTitle: "维护静默",
    silenceUntil: "静默至 {t}",
    silenceEnded: "已于 {t} 结束",
    wholeHome: "全户",
  },
  en: {
    incidentsTitle: "Incidents (alarm floods)",
    incident: "Incident #{id}",
    incidentHomes: "{n} homes",
    incidentSince: "since {t}",
    incidentHeld: "family SMS held back",
    incidentMembers: "show {n} alerts",
    cause_status: "devices reported offline (power cut?)",
    cause_silence: "devices went silent (network?)",
    silencesTitle: "Maintenance silences",
    silenceUntil: "silenced until {t}",
    silenceEnded: "ended at {t}",
    wholeHome: "whole home",
  },
};

const floods = {
  incidents: [], // open incidents, each with .alerts (GET /api/v1/incidents/{id})
  members: new Set(), // alert ids of open incidents' members
  silences: [],
  timer: null,
  pending: null,
};

function ft(key, vars) {
  const dict = FLOOD_TEXT[state.lang] || FLOOD_TEXT["zh-CN"];
  let text = dict[key] ?? FLOOD_TEXT["zh-CN"][key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
  return text;
}

function isIncidentMember(id) {
  return floods.members.has(id);
}

function onIncidentChange(alert) {
  // a member joined (grouped) or a new alert came: reload soon, once for a burst
  if (alert && (alert.change === "grouped" || !floods.members.has(alert.id))) {
    clearTimeout(floods.pending);
    floods.pending = setTimeout(loadFloods, 500);
  }
}

function startIncidents() {
  loadFloods();
  clearInterval(floods.timer);
  floods.timer = setInterval(loadFloods, FLOODS_REFRESH_MS);
}

async function loadFloods() {
  try {
    const [open, silences] = await Promise.all([api("/api/v1/incidents"), api("/api/v1/silences")]);
    const detailed = await Promise.all(open.map((i) => api(`/api/v1/incidents/${i.id}`).catch(() => ({ ...i, alerts: [] }))));
    floods.incidents = detailed;
    floods.members = new Set(detailed.flatMap((i) => i.member_ids));
    floods.silences = silences;
    renderIncidents();
    renderAlerts();
  } catch (e) { /* the next refresh retries */ }
}

function homeName(id) {
  const home = state.homes.find((h) => h.id === id);
  return home ? home.name : id;
}

function renderIncidents() {
  renderIncidentTiles();
  renderSilences();
}

function renderIncidentTiles() {
  const box = document.querySelector("#incidents");
  if (!box) return;
  box.textContent = "";
  box.hidden = floods.incidents.length === 0;
  if (box.hidden) return;
  box.append(el("h2", {}, ft("incidentsTitle")));
  for (const inc of floods.incidents) {
    const homes = new Set(inc.alerts.map((a) => a.home_id));
    const members = el("ol", { class: "incident-members" },
      ...inc.alerts.map((a) => el("li", { class: `member st-${a.status}`, dataset: { alertId: a.id, homeId: a.home_id } },
        `${homeName(a.home_id)} · ${a.subject} · ${t(`st_${a.status}`)}`)));
    const tile = el("article", { class: "incident", dataset: { incidentId: inc.id, members: inc.members } },
      el("div", { class: "incident-head" },
        el("span", { class: "badge" }, ft("incident", { id: inc.id })),
        el("span", { class: "kind" }, t(`kind_${inc.kind}`)),
        el("span", { class: "incident-count" }, ft("incidentHomes", { n: homes.size || inc.members }))),
      el("div", { class: "incident-cause" }, ft(`cause_${inc.cause}`), " · ", ft("incidentSince", { t: fmtTime(inc.opened_at) })),
      el("div", { class: "incident-held" }, ft("incidentHeld")),
      window.incidentTools ? window.incidentTools(inc) : null, // supervise.js
      el("details", { class: "incident-details" }, el("summary", {}, ft("incidentMembers", { n: inc.members })), members));
    box.append(tile);
  }
}

function renderSilences() {
  const box = document.querySelector("#silences");
  if (!box) return;
  box.textContent = "";
  box.hidden = floods.silences.length === 0;
  if (box.hidden) return;
  box.append(el("h2", {}, ft("silencesTitle")));
  const list = el("ul", { class: "silence-list" });
  for (const s of floods.silences) {
    const ended = !s.active;
    const end = s.ended_at && s.ended_at < s.ends_at ? s.ended_at : s.ends_at;
    list.append(el("li", { class: `silence${ended ? " ended" : ""}`, dataset: { silenceId: s.id, homeId: s.home_id } },
      el("span", { class: "silence-where" }, `${homeName(s.home_id)} · ${s.device_id || ft("wholeHome")}`),
      el("span", { class: "silence-end" }, ended ? ft("silenceEnded", { t: fmtTime(end) }) : ft("silenceUntil", { t: fmtTime(s.ends_at) })),
      s.reason ? el("span", { class: "silence-reason" }, s.reason) : null,
      window.silenceTools ? window.silenceTools(s) : null)); // supervise.js
  }
  box.append(list);
}
