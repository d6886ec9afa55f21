// Shared by the tiles and report pages: the screen's session token (sessionStorage,
// set by app.js at login), an API call, the screen's language and a few texts.
"use strict";

const PAGE = {
  token: sessionStorage.getItem("token"),
  lang: localStorage.getItem("lang") || "zh-CN",
};

const PAGE_TEXT = {
  "zh-CN": {
    tilesTitle: "住户总览", back: "返回监护屏", reportLink: "月度报告", tilesLink: "住户总览",
    search: "搜索住户编号或老人姓名", all: "全部", alerting: "有警报", device_offline: "设备离线",
    all_well: "一切正常", shown: "显示 {n} / {total} 户", offlineN: "{n} 台设备离线",
    lastSeen: "最近 {t}", never: "从未上线",
    reportTitle: "月度响应报告", from: "起", to: "止", show: "查看", csv: "下载 CSV", pdf: "下载 PDF",
    ack60: "60 秒内确认", ack180: "180 秒内确认", onSite: "时限内到场", alerts: "警报数",
    byMonth: "按月", byKind: "按类型（全部月份）", byOperator: "按值班员", byHome: "按住户",
    month: "月份", key: "名称", failed: "读取失败：{e}",
  },
  en: {
    tilesTitle: "All homes", back: "Back to the screen", reportLink: "Monthly report", tilesLink: "All homes",
    search: "Search home id or resident name", all: "All", alerting: "Alerting",
    device_offline: "Device offline", all_well: "All well", shown: "{n} of {total} homes",
    offlineN: "{n} devices offline", lastSeen: "last seen {t}", never: "never seen",
    reportTitle: "Monthly response report", from: "From", to: "To", show: "Show", csv: "Download CSV",
    pdf: "Download PDF", ack60: "Acknowledged ≤ 60 s", ack180: "Acknowledged ≤ 180 s",
    onSite: "On site in window", alerts: "Alerts", byMonth: "By month", byKind: "By kind (all months)",
    byOperator: "By operator", byHome: "By home", month: "Month", key: "Name", failed: "Could not load: {e}",
  },
};

function pt(key, vars = {}) {
  const text = (PAGE_TEXT[PAGE.lang] || PAGE_TEXT["zh-CN"])[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

function pageEl(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function pageFetch(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${PAGE.token}` } });
  if (resp.status === 401) { location.href = "/"; throw new Error("not logged in"); }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${resp.status} ${detail}`);
  }
  return resp;
}

function translatePage() {
  document.documentElement.lang = PAGE.lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = pt(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-placeholder]")) node.placeholder = pt(node.dataset.tPlaceholder);
}

if (!PAGE.token) location.href = "/";
document.addEventListener("DOMContentLoaded", translatePage);
