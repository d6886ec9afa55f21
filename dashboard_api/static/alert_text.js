// The alert's text in the screen's language, built from its kind and details
// (GET /api/v1/alerts/{id}: details, device, home) instead of the detector's
// English message. Needs t() and state from app.js (called after they exist).
"use strict";

function placeName(location) {
  if (!location) return "";
  const names = window.I18N[state.lang].locations || {};
  return names[location.trim().toLowerCase()] || location;
}

function fmtSpan(seconds) {
  const s = Math.round(Number(seconds) || 0);
  if (s < 120) return t("sec", { n: s });
  if (s < 7200) return t("min", { n: Math.round(s / 60) });
  return t("hours", { n: Number((s / 3600).toFixed(1)) });
}

// A time of day in the home's time zone (the detectors' night windows use it too).
function homeTime(iso, timezone) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  try { return d.toLocaleTimeString(state.lang, { ...opts, timeZone: timezone || undefined }); }
  catch (e) { return d.toLocaleTimeString(state.lang, opts); }
}

function num(x) { return x === undefined || x === null ? "–" : String(Math.round(Number(x) * 10) / 10); }

function alertText(alert, detail) {
  if (!detail) return state.lang === "en" ? alert.message : "";
  const d = detail.details || {};
  const device = detail.device;
  const place = device ? placeName(device.location) : "";
  const at = place ? t("at", { place }) : "";
  const tz = detail.home ? detail.home.timezone : undefined;
  const kinds = window.I18N[state.lang].device_kinds;
  const deviceName = device ? kinds[device.kind] || device.kind : d.device_kind ? kinds[d.device_kind] || d.device_kind : "";
  const vars = {
    at, median: num(d.median), limit: num(d.limit), window: num(d.window_s), seconds: num(d.seconds),
    lel: num(d.lel), battery: num(d.battery), device: deviceName,
  };
  let key = `msg_${alert.kind}`;
  switch (alert.kind) {
    case "fall": key = `msg_fall_${d.how === "floor" || d.how === "timeout" ? d.how : "detected"}`; break;
    case "gas_leak": key = d.alarm || d.lel === undefined ? "msg_gas_alarm" : "msg_gas_lel"; break;
    case "bed_exit_not_returned": vars.time = homeTime(d.out_since, tz); break;
    case "night_wandering": case "door_left_open": vars.time = homeTime(d.opened, tz); break;
    case "inactivity": vars.time = homeTime(d.last_activity, tz); break;
    case "device_offline": key = d.by === "status" ? "msg_device_offline_status" : "msg_device_offline_silence"; break;
    default: break;
  }
  const dict = window.I18N[state.lang];
  if (!(key in dict)) return alert.message;
  let text = t(key, vars);
  if (d.delayed_s) text += t("delayed", { d: fmtSpan(d.delayed_s) });
  return text;
}
