"""Zigbee2MQTT: ``zigbee2mqtt/<friendly_name>`` full-state JSON, ``…/availability``.

Per kind (the registry's), the attributes read (all others are ignored):

- door: ``contact`` (true = closed, so ``open`` = not contact)
- water: ``water_leak``
- gas: ``gas``; ``smoke`` too only with ``"smoke": true`` in the source
- sos_button: ``action``: ``emergency``, ``sos``, ``panic``, ``single``, ``double``,
  ``triple``, ``quadruple``, ``hold``, ``long``, ``press`` … are a press (or the
  source's ``press_actions``); ``""``/``null`` (Zigbee2MQTT's follow-up that clears
  the action) and ``release`` are heartbeats; anything else is unmappable
- fall_radar: ``fall_down_status`` none/maybe_fall/fall and ``fall_status``
  normal/fall_warning/fall_alarm → fall none/suspected/detected; ``presence`` or
  ``occupancy`` → presence
- bed_band: ``heart_rate`` → hr, ``breath_rate``/``respiration_rate``/… → rr,
  ``presence``/``occupancy``/``in_bed`` → in_bed
- every kind: ``battery`` (%), else ``battery_low: true`` → 5 %

Availability: ``{"state": "online"}`` / ``{"state": "offline"}`` (Zigbee2MQTT ≥ 1.22
JSON form) or plain ``online`` / ``offline`` (legacy).
"""

from __future__ import annotations

from typing import Any

from eldercare.device_source import Zigbee2MqttSource
from eldercare.domain import DeviceKind
from gateway.adapters.base import (
    BATTERY_LOW_PCT,
    Availability,
    Outcome,
    Route,
    Update,
    describe,
    flag,
    json_object,
    percent,
    text_payload,
    unmappable,
)
from gateway.decode import Reason, Rejected

ECOSYSTEM = "zigbee2mqtt"
PRESS_ACTIONS = frozenset(
    {
        "emergency",
        "sos",
        "panic",
        "single",
        "double",
        "triple",
        "quadruple",
        "many",
        "hold",
        "long",
        "press",
        "single_press",
        "double_press",
        "long_press",
        "button_1_single",
    }
)
QUIET_ACTIONS = frozenset({"", "release"})
FALL_DOWN_STATUS = {"none": "none", "maybe_fall": "suspected", "fall": "detected"}
FALL_STATUS = {"normal": "none", "fall_warning": "suspected", "fall_alarm": "detected"}
_RR_NAMES = (
    "breath_rate",
    "breathe_rate",
    "breathing_rate",
    "respiration_rate",
    "respiratory_rate",
)


def decode(route: Route, part: str, payload: bytes) -> Outcome:
    if part == "availability":
        return _availability(payload)
    source = route.source
    assert isinstance(source, Zigbee2MqttSource)
    return decode_state(route.device.kind, source, json_object(ECOSYSTEM, payload))


def _availability(payload: bytes) -> Availability:
    text = text_payload(ECOSYSTEM, payload).strip()
    state: Any = text
    if text.startswith("{"):
        body = json_object(ECOSYSTEM, payload)
        state = body.get("state")
    if state == "online":
        return Availability(True)
    if state == "offline":
        return Availability(False)
    raise Rejected(
        Reason.BAD_STATUS,
        f"{ECOSYSTEM}: availability must be online/offline or "
        f'{{"state": "online"|"offline"}}, got {describe(text[:60])}',
    )


def decode_state(kind: DeviceKind, source: Zigbee2MqttSource, body: dict[str, Any]) -> Update:
    fields: dict[str, Any] = {}
    battery = percent(ECOSYSTEM, "battery", body.get("battery"))
    if battery is None and body.get("battery_low") is True:
        battery = BATTERY_LOW_PCT
    if kind is DeviceKind.DOOR:
        if "contact" in body and body["contact"] is not None:
            fields["open"] = not flag(ECOSYSTEM, "contact", body["contact"])
    elif kind is DeviceKind.WATER:
        if "water_leak" in body and body["water_leak"] is not None:
            fields["leak"] = flag(ECOSYSTEM, "water_leak", body["water_leak"])
    elif kind is DeviceKind.GAS:
        alarm: bool | None = None
        if "gas" in body and body["gas"] is not None:
            alarm = flag(ECOSYSTEM, "gas", body["gas"])
        if source.smoke and "smoke" in body and body["smoke"] is not None:
            alarm = bool(alarm) or flag(ECOSYSTEM, "smoke", body["smoke"])
        if alarm is not None:
            fields["alarm"] = alarm
    elif kind is DeviceKind.SOS_BUTTON:
        if "action" in body:
            action = body["action"]
            presses = PRESS_ACTIONS if source.press_actions is None else set(source.press_actions)
            if action is None or (type(action) is str and action in QUIET_ACTIONS):
                pass  # the follow-up that clears the action: a heartbeat, never a press
            elif type(action) is str and action in presses:
                fields["action"] = "press"
            else:
                raise unmappable(
                    ECOSYSTEM,
                    "action",
                    f"{describe(action)} is not a press ({', '.join(sorted(presses))}) "
                    'nor ""/null; set the source\'s press_actions to take it',
                )
    elif kind is DeviceKind.FALL_RADAR:
        for name, table in (("fall_down_status", FALL_DOWN_STATUS), ("fall_status", FALL_STATUS)):
            value = body.get(name)
            if value is None:
                continue
            if type(value) is not str or value not in table:
                raise unmappable(
                    ECOSYSTEM, name, f"must be one of {', '.join(table)}, got {describe(value)}"
                )
            fields["fall"] = table[value]
        for name in ("presence", "occupancy"):
            if body.get(name) is not None:
                fields["presence"] = flag(ECOSYSTEM, name, body[name])
                break
    elif kind is DeviceKind.BED_BAND:
        _vitals(body, fields)
    return Update(fields, battery)


def _vitals(body: dict[str, Any], fields: dict[str, Any]) -> None:
    if "heart_rate" in body:
        fields["hr"] = _rate("heart_rate", body["heart_rate"])
    for name in _RR_NAMES:
        if name in body:
            fields["rr"] = _rate(name, body[name])
            break
    for name in ("in_bed", "presence", "occupancy"):
        if body.get(name) is not None:
            fields["in_bed"] = flag(ECOSYSTEM, name, body[name])
            break


def _rate(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float):
        raise unmappable(ECOSYSTEM, name, f"must be a number or null, got {describe(value)}")
    return float(value)
