// The parts of an alert card that come from GET /api/v1/alerts/{id}: where to
// go (address, resident), whom to call (family contacts with this alert's
// messages and their replies) and what happened (the timeline: each SMS or
// call with its delivery status, each staff action with who and when).
"use strict";

const TIMELINE_SHOWN = 8;
const FAILED = new Set(["failed", "undelivered", "busy", "no-answer", "canceled", "suppressed", "unknown"]);

function statusText(status) { return status ? t(`ds_${status}`) : ""; }

function phoneText(phone) {
  // +86 138 0013 8000: readable at a glance, still the E.164 number
  const m = /^\+86(\d{3})(\d{4})(\d{4})$/.exec(phone || "");
  return m ? `+86 ${m[1]} ${m[2]} ${m[3]}` : phone || "";
}

function addressLine(detail) {
  if (!detail || !detail.home || !detail.home.address) return null;
  return el("div", { class: "address" }, el("span", { class: "label" }, `${t("address")} `), detail.home.address);
}

function contactsBlock(detail) {
  if (!detail) return null;
  const items = detail.contacts.map((c) => {
    const last = c.replies.length ? c.replies[c.replies.length - 1] : null;
    return el("li", { class: `contact${c.handling ? " handling" : ""}`, dataset: { contactId: c.id } },
      el("span", { class: "cname" }, c.name),
      el("span", { class: "phone" }, phoneText(c.phone)),
      c.last_status ? el("span", { class: `dstatus${FAILED.has(c.last_status) ? " bad" : ""}` }, statusText(c.last_status)) : null,
      last ? el("span", { class: "reply" }, `“${last.body}”${last.handling ? t("handling") : ""}`) : null);
  });
  if (!items.length) items.push(el("li", { class: "contact none" }, t("noContacts")));
  return el("div", { class: "contacts-block" }, el("h4", {}, t("contacts")), el("ul", { class: "contacts" }, ...items));
}

function recipientName(d, detail) {
  if (d.recipient_kind === "supervisor") return `${t("supervisor")} ${phoneText(d.recipient)}`;
  const c = detail.contacts.find((x) => x.id === d.contact_id);
  return c ? c.name : phoneText(d.recipient);
}

// One line per timeline entry; an SMS or call carries its newest delivery status.
function timelineLines(detail) {
  const lines = [];
  const byProvider = new Map();
  for (const e of detail.timeline) {
    const d = e.details || {};
    const who = e.actor && e.actor !== "system" ? ` — ${e.actor}` : "";
    let text = null;
    let cls = `ev ev-${e.event}`;
    switch (e.event) {
      case "notified": {
        const line = { at: e.at, cls, status: d.status, text: `${t(d.kind === "voice" ? "voice" : "sms")} → ${recipientName(d, detail)}` };
        if (d.provider_id) byProvider.set(d.provider_id, line);
        lines.push(line);
        continue;
      }
      case "delivery": {
        const line = byProvider.get(d.provider_id);
        if (line) line.status = d.status;
        continue;
      }
      case "escalated": continue; // its messages are the notified lines
      case "raised": text = t("ev_raised"); break;
      case "repeated": text = t("ev_repeated", { n: d.count ?? "" }); break;
      case "dispatched": text = t("ev_dispatched", { r: d.responder ?? "" }) + who; break;
      case "resolved": text = t("ev_resolved", { o: t(`outcome_${d.outcome}`) }) + who; break;
      case "family_reply": text = `${t("ev_family_reply")} ${d.contact_name || phoneText(d.phone)}: “${d.body ?? ""}”${d.handling ? t("handling") : ""}`; break;
      case "window_breached": text = t("ev_window_breached"); cls += " bad"; break;
      case "note": case "call": case "protocol_step": text = protocolLine(e) + who; break; // protocol.js
      default: text = (window.I18N[state.lang][`ev_${e.event}`] ? t(`ev_${e.event}`) : e.event) + who;
    }
    lines.push({ at: e.at, cls, text });
  }
  return lines;
}

function timelineBlock(detail) {
  if (!detail) return null;
  const lines = timelineLines(detail);
  const shown = lines.slice(-TIMELINE_SHOWN);
  const items = shown.map((l) => el("li", { class: l.cls },
    el("time", { datetime: l.at }, fmtTime(l.at)), " ", l.text,
    l.status ? el("span", { class: `dstatus${FAILED.has(l.status) ? " bad" : ""}` }, ` ${statusText(l.status)}`) : null));
  if (lines.length > shown.length) items.unshift(el("li", { class: "ev older" }, t("older", { n: lines.length - shown.length })));
  const next = (detail.escalation || []).find((s) => s.state === "pending" || s.state === "claimed");
  if (next && ["open", "acknowledged", "dispatched"].includes(detail.status)) {
    const what = `${t(`step_${next.action}`)} ${t(`tgt_${next.target}`).startsWith("tgt_") ? "" : t(`tgt_${next.target}`)}`.trim();
    items.push(el("li", { class: "ev next" }, t("nextStep", { t: fmtTime(next.due_at), what })));
  }
  return el("div", { class: "timeline-block" }, el("h4", {}, t("timeline")), el("ol", { class: "timeline" }, ...items));
}
