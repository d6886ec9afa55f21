// The supervisors' editors on the screen (issue 15 items 1, 2, 3 and 5), each
// through the API a script would use:
// - a home tile's "Silence" (POST /api/v1/silences: the home or one device until
//   an end time) and a silence's "Lift" (POST /api/v1/silences/{id}/end);
//   an incident's "End" (POST /api/v1/incidents/{id}/end);
// - a resident's "Record" editor (GET, PUT /api/v1/residents/{id}/record);
// - the on-duty panel's "Put on duty" / "Off duty" (POST, DELETE
//   /api/v1/roster/shifts) and an alert card's "Assign to" (POST
//   /api/v1/alerts/{id}/assign);
// - the centre's protocols (GET, PUT, DELETE /api/v1/protocols).
// Shown only to supervisors and admins (GET /api/v1/auth/me); the API checks
// the role of every request anyway. Loaded after roster.js, before app.js.
"use strict";

Object.assign(window.I18N["zh-CN"], {
  silenceHome: "静默", silenceTitle: "维护静默：{h}", silenceWhat: "范围", silenceEnds: "结束时间",
  silenceReason: "原因", silenceHint: "静默期间除紧急呼叫外不产生警报", liftSilence: "解除",
  endIncident: "结束事件", editRecord: "档案", recordTitle: "编辑档案：{r}", onePerLine: "每行一项",
  rec_gp_phone: "医生电话", rec_dialect: "方言", none: "—",
  assignTo: "指派给", assign: "指派", putOnDuty: "排班", putOnDutyTitle: "安排当班",
  dutyUser: "用户名", dutyHours: "小时数", offDuty: "下班",
  protocolsEdit: "流程设置", protocolsTitle: "处置流程设置", protocolKind: "警报类型",
  protocolStep: "步骤", addStep: "加一步", removeStep: "删除", protocolsReset: "恢复默认流程",
  protocolSource_centre: "本中心流程", protocolSource_default: "默认流程", saved: "已保存",
});
Object.assign(window.I18N.en, {
  silenceHome: "Silence", silenceTitle: "Maintenance silence: {h}", silenceWhat: "What",
  silenceEnds: "Ends at", silenceReason: "Reason", silenceHint: "No alerts but SOS until the end time",
  liftSilence: "Lift", endIncident: "End incident", editRecord: "Record", recordTitle: "Edit record: {r}",
  onePerLine: "one per line", rec_gp_phone: "GP phone", rec_dialect: "Dialect", none: "—",
  assignTo: "Assign to", assign: "Assign", putOnDuty: "Put on duty", putOnDutyTitle: "Put on duty",
  dutyUser: "Username", dutyHours: "Hours", offDuty: "Off duty",
  protocolsEdit: "Protocols", protocolsTitle: "This centre's protocols", protocolKind: "Alert kind",
  protocolStep: "Step", addStep: "Add a step", removeStep: "Remove", protocolsReset: "Back to the defaults",
  protocolSource_centre: "this centre's", protocolSource_default: "the default", saved: "Saved",
});

const sup = { me: null };

function isSupervisor() {
  return !!sup.me && (sup.me.role === "supervisor" || sup.me.role === "admin");
}

async function loadMe() {
  sup.me = null;
  try { sup.me = await api("/api/v1/auth/me"); } catch (e) { return; }
  const link = document.getElementById("protocols-link");
  if (link) link.hidden = !isSupervisor();
  renderHomes();
  renderAlerts();
  renderIncidents();
  refreshRoster();
}

// A dialog built once from fields; submit calls save(), which may throw (the
// message stays in the dialog, which stays open).
function editorDialog(id) {
  let dialog = document.getElementById(id);
  if (!dialog) {
    dialog = el("dialog", { id, class: "editor" });
    document.body.append(dialog);
  }
  return dialog;
}

function openEditor(id, title, fields, save) {
  const dialog = editorDialog(id);
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "editor-form" },
    el("h3", {}, title), ...fields, error,
    el("menu", {},
      el("button", { type: "button", class: "cancel", onclick: () => dialog.close() }, t("cancel")),
      el("button", { type: "submit", class: "save" }, t("save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try { await save(); dialog.close(); }
    catch (e) { error.textContent = t("actionFailed", { e: e.message }); }
  });
  dialog.replaceChildren(form);
  dialog.showModal();
  return dialog;
}

function field(label, input) {
  return el("label", { class: "field" }, el("span", {}, label), input);
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// --- silences and incidents ---------------------------------------------------------

async function askSilence(home) {
  let devices = [];
  try { devices = await api(`/api/v1/devices?home_id=${encodeURIComponent(home.id)}`); } catch (e) { /* whole home only */ }
  const kinds = window.I18N[state.lang].device_kinds;
  const what = el("select", { id: "silence-device" }, el("option", { value: "" }, ft("wholeHome")),
    ...devices.map((d) => el("option", { value: d.id }, `${kinds[d.kind] || d.kind} · ${d.id}`)));
  const ends = el("input", { id: "silence-ends", type: "datetime-local", required: "" });
  ends.value = localInputValue(new Date(Date.now() + 2 * 3600000));
  const reason = el("input", { id: "silence-reason", maxlength: "500" });
  openEditor("silence-dialog", t("silenceTitle", { h: home.name }), [
    field(t("silenceWhat"), what), field(t("silenceEnds"), ends), field(t("silenceReason"), reason),
    el("p", { class: "hint" }, t("silenceHint"))], async () => {
    const at = new Date(ends.value);
    if (Number.isNaN(at.getTime())) throw new Error(t("silenceEnds"));
    const body = { home_id: home.id, ends_at: at.toISOString(), reason: reason.value.trim() };
    if (what.value) body.device_id = what.value;
    await api("/api/v1/silences", { method: "POST", json: body });
    loadFloods();
  });
}

async function liftSilence(id) {
  try { await api(`/api/v1/silences/${id}/end`, { method: "POST" }); }
  catch (e) { if (e.status !== 401) window.alert(t("actionFailed", { e: e.message })); }
  loadFloods();
}

async function endIncident(id) {
  try { await api(`/api/v1/incidents/${id}/end`, { method: "POST" }); }
  catch (e) { if (e.status !== 401) window.alert(t("actionFailed", { e: e.message })); }
  loadFloods();
  loadAlerts();
}

window.silenceTools = (s) => (isSupervisor() && s.active
  ? el("button", { type: "button", class: "act act-lift", onclick: () => liftSilence(s.id) }, t("liftSilence")) : null);
window.incidentTools = (inc) => (isSupervisor()
  ? el("button", { type: "button", class: "act act-end-incident", onclick: () => endIncident(inc.id) }, t("endIncident")) : null);

// --- the resident record ------------------------------------------------------------

const RECORD_LISTS = ["conditions", "medications", "allergies"];
const RECORD_LINES = ["gp_name", "gp_phone", "hospital", "language", "dialect", "key_safe_code", "pets"];
const MOBILITY = ["independent", "walking_aid", "wheelchair", "bedbound"];
const HEARING = ["normal", "hard_of_hearing", "hearing_aid", "deaf"];

function choice(name, values, prefix, current) {
  const select = el("select", { name }, el("option", { value: "" }, t("none")),
    ...values.map((v) => el("option", { value: v }, t(`${prefix}_${v}`))));
  select.value = current || "";
  return select;
}

async function askRecord(resident) {
  let r;
  try { r = await api(`/api/v1/residents/${encodeURIComponent(resident.id)}/record`); }
  catch (e) { window.alert(t("actionFailed", { e: e.message })); return; }
  const inputs = {};
  const fields = [];
  const born = el("input", { name: "date_of_birth", type: "date" });
  born.value = r.date_of_birth || "";
  inputs.date_of_birth = born;
  fields.push(field(t("rec_born"), born));
  for (const k of RECORD_LISTS) {
    const box = el("textarea", { name: k, rows: "2", placeholder: t("onePerLine") });
    box.value = (r[k] || []).join("\n");
    inputs[k] = box;
    fields.push(field(t(`rec_${k}`), box));
  }
  inputs.mobility = choice("mobility", MOBILITY, "mob", r.mobility);
  inputs.hearing = choice("hearing", HEARING, "hear", r.hearing);
  fields.push(field(t("rec_mobility"), inputs.mobility), field(t("rec_hearing"), inputs.hearing));
  for (const k of RECORD_LINES) {
    const line = el("input", { name: k, maxlength: k === "key_safe_code" ? "16" : "200" });
    line.value = r[k] || "";
    inputs[k] = line;
    fields.push(field(t(k === "gp_name" ? "rec_gp" : `rec_${k.replace("_code", "")}`), line));
  }
  const entry = el("textarea", { name: "entry_instructions", rows: "2", maxlength: "2000" });
  entry.value = r.entry_instructions || "";
  inputs.entry_instructions = entry;
  fields.push(field(t("rec_entry"), entry));
  openEditor("record-dialog", t("recordTitle", { r: resident.name }), fields, async () => {
    const body = {};
    for (const [k, input] of Object.entries(inputs)) {
      const v = input.value.trim();
      if (RECORD_LISTS.includes(k)) body[k] = v.split("\n").map((x) => x.trim()).filter(Boolean);
      else if (v) body[k] = v;
    }
    await api(`/api/v1/residents/${encodeURIComponent(resident.id)}/record`, { method: "PUT", json: body });
    recordCache.records.delete(resident.id); recordCache.asked.delete(resident.id);
    renderAlerts();
  });
}

// The tools of a home tile: silence it, edit its residents' records.
window.homeTools = (home) => {
  if (!isSupervisor()) return null;
  const residents = [...state.residents.values()].filter((r) => r.home_id === home.id);
  return el("div", { class: "home-tools" },
    el("button", { type: "button", class: "act act-silence", onclick: () => askSilence(home) }, t("silenceHome")),
    ...residents.map((r) => el("button", { type: "button", class: "act act-record", dataset: { resident: r.id }, onclick: () => askRecord(r) },
      `${t("editRecord")} · ${r.name}`)));
};

// --- the roster: put on duty, off duty, assign an alert ------------------------------

async function assignAlert(id, username) {
  try { await api(`/api/v1/alerts/${id}/assign`, { method: "POST", json: { username } }); }
  catch (e) { if (e.status !== 401) window.alert(t("actionFailed", { e: e.message })); }
  loadTimeline(id);
}

window.assignTools = (alert) => {
  const onDuty = rosterState.onDuty || [];
  if (!isSupervisor() || !onDuty.length) return null;
  const pick = el("select", { class: "assign-pick", "aria-label": t("assignTo") },
    ...onDuty.map((r) => el("option", { value: r.username }, `${r.username} · ${r.free ? t("free") : t("onAlert", { ids: r.alerts.join(", #") })}`)));
  return el("span", { class: "assign-tools" }, pick,
    el("button", { type: "button", class: "act act-assign", onclick: () => assignAlert(alert.id, pick.value) }, t("assign")));
};

function askShift() {
  const user = el("input", { id: "duty-user", required: "", maxlength: "64" });
  const hours = el("input", { id: "duty-hours", type: "number", min: "1", max: "24", value: "8", required: "" });
  openEditor("duty-dialog", t("putOnDutyTitle"), [field(t("dutyUser"), user), field(t("dutyHours"), hours)], async () => {
    const now = new Date();
    const ends = new Date(now.getTime() + Number(hours.value) * 3600000);
    await api("/api/v1/roster/shifts", { method: "POST", json: { username: user.value.trim(), starts_at: now.toISOString(), ends_at: ends.toISOString() } });
    refreshRoster();
  });
}

async function offDuty(shiftId) {
  try { await api(`/api/v1/roster/shifts/${shiftId}`, { method: "DELETE" }); }
  catch (e) { if (e.status !== 401) window.alert(t("actionFailed", { e: e.message })); }
  refreshRoster();
}

window.rosterTools = (responder) => (isSupervisor()
  ? el("button", { type: "button", class: "act act-off-duty", onclick: () => offDuty(responder.shift_id) }, t("offDuty")) : null);
window.rosterPanelTools = () => (isSupervisor()
  ? el("button", { type: "button", class: "act act-on-duty", onclick: askShift }, t("putOnDuty")) : null);

// --- the centre's protocols ---------------------------------------------------------

async function askProtocols(kind) {
  let doc;
  try { doc = await api("/api/v1/protocols"); } catch (e) { window.alert(t("actionFailed", { e: e.message })); return; }
  const kinds = Object.keys(doc.protocols);
  const pick = el("select", { id: "protocol-kind" }, ...kinds.map((k) => el("option", { value: k }, t(`kind_${k}`))));
  pick.value = kind && kinds.includes(kind) ? kind : kinds[0];
  const source = el("p", { class: "protocol-source" });
  const rows = el("ol", { class: "protocol-rows" });
  const stepRow = (s) => el("li", { class: "protocol-row", dataset: { step: s.id } },
    el("input", { class: "step-zh", maxlength: "200", required: "", value: s["zh-CN"], "aria-label": "zh-CN" }),
    el("input", { class: "step-en", maxlength: "200", required: "", value: s.en, "aria-label": "en" }),
    el("button", { type: "button", class: "act act-remove-step", onclick: (ev) => ev.target.closest("li").remove() }, t("removeStep")));
  const show = () => {
    const centre = doc.centre_kinds.includes(pick.value);
    source.textContent = t(`protocolSource_${centre ? "centre" : "default"}`);
    rows.replaceChildren(...doc.protocols[pick.value].steps.map(stepRow));
  };
  pick.addEventListener("change", show);
  show();
  const add = el("button", { type: "button", class: "act act-add-step", onclick: () => {
    const used = new Set([...rows.children].map((li) => li.dataset.step));
    let n = rows.children.length + 1;
    while (used.has(`step_${n}`)) n++;
    rows.append(stepRow({ id: `step_${n}`, "zh-CN": "", en: "" }));
  } }, t("addStep"));
  const reset = el("button", { type: "button", class: "act act-reset-protocols", onclick: async () => {
    try { await api("/api/v1/protocols", { method: "DELETE" }); } catch (e) { window.alert(t("actionFailed", { e: e.message })); return; }
    editorDialog("protocols-dialog").close();
    afterProtocols();
  } }, t("protocolsReset"));
  openEditor("protocols-dialog", t("protocolsTitle"), [field(t("protocolKind"), pick), source, rows, add, reset], async () => {
    const centre = {};
    for (const k of doc.centre_kinds) centre[k] = doc.protocols[k];
    centre[pick.value] = { steps: [...rows.children].map((li) => ({
      id: li.dataset.step, "zh-CN": li.querySelector(".step-zh").value.trim(), en: li.querySelector(".step-en").value.trim() })) };
    await api("/api/v1/protocols", { method: "PUT", json: centre });
    afterProtocols();
  });
}

function afterProtocols() {
  // every open card shows the centre's checklist at once
  for (const id of state.alerts.keys()) if (id > 0 && !isIncidentMember(id)) loadProtocol(id);
}

document.addEventListener("DOMContentLoaded", () => {
  const right = document.querySelector(".topbar-right");
  if (!right) return;
  const link = el("button", { type: "button", id: "protocols-link", class: "link", dataset: { i18n: "protocolsEdit" }, onclick: () => askProtocols() }, t("protocolsEdit"));
  link.hidden = true;
  right.prepend(link);
});
