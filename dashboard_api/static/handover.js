// The shift handover page: GET /api/v1/handover for a window (default the last
// 8 hours; ?from=&to= in the address, ISO 8601), as tables that print on A4.
// The token is the screen's (sessionStorage: open it from the screen's link).
"use strict";

const H = {
  "zh-CN": {
    title: "交接班报告", from: "从", to: "到", refresh: "刷新", print: "打印", back: "返回监护屏",
    open: "未结案警报", resolved: "本班已结案", offline: "离线设备", watch: "重点关注的老人",
    raised: "发生", kind: "类型", who: "住户", status: "状态", responder: "派出", outcome: "结果",
    resolvedAt: "结案", note: "备注", device: "设备", home: "住户", location: "位置",
    lastSeen: "最后在线", alerts: "警报数", kinds: "类型", notes: "备注", none: "无",
    window: "时段 {f} — {t}", rule: "规则：时段内 2 次以上警报，或备注标记为重点关注",
    statusOffline: "离线", openAlert: "离线警报 #{id}", notLoggedIn: "请先在监护屏登录",
  },
  en: {
    title: "Shift handover", from: "From", to: "To", refresh: "Refresh", print: "Print", back: "Back to the screen",
    open: "Open alerts", resolved: "Resolved this shift", offline: "Devices offline", watch: "Residents to watch",
    raised: "Raised", kind: "Kind", who: "Resident", status: "Status", responder: "Responder", outcome: "Outcome",
    resolvedAt: "Resolved", note: "Note", device: "Device", home: "Home", location: "Location",
    lastSeen: "Last seen", alerts: "Alerts", kinds: "Kinds", notes: "Notes", none: "None",
    window: "Window {f} — {t}", rule: "Rule: 2+ alerts in the window, or a note marked watch",
    statusOffline: "offline", openAlert: "offline alert #{id}", notLoggedIn: "Log in on the screen first",
  },
};

const lang = localStorage.getItem("lang") === "en" ? "en" : "zh-CN";
const token = sessionStorage.getItem("token");
const $ = (sel) => document.querySelector(sel);

function h(key, vars) {
  let text = H[lang][key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, v);
  return text;
}

function s(key) {
  return window.I18N[lang][key] ?? window.I18N["zh-CN"][key] ?? key;
}

function when(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleString(lang, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

function localInput(date) {
  const d = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function row(cells, attrs = {}) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c ?? "";
    tr.append(td);
  }
  return tr;
}

function fill(id, rows, columns) {
  const body = $(`#${id} tbody`);
  body.textContent = "";
  for (const r of rows) body.append(r);
  if (!rows.length) {
    const tr = row([h("none")], { class: "empty" });
    tr.firstChild.colSpan = columns;
    body.append(tr);
  }
  $(`#${id}-n`).textContent = `(${rows.length})`;
}

function whoOf(a) {
  return [a.home_name || a.home_id, a.resident_name].filter(Boolean).join(" · ");
}

async function load() {
  $("#error").textContent = "";
  if (!token) { $("#error").textContent = h("notLoggedIn"); return; }
  const params = new URLSearchParams(location.search);
  const query = new URLSearchParams();
  for (const k of ["from", "to"]) if (params.get(k)) query.set(k, params.get(k));
  const resp = await fetch(`/api/v1/handover?${query}`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) { $("#error").textContent = `${resp.status} ${body?.detail ?? resp.statusText}`; return; }
  $("#from").value = localInput(new Date(body.from));
  $("#to").value = localInput(new Date(body.to));
  $("#window").textContent = h("window", { f: when(body.from), t: when(body.to) });
  fill("open", body.open.map((a) => row(
    [when(a.raised_at), `${s(`sev_${a.severity}`)} · ${s(`kind_${a.kind}`)}`, whoOf(a), s(`st_${a.status}`), a.responder],
    { "data-alert-id": a.id, class: `sev-${a.severity}` })), 5);
  fill("resolved", body.resolved.map((a) => row(
    [when(a.raised_at), s(`kind_${a.kind}`), whoOf(a), s(`outcome_${a.outcome}`), `${when(a.resolved_at)} ${a.resolved_by ?? ""}`, a.note],
    { "data-alert-id": a.id })), 6);
  const kinds = window.I18N[lang].device_kinds || {};
  fill("offline", body.offline_devices.map((d) => row(
    [`${kinds[d.kind] || d.kind} ${d.device_id}`, d.home_name || d.home_id, d.location,
      `${when(d.last_seen)}${d.status_offline ? ` · ${h("statusOffline")}` : ""}${d.open_alert_id ? ` · ${h("openAlert", { id: d.open_alert_id })}` : ""}`],
    { "data-device-id": d.device_id })), 4);
  fill("watch", body.watch.map((w) => row(
    [[w.home_name || w.home_id, w.resident_name || w.resident_id].filter(Boolean).join(" · "), String(w.alerts),
      w.kinds.map((k) => s(`kind_${k}`)).join("、"), w.notes.map((n) => `${when(n.at)} ${n.by ?? ""}: ${n.text}`).join(" / ")],
    { "data-resident-id": w.resident_id ?? "", "data-home-id": w.home_id })), 4);
  $("#watch-rule").textContent = h("rule");
}

document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.lang = lang;
  document.title = h("title");
  $("#title").textContent = h("title");
  for (const e of document.querySelectorAll("[data-h]")) e.textContent = h(e.dataset.h);
  $("#window-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if ($("#from").value) query.set("from", new Date($("#from").value).toISOString());
    if ($("#to").value) query.set("to", new Date($("#to").value).toISOString());
    history.replaceState(null, "", `?${query}`);
    load();
  });
  $("#print").addEventListener("click", () => window.print());
  load();
});
