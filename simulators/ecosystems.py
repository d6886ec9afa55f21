"""A native event as an off-the-shelf device would publish it (for testers).

``messages(kind, source, fields, battery)`` gives the MQTT messages a
Zigbee2MQTT, ESPHome, Shelly Gen1 or Tasmota device publishes for the native
event ``fields`` of ``kind`` (CONTRACT.md §1); ``availability(source, online)``
its status message. Used by ``eldercare sim event --source JSON`` and
``eldercare sim status --source JSON``. Knows only the ecosystems' topics and
payloads (what the devices send), not the service's adapters.
"""

from __future__ import annotations

import json
from typing import Any

Message = tuple[str, bytes, bool]
"""topic, payload, retain"""

_FALL_Z2M = {"none": "none", "suspected": "maybe_fall", "detected": "fall"}


class NotSupported(ValueError):
    """The ecosystem has no such device (e.g. no Shelly bed band)."""


def _on(value: Any) -> bytes:
    return b"ON" if value else b"OFF"


def _num(value: Any) -> bytes:
    return b"nan" if value is None else f"{float(value):g}".encode()


def messages(
    kind: str, source: dict[str, Any], fields: dict[str, Any], battery: float | None = None
) -> list[Message]:
    kind_type = source["type"]
    if kind_type == "zigbee2mqtt":
        return _zigbee2mqtt(kind, source, fields, battery)
    if kind_type == "esphome":
        return _esphome(kind, source, fields, battery)
    if kind_type == "shelly":
        return _shelly(kind, source, fields, battery)
    if kind_type == "tasmota":
        return _tasmota(kind, source, fields, battery)
    raise NotSupported(f"unknown source type {kind_type!r}")


def availability(source: dict[str, Any], online: bool) -> Message:
    t = source["type"]
    if t == "zigbee2mqtt":
        state = json.dumps({"state": "online" if online else "offline"}).encode()
        return (f"{source['topic']}/availability", state, True)
    if t == "esphome":
        prefix = source.get("topic_prefix") or source["node"]
        return (f"{prefix}/status", b"online" if online else b"offline", True)
    if t == "shelly":
        return (f"shellies/{source['id']}/online", b"true" if online else b"false", True)
    raise NotSupported("a Tasmota bridge has no per-device availability")


def _zigbee2mqtt(
    kind: str, source: dict[str, Any], f: dict[str, Any], battery: float | None
) -> list[Message]:
    state: dict[str, Any] = {"linkquality": 120}
    if battery is not None:
        state["battery"] = battery
    if kind == "door" and "open" in f:
        state["contact"] = not f["open"]
    elif kind == "water" and "leak" in f:
        state["water_leak"] = f["leak"]
    elif kind == "gas" and "alarm" in f:
        state["gas"] = f["alarm"]
    elif kind == "fall_radar":
        if "fall" in f:
            state["fall_down_status"] = _FALL_Z2M[f["fall"]]
        if "presence" in f:
            state["presence"] = f["presence"]
    elif kind == "bed_band":
        for native, name in (("hr", "heart_rate"), ("rr", "breath_rate"), ("in_bed", "presence")):
            if native in f:
                state[name] = f[native]
    topic = source["topic"]
    if kind == "sos_button" and f.get("action") == "press":
        # The press, then Zigbee2MQTT's follow-up that clears the action.
        return [
            (topic, json.dumps({**state, "action": "emergency"}).encode(), False),
            (topic, json.dumps({**state, "action": ""}).encode(), False),
        ]
    return [(topic, json.dumps(state).encode(), False)]


_ESPHOME_OBJECTS = {
    "bed_band": {
        "hr": "sensor/heart_rate",
        "rr": "sensor/breath_rate",
        "in_bed": "binary_sensor/has_target",
    },
    "fall_radar": {"presence": "binary_sensor/people_exist", "fall": "binary_sensor/fall_detected"},
    "water": {"leak": "binary_sensor/water_leak"},
    "door": {"open": "binary_sensor/door"},
    "gas": {"alarm": "binary_sensor/gas", "lel": "sensor/lel"},
}


def _esphome(
    kind: str, source: dict[str, Any], f: dict[str, Any], battery: float | None
) -> list[Message]:
    prefix = source.get("topic_prefix") or source["node"]
    out: list[Message] = []
    if kind == "sos_button":
        if f.get("action") == "press":
            topic = f"{prefix}/binary_sensor/sos/state"
            out += [(topic, b"ON", True), (topic, b"OFF", True)]
    else:
        for name, obj in _ESPHOME_OBJECTS[kind].items():
            if name not in f:
                continue
            value = f[name]
            if name == "fall":
                payload = _on(value == "detected")
            elif isinstance(value, bool):
                payload = _on(value)
            else:
                payload = _num(value)
            out.append((f"{prefix}/{obj}/state", payload, True))
    if battery is not None:
        out.append((f"{prefix}/sensor/battery_level/state", _num(battery), True))
    return out


def _shelly(
    kind: str, source: dict[str, Any], f: dict[str, Any], battery: float | None
) -> list[Message]:
    base = f"shellies/{source['id']}/sensor"
    out: list[Message] = []
    if kind == "water" and "leak" in f:
        out.append((f"{base}/flood", b"true" if f["leak"] else b"false", False))
    elif kind == "gas" and "alarm" in f:
        out.append((f"{base}/gas", b"heavy" if f["alarm"] else b"none", False))
    elif kind == "door" and "open" in f:
        out.append((f"{base}/state", b"open" if f["open"] else b"close", False))
    elif kind not in ("water", "gas", "door"):
        raise NotSupported(f"Shelly Gen1 has no {kind}")
    if battery is not None:
        out.append((f"{base}/battery", _num(battery), False))
    return out


_TASMOTA = {
    "door": ("open", "Contact"),
    "water": ("leak", "Water"),
    "gas": ("alarm", "Gas"),
    "fall_radar": ("presence", "Occupancy"),
    "bed_band": ("in_bed", "Occupancy"),
}


def _tasmota(
    kind: str, source: dict[str, Any], f: dict[str, Any], battery: float | None
) -> list[Message]:
    device = source["device"]
    entry: dict[str, Any] = {"Device": device, "Endpoint": 1, "LinkQuality": 80}
    if battery is not None:
        entry["BatteryPercentage"] = battery
    if kind == "sos_button":
        if f.get("action") == "press":
            on = {**entry, "PersonalAlarm": 1}
            off = {**entry, "PersonalAlarm": 0}
            return [
                (source["topic"], json.dumps({"ZbReceived": {device: on}}).encode(), False),
                (source["topic"], json.dumps({"ZbReceived": {device: off}}).encode(), False),
            ]
    else:
        native, attribute = _TASMOTA[kind]
        if native in f:
            entry[attribute] = 1 if f[native] else 0
    return [(source["topic"], json.dumps({"ZbReceived": {device: entry}}).encode(), False)]
