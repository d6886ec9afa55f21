"""Native event payloads (CONTRACT.md §1) for each of the six device kinds.

Pure functions returning dicts; the publisher adds ``ts`` and ``seq``.
"""

from __future__ import annotations

from typing import Any

from eldercare.domain import DeviceKind


def bed_band(
    hr: float | None = 62, rr: float | None = 14, in_bed: bool = True, movement: float | None = 5
) -> dict[str, Any]:
    doc: dict[str, Any] = {"hr": hr, "rr": rr, "in_bed": in_bed}
    if movement is not None:
        doc["movement"] = movement
    return doc


def sos_press() -> dict[str, Any]:
    return {"action": "press"}


def sos_cancel() -> dict[str, Any]:
    return {"action": "cancel"}


def door(open_: bool) -> dict[str, Any]:
    return {"open": open_}


def fall_radar(
    presence: bool = True, fall: str = "none", posture: str | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {"presence": presence, "fall": fall}
    if posture is not None:
        doc["posture"] = posture
    return doc


def gas(lel: float | None = 0, alarm: bool | None = False) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if lel is not None:
        doc["lel"] = lel
    if alarm is not None:
        doc["alarm"] = alarm
    return doc


def water(leak: bool) -> dict[str, Any]:
    return {"leak": leak}


NORMAL: dict[DeviceKind, dict[str, Any]] = {
    DeviceKind.BED_BAND: bed_band(),
    DeviceKind.SOS_BUTTON: {},
    DeviceKind.DOOR: door(False),
    DeviceKind.FALL_RADAR: fall_radar(),
    DeviceKind.GAS: gas(),
    DeviceKind.WATER: water(False),
}
"""An ordinary reading of each kind (the SOS button only sends heartbeats)."""
