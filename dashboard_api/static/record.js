// The resident's record beside an alert card (issue 15): allergies, conditions,
// medications, mobility, hearing, language, GP / hospital, and how to get in
// (key-safe code, entry instructions, pets). Read once per resident and login
// from GET /api/v1/residents/{id}/record; an operator sees the code masked
// (the API masks it), a supervisor's view of it is audited by the API.
"use strict";

Object.assign(window.I18N["zh-CN"], {
  rec_title: "住户档案", rec_allergies: "过敏", rec_conditions: "疾病", rec_medications: "用药",
  rec_mobility: "行动", rec_hearing: "听力", rec_language: "语言", rec_gp: "家庭医生",
  rec_hospital: "医院", rec_key_safe: "钥匙盒密码", rec_hidden: "（仅主管可见）",
  rec_entry: "进门方式", rec_pets: "宠物", rec_born: "出生",
  mob_independent: "可自行走动", mob_walking_aid: "需助行器", mob_wheelchair: "轮椅", mob_bedbound: "卧床",
  hear_normal: "正常", hear_hard_of_hearing: "听力差", hear_hearing_aid: "戴助听器", hear_deaf: "失聪",
});
Object.assign(window.I18N.en, {
  rec_title: "Resident record", rec_allergies: "Allergies", rec_conditions: "Conditions",
  rec_medications: "Medications", rec_mobility: "Mobility", rec_hearing: "Hearing",
  rec_language: "Language", rec_gp: "GP", rec_hospital: "Hospital", rec_key_safe: "Key safe",
  rec_hidden: " (supervisors only)", rec_entry: "Entry", rec_pets: "Pets", rec_born: "Born",
  mob_independent: "independent", mob_walking_aid: "walking aid", mob_wheelchair: "wheelchair",
  mob_bedbound: "bedbound", hear_normal: "normal", hear_hard_of_hearing: "hard of hearing",
  hear_hearing_aid: "hearing aid", hear_deaf: "deaf",
});

const recordCache = { token: null, records: new Map(), asked: new Set() };

async function fetchRecord(residentId) {
  try {
    const record = await api(`/api/v1/residents/${encodeURIComponent(residentId)}/record`);
    recordCache.records.set(residentId, record);
    renderAlerts();
  } catch (e) { recordCache.asked.delete(residentId); /* asked again on the next render */ }
}

function recordRow(key, value, cls) {
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return null;
  const text = Array.isArray(value) ? value.join("，") : value;
  return el("div", { class: `rec-row rec-${cls || key}` }, el("span", { class: "label" }, `${t(`rec_${key}`)} `), text);
}

// The record block of an alert card (null until it is read, or without a resident).
function recordBlock(alert) {
  if (!alert.resident_id) return null;
  if (recordCache.token !== state.token) {
    recordCache.token = state.token; recordCache.records.clear(); recordCache.asked.clear();
  }
  const r = recordCache.records.get(alert.resident_id);
  if (!r) {
    if (!recordCache.asked.has(alert.resident_id)) {
      recordCache.asked.add(alert.resident_id);
      fetchRecord(alert.resident_id);
    }
    return null;
  }
  const code = r.key_safe_code === null ? null : r.key_safe_code + (r.key_safe_code_hidden ? t("rec_hidden") : "");
  const gp = [r.gp_name, r.gp_phone ? phoneText(r.gp_phone) : null].filter(Boolean).join(" ");
  const lang = [r.language, r.dialect].filter(Boolean).join(" · ");
  const rows = [
    recordRow("allergies", r.allergies),
    recordRow("conditions", r.conditions),
    recordRow("medications", r.medications),
    recordRow("mobility", r.mobility ? t(`mob_${r.mobility}`) : null),
    recordRow("hearing", r.hearing ? t(`hear_${r.hearing}`) : null),
    recordRow("language", lang),
    recordRow("born", r.date_of_birth),
    recordRow("gp", gp),
    recordRow("hospital", r.hospital),
    recordRow("key_safe", code, r.key_safe_code_hidden ? "key-safe hidden" : "key-safe"),
    recordRow("entry", r.entry_instructions),
    recordRow("pets", r.pets),
  ].filter(Boolean);
  if (!rows.length) return null;
  return el("div", { class: "record-block", dataset: { resident: alert.resident_id } }, el("h4", {}, t("rec_title")), ...rows);
}
