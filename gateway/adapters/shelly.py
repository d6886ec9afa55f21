"""Shelly Gen1: ``shellies/<id>/sensor/<name>`` plain payloads, ``shellies/<id>/online``.

- water (Shelly Flood): ``sensor/flood`` ``true``/``false`` → leak
- gas (Shelly Gas): ``sensor/gas`` ``none`` → alarm false; ``mild``/``heavy`` →
  alarm true; ``test`` (the self-test sounding) and ``unknown`` (warming up) are
  heartbeats, never an alarm
- door (Shelly Door/Window 1/2): ``sensor/state`` ``open``/``close`` → open
- every kind: ``sensor/battery`` (%) → battery
- ``online``: ``true``/``false`` (the device's last will)

Other sensors (temperature, lux, tilt, vibration, concentration, operation,
self_test, error, act_reasons …) are heartbeats.
"""

from __future__ import annotations

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

ECOSYSTEM = "shelly"
GAS_STATES = {"none": False, "mild": True, "heavy": True}
GAS_QUIET = frozenset({"test", "unknown"})


def decode(route: Route, part: str, payload: bytes) -> Outcome:
    text = text_payload(ECOSYSTEM, payload).strip()
    if part == "online":
        if text == "true":
            return Availability(True)
        if text == "false":
            return Availability(False)
        raise Rejected(
            Reason.BAD_STATUS, f"{ECOSYSTEM}: online must be true or false, got {describe(text)}"
        )
    kind = route.device.kind
    name = part
    if name == "battery":
        try:
            value = float(text)
        except ValueError:
            raise unmappable(
                ECOSYSTEM, "sensor/battery", f"must be a number, got {text!r}"
            ) from None
        if not 0 <= value <= 100:
            raise unmappable(ECOSYSTEM, "sensor/battery", f"must be 0-100, got {text!r}")
        return Update(battery=value)
    if kind is DeviceKind.WATER and name == "flood":
        if text in ("true", "false"):
            return Update({"leak": text == "true"})
        raise unmappable(ECOSYSTEM, "sensor/flood", f"must be true or false, got {describe(text)}")
    if kind is DeviceKind.GAS and name == "gas":
        if text in GAS_QUIET:
            return Update()  # a self-test or warm-up: not an alarm
        if text in GAS_STATES:
            return Update({"alarm": GAS_STATES[text]})
        raise unmappable(
            ECOSYSTEM,
            "sensor/gas",
            f"must be none, mild, heavy, test or unknown, got {describe(text)}",
        )
    if kind is DeviceKind.DOOR and name == "state":
        if text in ("open", "close"):
            return Update({"open": text == "open"})
        raise unmappable(ECOSYSTEM, "sensor/state", f"must be open or close, got {describe(text)}")
    return Update()
