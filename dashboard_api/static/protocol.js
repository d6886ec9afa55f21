// The response protocol on an alert card (a checklist per alert kind, each tick on
// the timeline), and the operator's notes and phone calls (forms in two dialogs).
// Data: GET /api/v1/alerts/{id}/protocol; POST .../protocol/{step}, .../notes, .../calls.
"use strict";

Object.assign(window.I18N["zh-CN"], {
  protocol: "处置流程", protocolCentre: "本中心流程", addNote: "写备注", addCall: "记录通话",
  noteTitle: "备注", noteWatch: "交接班重点关注此老人", save: "保存",
  callTitle: "记录通话", callWho: "打给谁", callee_resident: "老人本人", callee_other: "其他人",
  callName: "姓名", callPhone: "电话", callOutcome: "结果", callNote: "备注",
  call_answered: "已接通", call_no_answer: "无人接听", call_busy: "占线", call_wrong_number: "号码错误",
  ev_note: "备注", ev_call: "通话", ev_protocol_step: "流程", watchMark: "（重点关注）",
  handover: "交接班",
});
Object.assign(window.I18N.en, {
  protocol: "Protocol", protocolCentre: "this centre's protocol", addNote: "Add note", addCall: "Log call",
  noteTitle: "Note", noteWatch: "Watch this resident at the handover", save: "Save",
  callTitle: "Log a call", callWho: "Who was called", callee_resident: "The resident", callee_other: "Someone else",
  callName: "Name", callPhone: "Phone", callOutcome: "Outcome", callNote: "Note",
  call_answered: "Answered", call_no_answer: "No answer", call_busy: "Busy", call_wrong_number: "Wrong number",
  ev_note: "Note", ev_call: "Call", ev_protocol_step: "Protocol", watchMark: " (watch)",
  handover: "Handover",
});

const alertProtocols = new Map(); // alert id -> GET /api/v1/alerts/{id}/protocol

async function loadProtocol(id) {
  try {
    const found = await api(`/api/v1/alerts/${id}/protocol`);
    alertProtocols.set(id, found);
    renderAlerts();
  } catch (e) { /* shown on the next change */ }
}

function stepText(step) {
  return step.text[state.lang] || step.text["zh-CN"];
}

function protocolBlock(alert) {
  const p = alertProtocols.get(alert.id);
  if (!p) return null;
  const items = p.steps.map((s) => {
    const box = el("input", { type: "checkbox", class: "step-box", dataset: { step: s.id }, "aria-label": stepText(s) });
    box.checked = s.done;
    if (s.done) box.disabled = true;
    else box.addEventListener("change", () => tickStep(alert.id, s.id, box));
    return el("li", { class: `step${s.done ? " done" : ""}`, dataset: { step: s.id } },
      el("label", {}, box, " ", el("span", { class: "step-text" }, stepText(s))),
      s.done ? el("span", { class: "step-by" }, ` ${s.by ?? ""} ${fmtTime(s.at)}`) : null);
  });
  const title = p.source === "centre" ? `${t("protocol")} · ${t("protocolCentre")}` : t("protocol");
  return el("div", { class: "protocol-block", dataset: { source: p.source } },
    el("h4", {}, title), el("ol", { class: "protocol" }, ...items));
}

async function tickStep(id, step, box) {
  box.disabled = true;
  try {
    await api(`/api/v1/alerts/${id}/protocol/${encodeURIComponent(step)}`, { method: "POST" });
  } catch (e) {
    if (e.status !== 409 && e.status !== 401) window.alert(t("actionFailed", { e: e.message }));
  }
  loadTimeline(id);
}

function staffButtons(alert) {
  return el("div", { class: "staff-actions" },
    el("button", { type: "button", class: "act act-note", dataset: { action: "note" }, onclick: () => askNote(alert.id) }, t("addNote")),
    el("button", { type: "button", class: "act act-call", dataset: { action: "call" }, onclick: () => askCall(alert.id) }, t("addCall")));
}

async function postStaff(id, what, body) {
  try {
    await api(`/api/v1/alerts/${id}/${what}`, { method: "POST", json: body });
  } catch (e) {
    if (e.status !== 401) window.alert(t("actionFailed", { e: e.message }));
  }
  loadTimeline(id);
}

function askNote(id) {
  const dialog = $("#note-dialog");
  $("#note-text").value = "";
  $("#note-watch").checked = false;
  dialog.onclose = () => {
    const text = $("#note-text").value.trim();
    if (dialog.returnValue === "ok" && text) postStaff(id, "notes", { text, watch: $("#note-watch").checked });
  };
  dialog.showModal();
}

function askCall(id) {
  const dialog = $("#call-dialog");
  const who = $("#call-who");
  who.textContent = "";
  who.append(el("option", { value: "resident" }, t("callee_resident")));
  for (const c of (state.details.get(id) || { contacts: [] }).contacts) {
    who.append(el("option", { value: `contact:${c.id}` }, `${c.name} ${phoneText(c.phone)}`));
  }
  who.append(el("option", { value: "other" }, t("callee_other")));
  $("#call-name").value = "";
  $("#call-phone").value = "";
  $("#call-note").value = "";
  $("#call-outcome").value = "answered";
  dialog.onclose = () => {
    if (dialog.returnValue !== "ok") return;
    const [callee, contact] = who.value.split(":");
    const body = { callee, outcome: $("#call-outcome").value };
    if (contact) body.contact_id = Number(contact);
    if (callee === "other") body.name = $("#call-name").value.trim();
    if ($("#call-phone").value.trim()) body.phone = $("#call-phone").value.trim();
    if ($("#call-note").value.trim()) body.note = $("#call-note").value.trim();
    postStaff(id, "calls", body);
  };
  dialog.showModal();
}

// The timeline's line for what an operator did (card.js calls it).
function protocolLine(e) {
  const d = e.details || {};
  if (e.event === "protocol_step") return `${t("ev_protocol_step")} ✓ ${(d.text && (d.text[state.lang] || d.text["zh-CN"])) || d.step}`;
  if (e.event === "note") return `${t("ev_note")}: ${d.text ?? ""}${d.watch ? t("watchMark") : ""}`;
  if (e.event === "call") {
    const who = d.callee === "resident" ? (d.name || t("callee_resident")) : (d.name || "");
    return `${t("ev_call")} → ${who}: ${t(`call_${d.outcome}`)}${d.note ? ` (${d.note})` : ""}`;
  }
  return e.event;
}
