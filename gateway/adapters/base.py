"""What every adapter shares: its result types and the helpers that refuse a payload.

An adapter is pure: it reads one ecosystem message for the devices its topic
names and says, per device, what the message means in native terms
(CONTRACT.md §1): an :class:`Update` (native fields of the device's kind, maybe
none: then it is a heartbeat) or an :class:`Availability`. What it cannot map
raises ``Rejected(unmappable)`` whose detail starts with the ecosystem and
names the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from eldercare.device_source import AnySource
from eldercare.domain import Device
from gateway.decode import MAX_PAYLOAD, Reason, Rejected

BATTERY_LOW_PCT = 5.0
"""A device that only says ``battery_low: true`` (no percentage) is stored as this."""


@dataclass(frozen=True, slots=True)
class Route:
    """A registered device whose source names the topic of a message."""

    device: Device
    source: AnySource


@dataclass(frozen=True, slots=True)
class Update:
    """Native fields of the device's kind this message gives (empty: a heartbeat)."""

    fields: dict[str, Any] = field(default_factory=dict)
    battery: float | None = None
    latch: bool | None = None
    """ESPHome/Tasmota SOS: the button's raw state (ON = True); a press is raised
    on its rising edge only, so a state seen again is no second press."""


@dataclass(frozen=True, slots=True)
class Availability:
    online: bool


Outcome = Update | Availability


def unmappable(ecosystem: str, name: str, why: str) -> Rejected:
    return Rejected(Reason.UNMAPPABLE, f"{ecosystem}: field {name!r}: {why}")


def describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text_payload(ecosystem: str, payload: bytes) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise Rejected(
            Reason.TOO_LARGE,
            f"{ecosystem}: payload is {len(payload)} bytes, more than the {MAX_PAYLOAD} allowed",
        )
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(
            Reason.BAD_ENCODING, f"{ecosystem}: payload is not UTF-8: byte {exc.start} is invalid"
        ) from exc


def json_object(ecosystem: str, payload: bytes) -> dict[str, Any]:
    text = text_payload(ecosystem, payload)
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Rejected(Reason.BAD_JSON, f"{ecosystem}: payload is not JSON: {exc}") from exc
    if type(body) is not dict:
        raise Rejected(
            Reason.NOT_OBJECT, f"{ecosystem}: payload must be a JSON object, got {describe(body)}"
        )
    return body


def flag(ecosystem: str, name: str, value: Any) -> bool:
    if value is True or value is False:
        return value
    raise unmappable(ecosystem, name, f"must be true or false, got {describe(value)}")


def percent(ecosystem: str, name: str, value: Any) -> float | None:
    """A battery percentage 0-100 (None: the device did not say)."""
    if value is None:
        return None
    if type(value) not in (int, float) or math.isnan(value) or not 0 <= value <= 100:
        raise unmappable(ecosystem, name, f"must be a percentage 0-100, got {describe(value)}")
    return float(value)
