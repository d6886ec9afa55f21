"""ESPHome: ``<prefix>/<component>/<object_id>/state`` plain payloads, ``<prefix>/status``.

The prefix is the node name unless the node sets ``mqtt: topic_prefix`` (then the
source's ``topic_prefix``). Payloads are plain text: ``ON``/``OFF`` for binary
sensors, numbers (``72``, ``72.0``, ``nan``) for sensors. ESPHome retains them
and publishes every state again when it reconnects.

The object id picks the native field: the defaults below per kind (the Seeed
MR60BHA2 and MR60FDA2 kits' component names and the names of their example
configurations), plus the source's ``objects`` (object id → field), which win.
An object id the mapping does not know (Wi-Fi signal, uptime, …) is a heartbeat.
"""

from __future__ import annotations

import math
from typing import Any

from eldercare.device_source import EsphomeSource
from eldercare.domain import DeviceKind
from gateway.adapters.base import (
    Availability,
    Outcome,
    Route,
    Update,
    describe,
    text_payload,
    unmappable,
)
from gateway.decode import Reason, Rejected

ECOSYSTEM = "esphome"

DEFAULT_OBJECTS: dict[DeviceKind, dict[str, str]] = {
    # Seeed MR60BHA2 (esphome.io/components/seeed_mr60bha2): heart_rate, breath_rate,
    # has_target; the kit's example names "Real-time heart rate", "Real-time
    # respiratory rate", "Person Information" give these object ids.
    DeviceKind.BED_BAND: {
        "heart_rate": "hr",
        "real-time_heart_rate": "hr",
        "real_time_heart_rate": "hr",
        "breath_rate": "rr",
        "respiratory_rate": "rr",
        "real-time_respiratory_rate": "rr",
        "real_time_respiratory_rate": "rr",
        "has_target": "in_bed",
        "person_information": "in_bed",
    },
    # Seeed MR60FDA2 (esphome.io/components/seeed_mr60fda2): people_exist,
    # fall_detected; example names "Person Information", "Falling Detected".
    DeviceKind.FALL_RADAR: {
        "people_exist": "presence",
        "person_information": "presence",
        "has_target": "presence",
        "fall_detected": "fall",
        "falling_detected": "fall",
    },
    DeviceKind.WATER: {"water_leak": "leak", "leak": "leak", "flood": "leak", "water": "leak"},
    DeviceKind.DOOR: {"door": "open", "contact": "open", "door_contact": "open", "window": "open"},
    DeviceKind.GAS: {"gas": "alarm", "gas_alarm": "alarm", "gas_leak": "alarm", "lel": "lel"},
    DeviceKind.SOS_BUTTON: {
        "sos": "action",
        "sos_button": "action",
        "emergency": "action",
        "emergency_button": "action",
        "panic_button": "action",
    },
}
COMMON_OBJECTS = {"battery": "battery", "battery_level": "battery"}
_BOOLEAN = frozenset({"in_bed", "presence", "open", "leak", "alarm"})
_NULLABLE = frozenset({"hr", "rr"})
_RANGE = {"hr": (0, 300), "rr": (0, 100), "lel": (0, 100), "movement": (0, 100)}
_FALL_TEXT = frozenset({"none", "suspected", "detected"})


def field_of(kind: DeviceKind, source: EsphomeSource, object_id: str) -> str | None:
    name = source.objects.get(object_id)
    if name is not None:
        return name
    return DEFAULT_OBJECTS[kind].get(object_id) or COMMON_OBJECTS.get(object_id)


def decode(route: Route, part: str, payload: bytes) -> Outcome:
    text = text_payload(ECOSYSTEM, payload).strip()
    if part == "status":
        if text == "online":
            return Availability(True)
        if text == "offline":
            return Availability(False)
        raise Rejected(
            Reason.BAD_STATUS,
            f"{ECOSYSTEM}: status must be online or offline, got {describe(text)}",
        )
    source = route.source
    assert isinstance(source, EsphomeSource)
    _, _, object_id = part.partition("/")
    name = field_of(route.device.kind, source, object_id)
    if name is None:
        return Update()  # a sensor the service does not use: the node is alive
    where = f"{name} (object {object_id})"
    if name == "battery":
        value = _number(where, text)
        if value is None:
            return Update()
        if not 0 <= value <= 100:
            raise unmappable(ECOSYSTEM, where, f"must be a percentage 0-100, got {text!r}")
        return Update(battery=value)
    if name == "action":
        return Update(latch=_on_off(where, text))
    if name == "fall":
        if text.lower() in _FALL_TEXT:
            return Update({"fall": text.lower()})
        return Update({"fall": "detected" if _on_off(where, text) else "none"})
    if name in _BOOLEAN:
        return Update({name: _on_off(where, text)})
    value = _number(where, text)
    if value is None:
        return Update({name: None}) if name in _NULLABLE else Update()
    lo, hi = _RANGE.get(name, (-math.inf, math.inf))
    if not lo <= value <= hi:
        raise unmappable(ECOSYSTEM, where, f"must be between {lo:g} and {hi:g}, got {text!r}")
    return Update({name: value})


def _on_off(where: str, text: str) -> bool:
    if text == "ON":
        return True
    if text == "OFF":
        return False
    raise unmappable(ECOSYSTEM, where, f"a binary sensor state must be ON or OFF, got {text!r}")


def _number(where: str, text: str) -> float | None:
    """A sensor state; ``nan`` (no value yet, ESPHome's "unknown") is None."""
    try:
        value: Any = float(text)
    except ValueError:
        raise unmappable(ECOSYSTEM, where, f"must be a number or nan, got {text[:60]!r}") from None
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise unmappable(ECOSYSTEM, where, f"must be a finite number, got {text!r}")
    return float(value)
