// Who an alert is assigned to, and a button to claim it (issue 15 item 2). The
// assignee is the newest "assigned" entry of the alert's timeline: a claim on
// any screen goes on the live stream, every screen re-reads the alert's detail
// and shows the new responder at once.
"use strict";

Object.assign(window.I18N["zh-CN"], {
  claim: "认领", assignedTo: "负责人：{r}", unassigned: "尚无负责人", ev_assigned: "已指派",
});
Object.assign(window.I18N.en, {
  claim: "Claim", assignedTo: "Assigned to {r}", unassigned: "Nobody assigned", ev_assigned: "assigned",
});

function signedInAs() {
  // the token's subject (the API checks the token; this only decides whether to offer "Claim")
  try { return JSON.parse(atob(state.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub; }
  catch (e) { return null; }
}

function assigneeOf(detail) {
  if (!detail || !detail.timeline) return null;
  const last = detail.timeline.filter((e) => e.event === "assigned").pop();
  return last ? (last.details || {}).responder || null : null;
}

async function claimAlert(id) {
  try { await api(`/api/v1/alerts/${id}/claim`, { method: "POST" }); }
  catch (e) { window.alert(e.message); }
  const a = state.alerts.get(id);
  if (a && a.resident_id && typeof recordCache !== "undefined") {
    // the assigned responder may now see the key-safe code (record.js reads it again)
    recordCache.records.delete(a.resident_id); recordCache.asked.delete(a.resident_id);
  }
  loadTimeline(id);
}

// The assignee line of an alert card, with a Claim button unless it is already yours.
function assignBlock(alert, detail) {
  if (!detail) return null;
  const who = assigneeOf(detail);
  const mine = who && who === signedInAs();
  return el("div", { class: `assignee${who ? "" : " none"}`, dataset: { assignee: who || "" } },
    el("span", { class: "who-assigned" }, who ? t("assignedTo", { r: who }) : t("unassigned")),
    mine ? null : el("button", { type: "button", class: "act act-claim", onclick: () => claimAlert(alert.id) }, t("claim")),
    window.assignTools ? window.assignTools(alert) : null); // supervise.js
}
window.assignBlock = assignBlock;

// --- the "on duty now" panel (GET /api/v1/roster), above the homes ----------------
Object.assign(window.I18N["zh-CN"], { onDuty: "当班人员", free: "空闲", onAlert: "处理中 #{ids}", nobodyOnDuty: "排班表上无人当班" });
Object.assign(window.I18N.en, { onDuty: "On duty", free: "free", onAlert: "on alert #{ids}", nobodyOnDuty: "Nobody on the roster" });

const rosterState = { timer: null, assignees: new Map(), asked: 0, onDuty: [] };

async function refreshRoster() {
  const asked = ++rosterState.asked;
  let roster;
  try { roster = await api("/api/v1/roster"); } catch (e) { return; }
  if (asked !== rosterState.asked) return;
  const before = rosterState.onDuty.map((r) => r.username).join(",");
  rosterState.onDuty = roster.on_duty;
  let panel = document.getElementById("roster-panel");
  if (!panel) {
    const heading = document.getElementById("homes-heading");
    if (!heading) return;
    panel = el("div", { id: "roster-panel", class: "roster-panel" });
    heading.before(panel);
  }
  const items = roster.on_duty.map((r) => el("li", { class: `responder ${r.free ? "free" : "busy"}`, dataset: { username: r.username } },
    el("span", { class: "rname" }, r.username), " ",
    r.phone ? el("span", { class: "phone" }, phoneText(r.phone)) : null, " ",
    el("span", { class: "rstate" }, r.free ? t("free") : t("onAlert", { ids: r.alerts.join(", #") })), " ",
    window.rosterTools ? window.rosterTools(r) : null)); // supervise.js
  if (!items.length) items.push(el("li", { class: "responder none" }, t("nobodyOnDuty")));
  panel.replaceChildren(el("h3", {}, t("onDuty")), el("ul", { class: "roster" }, ...items),
    window.rosterPanelTools ? window.rosterPanelTools() : null);
  // the "Assign to" choices of the cards (supervise.js) are who is on duty
  if (before !== roster.on_duty.map((r) => r.username).join(",")) renderAlerts();
}

function rosterTick() {
  if (!state.token) { clearInterval(rosterState.timer); rosterState.timer = null; return; }
  refreshRoster();
}

// Called from each card render: a new assignee (on any screen) refreshes the panel.
const assignBlockCard = assignBlock;
window.assignBlock = (alert, detail) => {
  if (!rosterState.timer && state.token) { rosterState.timer = setInterval(rosterTick, 15000); refreshRoster(); }
  const who = assigneeOf(detail);
  if (detail && rosterState.assignees.get(alert.id) !== who) {
    const was = rosterState.assignees.get(alert.id);
    rosterState.assignees.set(alert.id, who);
    setTimeout(refreshRoster, 0);
    const me = signedInAs();
    if (alert.resident_id && typeof recordCache !== "undefined" && was !== undefined && (who === me || was === me)) {
      // given to me (or taken from me) on another screen: the key-safe code shows (or hides)
      recordCache.records.delete(alert.resident_id); recordCache.asked.delete(alert.resident_id);
      setTimeout(renderAlerts, 0);
    }
  }
  return assignBlockCard(alert, detail);
};
