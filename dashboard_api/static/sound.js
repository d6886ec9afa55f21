// Sound and re-alarms of the care-centre screen.
//
// Browsers let a page play sound only after a click on it (autoplay rules), so
// after every page load the screen shows a large banner until sound is on.
// An alert alarms (sound + a flash of its card and the screen's edge) when it
// is new (critical), pressed or raised again (×2), escalates (a step of its
// ladder after the raise ran) or breaches its response window; each reason
// once per alert. Tests read window.alarms and window.beeps.
"use strict";

const FLASH_MS = 8000;
window.alarms = [];

function ensureAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!state.audio && Ctx) {
    state.audio = new Ctx();
    state.audio.addEventListener("statechange", renderSoundBanner);
  }
  return state.audio;
}

function soundOn() { return !!state.audio && state.audio.state === "running"; }

function unlockAudio() {
  const ctx = ensureAudio();
  if (ctx && ctx.state === "suspended") ctx.resume().then(renderSoundBanner, renderSoundBanner);
  renderSoundBanner();
}

function renderSoundBanner() {
  const banner = document.getElementById("sound-banner");
  if (!banner) return;
  const on = soundOn();
  banner.hidden = on || document.getElementById("screen").hidden;
  document.body.dataset.sound = on ? "on" : "off";
}

function beep() {
  const ctx = state.audio;
  if (!ctx || ctx.state !== "running") return false;
  const now = ctx.currentTime;
  for (let i = 0; i < 3; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    osc.frequency.value = i % 2 ? 660 : 880;
    gain.gain.setValueAtTime(0.0001, now + i * 0.3);
    gain.gain.exponentialRampToValueAtTime(0.3, now + i * 0.3 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.3 + 0.25);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + i * 0.3);
    osc.stop(now + i * 0.3 + 0.26);
  }
  window.beeps = (window.beeps || 0) + 1;
  return true;
}

// Sound and flash for one alert, once per (alert, key).
function alarm(alert, reason, key) {
  let keys = state.alarmed.get(alert.id);
  if (!keys) state.alarmed.set(alert.id, (keys = new Set()));
  if (keys.has(key)) return;
  keys.add(key);
  const sounded = beep();
  window.alarms.push({ id: alert.id, reason, key, sound: sounded });
  state.flashUntil.set(alert.id, Date.now() + FLASH_MS);
  const edge = document.getElementById("flash-edge");
  if (edge) { edge.classList.remove("on"); void edge.offsetWidth; edge.classList.add("on"); }
  renderAlerts();
  setTimeout(renderAlerts, FLASH_MS + 50);
}

function alarmWorthy(alert) { return alert.severity === "critical" || alert.severity === "high"; }

// A change on the live stream: new, or raised again (its count: once per count).
function alarmOnChange(alert, known) {
  if (alert.change === "raised" && !known && alert.severity === "critical") alarm(alert, "new", "raised");
  else if (alert.change === "repeated" && alarmWorthy(alert)) alarm(alert, "repeated", `count:${alert.count}`);
}

// After each load of the alert's detail: ladder steps due after the raise that
// have run are escalations (the breach step is the window breached). The first
// load only takes note of what had happened before the page was opened.
function alarmOnSteps(alert, detail) {
  const raised = Date.parse(detail.raised_at);
  const done = (detail.escalation || []).filter((s) => s.state === "done" && Date.parse(s.due_at) - raised >= 1000);
  const first = !state.primed.has(alert.id);
  state.primed.add(alert.id);
  for (const s of done) {
    const key = `step:${s.name}:${s.round}`;
    if (first) {
      if (!state.alarmed.has(alert.id)) state.alarmed.set(alert.id, new Set());
      state.alarmed.get(alert.id).add(key);
    } else if (alarmWorthy(alert)) {
      alarm(alert, s.action === "breach" ? "breached" : "escalated", key);
    }
  }
}

// Alerts whose ladder has no breach step still alarm when the countdown runs out
// while the screen is open.
function alarmOnDeadline(alert, leftMs) {
  const detail = state.details.get(alert.id);
  if (!detail || !alarmWorthy(alert) || (detail.escalation || []).some((s) => s.action === "breach")) return;
  const before = state.leftBefore.get(alert.id);
  state.leftBefore.set(alert.id, leftMs);
  if (before !== undefined && before >= 0 && leftMs < 0) alarm(alert, "breached", "deadline");
}

function flashing(alertId) { return (state.flashUntil.get(alertId) || 0) > Date.now(); }
